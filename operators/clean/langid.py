"""Language identification of documents (``ingest.lang_from=detect``): CLD2 → ISO 639-3 ``lang`` and a score.

The model is Google's CLD2 as compiled into the ``pycld2`` wheel (its tables are part of the extension module), so
nothing is downloaded at run time. It was chosen over py3langid, lingua and fastText's lid.176.ftz by
``benchmarks/langid.py`` on UDHR (languages known from the file names; ``benchmarks/results/langid.txt``): it can
name the most UDHR languages (158 of 354, counting macrolanguages; py3langid 124, fastText 129, lingua 75), gets
the most UDHR lines and files right overall, is within a few points of the best on the languages each model knows,
and is the fastest of the four.

Per document the operator sets

- ``lang``: the ISO 639-3 code of the language CLD2 finds most of (macrolanguage codes where CLD2's label is one:
  ``ara``, ``zho``, ``fas``, ``msa``, ...; :func:`same_language` compares such a code with an individual one), or
  null when CLD2 finds none;
- ``meta.lang_score``: the share of the text (in bytes, 0..1) CLD2 assigned to that language;
- ``script``: the dominant script of the letters when no earlier stage filled it.

CLD2 runs in best-effort mode, so short text (a heading, a one-line sentence) gets a guess rather than "unknown";
``lang_score`` does not say how sure that guess is, only how much of the text it covers. With any other
``lang_from`` the operator hands its batches on untouched.
"""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pyarrow.compute as pc
import pycld2

from tokenmill.operators.clean.text_normalize import dominant_script
from tokenmill.operators.core.ingest_config import IngestConfig

log = logging.getLogger(__name__)

STAGE = "langid"
# Longest prefix (in characters) handed to CLD2: bounds the cost of a 16 MiB document; the first 64 Ki characters
# name a document's language as well as all of it does.
MAX_CHARS = 1 << 16

# CLD2's language codes (pycld2.LANGUAGES, for the 165 languages in pycld2.DETECTED_LANGUAGES) → ISO 639-3. CLD2 uses
# ISO 639-1 where there is one, a few retired codes (iw, jw) and private ones (xx-Bugi, zzp = Pig Latin, unmapped).
CLD2_TO_ISO639_3: dict[str, str] = {
    "aa": "aar",
    "ab": "abk",
    "af": "afr",
    "ak": "aka",
    "am": "amh",
    "ar": "ara",
    "as": "asm",
    "ay": "aym",
    "az": "aze",
    "ba": "bak",
    "be": "bel",
    "bg": "bul",
    "bh": "bih",
    "bi": "bis",
    "bn": "ben",
    "bo": "bod",
    "br": "bre",
    "bs": "bos",
    "ca": "cat",
    "ceb": "ceb",
    "chr": "chr",
    "co": "cos",
    "crs": "crs",
    "cs": "ces",
    "cy": "cym",
    "da": "dan",
    "de": "deu",
    "dv": "div",
    "dz": "dzo",
    "el": "ell",
    "en": "eng",
    "eo": "epo",
    "es": "spa",
    "et": "est",
    "eu": "eus",
    "fa": "fas",
    "fi": "fin",
    "fj": "fij",
    "fo": "fao",
    "fr": "fra",
    "fy": "fry",
    "ga": "gle",
    "gd": "gla",
    "gl": "glg",
    "gn": "grn",
    "gu": "guj",
    "gv": "glv",
    "ha": "hau",
    "haw": "haw",
    "hi": "hin",
    "hmn": "hmn",
    "hr": "hrv",
    "ht": "hat",
    "hu": "hun",
    "hy": "hye",
    "ia": "ina",
    "id": "ind",
    "ie": "ile",
    "ig": "ibo",
    "ik": "ipk",
    "is": "isl",
    "it": "ita",
    "iu": "iku",
    "iw": "heb",
    "ja": "jpn",
    "jw": "jav",
    "ka": "kat",
    "kha": "kha",
    "kk": "kaz",
    "kl": "kal",
    "km": "khm",
    "kn": "kan",
    "ko": "kor",
    "ks": "kas",
    "ku": "kur",
    "ky": "kir",
    "la": "lat",
    "lb": "ltz",
    "lg": "lug",
    "lif": "lif",
    "ln": "lin",
    "lo": "lao",
    "lt": "lit",
    "lv": "lav",
    "mfe": "mfe",
    "mg": "mlg",
    "mi": "mri",
    "mk": "mkd",
    "ml": "mal",
    "mn": "mon",
    "mr": "mar",
    "ms": "msa",
    "mt": "mlt",
    "my": "mya",
    "na": "nau",
    "ne": "nep",
    "nl": "nld",
    "nn": "nno",
    "no": "nor",
    "nr": "nbl",
    "nso": "nso",
    "ny": "nya",
    "oc": "oci",
    "om": "orm",
    "or": "ori",
    "pa": "pan",
    "pl": "pol",
    "ps": "pus",
    "pt": "por",
    "qu": "que",
    "rm": "roh",
    "rn": "run",
    "ro": "ron",
    "ru": "rus",
    "rw": "kin",
    "sa": "san",
    "sco": "sco",
    "sd": "snd",
    "sg": "sag",
    "si": "sin",
    "sk": "slk",
    "sl": "slv",
    "sm": "smo",
    "sn": "sna",
    "so": "som",
    "sq": "sqi",
    "sr": "srp",
    "ss": "ssw",
    "st": "sot",
    "su": "sun",
    "sv": "swe",
    "sw": "swa",
    "syr": "syr",
    "ta": "tam",
    "te": "tel",
    "tg": "tgk",
    "th": "tha",
    "ti": "tir",
    "tk": "tuk",
    "tl": "tgl",
    "tlh": "tlh",
    "tn": "tsn",
    "to": "ton",
    "tr": "tur",
    "ts": "tso",
    "tt": "tat",
    "ug": "uig",
    "uk": "ukr",
    "ur": "urd",
    "uz": "uzb",
    "ve": "ven",
    "vi": "vie",
    "vo": "vol",
    "war": "war",
    "wo": "wol",
    "xh": "xho",
    "xx-Bugi": "bug",
    "xx-Goth": "got",
    "yi": "yid",
    "yo": "yor",
    "za": "zha",
    "zh": "zho",
    "zh-Hant": "zho",
    "zu": "zul",
}
"""``bh`` (Bihari) becomes ``bih``, the ISO 639-2/5 collective code: ISO 639-3 has no single code for it."""

# Individual ISO 639-3 languages (those UDHR's file names use) → the macrolanguage CLD2 reports for them (from the
# ISO 639-3 macrolanguage mappings). Used to compare a detected ``lang`` with a known one, never to change ``lang``.
MACROLANGUAGE: dict[str, str] = {
    "aii": "syr",
    "als": "sqi",
    "arb": "ara",
    "ayr": "aym",
    "azj": "aze",
    "blu": "hmn",
    "ccx": "zha",
    "ckb": "kur",
    "cmn": "zho",
    "gax": "orm",
    "gug": "grn",
    "hea": "hmn",
    "hms": "hmn",
    "ike": "iku",
    "khk": "mon",
    "min": "msa",
    "mly": "msa",
    "nob": "nor",
    "pbu": "pus",
    "pes": "fas",
    "plt": "mlg",
    "qud": "que",
    "qug": "que",
    "quy": "que",
    "quz": "que",
    "qva": "que",
    "qvc": "que",
    "qvh": "que",
    "qvm": "que",
    "qvn": "que",
    "qwh": "que",
    "qxa": "que",
    "qxn": "que",
    "qxu": "que",
    "swh": "swa",
    "uzn": "uzb",
    "ydd": "yid",
    "zsm": "msa",
    "ekk": "est",
    "lvs": "lav",
    "npi": "nep",
    "yue": "zho",
    "wuu": "zho",
}

DETECTABLE: frozenset[str] = frozenset(CLD2_TO_ISO639_3.values())
"""Every ``lang`` the operator can emit."""


def same_language(detected: str | None, expected: str) -> bool:
    """Whether ``detected`` names ``expected`` (ISO 639-3), or the macrolanguage ``expected`` belongs to."""
    return detected is not None and detected in (expected, MACROLANGUAGE.get(expected))


def detectable(lang: str) -> bool:
    """Whether the model can name ``lang`` (itself or its macrolanguage)."""
    return lang in DETECTABLE or MACROLANGUAGE.get(lang) in DETECTABLE


def detect_language(text: str) -> tuple[str | None, float | None]:
    """The ISO 639-3 language of ``text`` and the share of the text in it, or (None, None) when CLD2 names none."""
    sample = text[:MAX_CHARS]
    try:
        _, _, details = pycld2.detect(sample, bestEffort=True)
    except pycld2.error:
        # CLD2 refuses some code points (C1 controls, noncharacters) as "invalid UTF-8": keep the printable rest.
        cleaned = "".join(ch for ch in sample if ch.isprintable() or ch in "\t\n\r")
        try:
            _, _, details = pycld2.detect(cleaned, bestEffort=True)
        except pycld2.error:
            return None, None
    _, code, percent, _ = details[0]
    lang = CLD2_TO_ISO639_3.get(code)
    return (lang, percent / 100.0) if lang else (None, None)


class LanguageIdentifier:
    """DOCUMENTS (+ reject columns) → the same rows with ``lang``, ``meta.lang_score`` and ``script`` filled.

    Rows already rejected pass through untouched; a document CLD2 cannot place keeps ``lang`` null (it is still a
    document: an unknown language is no reason to quarantine it). ``undetected`` counts those.
    """

    STAGE = STAGE
    NEEDS = ("text", "lang", "script", "meta", "_reject_reason")
    ADDS = ("lang", "script")

    def __init__(self, cfg: IngestConfig) -> None:
        self.enabled = cfg.lang_from == "detect"
        self.detected = self.undetected = 0

    def __call__(self, batch: pa.Table) -> pa.Table:
        if not self.enabled or batch.num_rows == 0:
            return batch
        texts = batch["text"].to_pylist()
        langs, scripts, metas = batch["lang"].to_pylist(), batch["script"].to_pylist(), batch["meta"].to_pylist()
        rejected = pc.is_valid(batch["_reject_reason"]).to_pylist()
        for i, text in enumerate(texts):
            if rejected[i]:
                continue
            lang, score = detect_language(text)
            langs[i] = lang
            if lang is None:
                self.undetected += 1
            else:
                self.detected += 1
            if scripts[i] is None:
                scripts[i] = dominant_script(text)
            metas[i] = _with_score(metas[i], score)
        for name, values in (("lang", langs), ("script", scripts), ("meta", metas)):
            idx = batch.schema.get_field_index(name)
            batch = batch.set_column(idx, batch.schema.field(idx), pa.array(values, pa.string()))
        return batch


def _with_score(meta: str | None, score: float | None) -> str:
    """``meta`` (a JSON object or null) with ``lang_score`` set; the readers' serialization, so other keys keep their bytes."""
    fields = json.loads(meta) if meta else {}
    if not isinstance(fields, dict):  # documents/v1 says meta is an object; keep a stray value rather than lose it
        fields = {"meta": fields}
    fields["lang_score"] = None if score is None else round(score, 4)
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)
