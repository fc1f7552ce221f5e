"""Derive an HF ``tokenizer.json`` from a sentencepiece BPE ``.model``, so a fast tokenizer.json engine can encode it.

sentencepiece's BPE encoder starts from the characters of the normalized text and repeatedly merges the adjacent
pair whose concatenation is the highest-scoring piece of the vocabulary (the leftmost pair on ties); characters left
outside the vocabulary become their UTF-8 byte pieces (``byte_fallback``) or one ``<unk>`` per run. HF tokenizers'
BPE merges the adjacent pair of lowest *rank* (the leftmost on ties). So the derived model lists, for every normal
piece ``p`` and every split ``p = l + r`` with ``l`` and ``r`` normal pieces, the merge ``(l, r)`` ranked by
``p``'s score (highest first), then longer ``l`` first: where equal scores compete (Mistral's whitespace runs all
score -1e9) that grows the leftmost run first, as sentencepiece does. :func:`reference_encode` is the same algorithm
in plain Python, to read and to test against.

Supported: ``model_type: BPE``; the identity normalizer or a compiled one (``nmt_nfkc`` etc., as HF's
``Precompiled`` normalizer); ``add_dummy_prefix``, ``remove_extra_whitespaces``, ``escape_whitespaces``;
``byte_fallback`` on or off; control pieces (``<s>``, ``</s>``: text that spells them stays text, as in
sentencepiece; ``<s>`` first when special tokens are asked for). fastokens 0.3.5 cannot load ``Precompiled``, so
models with a compiled normalizer stay on sentencepiece (HF tokenizers loads them, but its charsmap differs from
sentencepiece's on some Bengali and combining-mark text). Refused, with the reason (:class:`ValueError`): unigram,
word and char models (a unigram model picks the segmentation of highest total score, which no merge list
reproduces), ``treat_whitespace_as_suffix``, unused pieces (sentencepiece re-splits them after merging),
user-defined pieces (sentencepiece matches them after adding the dummy prefix; HF's added tokens split the text
before it), a named normalizer without its compiled rules.

The derivation is a *candidate*: :func:`operators.encode.load_engine` uses it only when its ids equal
sentencepiece's own on the parity set, and workers keep comparing against sentencepiece. That matters beyond the
derivation: fastokens 0.3.5 (unlike HF tokenizers) encodes text spelling ``</s>`` as the control piece when ``<`` and
``>`` are not in the vocabulary (a small model with byte fallback); the parity set spells control pieces and catches it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

# sentencepiece_model.proto: ModelProto.SentencePiece.Type and TrainerSpec.ModelType
_NORMAL, _USER_DEFINED, _UNUSED, _BYTE = 1, 4, 5, 6
_MODEL_TYPES = {1: "unigram", 2: "BPE", 3: "word", 4: "char"}
_SPACE = "\u2581"  # sentencepiece's visible space, "▁"


def parse_model(blob: bytes) -> Any:
    """The ``ModelProto`` of a sentencepiece model's bytes.

    Raises:
        ValueError: the bytes are not a sentencepiece model.
    """
    from google.protobuf.message import DecodeError
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    proto = model_pb2.ModelProto()  # type: ignore[attr-defined]  # protobuf-generated module, no stubs for its classes
    try:
        proto.ParseFromString(blob)
    except DecodeError as exc:
        raise ValueError(f"not a sentencepiece model: {exc}") from None
    if not proto.pieces:
        raise ValueError("not a sentencepiece model: it has no pieces")
    return proto


def _check_supported(proto: Any) -> None:
    """Raise ValueError naming the first feature of ``proto`` the derivation cannot reproduce."""
    trainer, norm = proto.trainer_spec, proto.normalizer_spec
    kind = _MODEL_TYPES.get(trainer.model_type, str(trainer.model_type))
    if kind != "BPE":
        raise ValueError(f"a sentencepiece {kind} model: only BPE models have an equivalent merge list")
    if trainer.treat_whitespace_as_suffix:
        raise ValueError("treat_whitespace_as_suffix is not supported")
    if any(p.type == _UNUSED for p in proto.pieces):
        raise ValueError("the model has unused pieces (sentencepiece re-splits them after merging)")
    if any(p.type == _USER_DEFINED for p in proto.pieces):
        raise ValueError("user-defined pieces are not supported (HF added tokens would split the text before the dummy prefix)")
    if norm.name not in ("", "identity") and not norm.precompiled_charsmap:
        raise ValueError(f"normalizer {norm.name!r} has no compiled rules in the model")


def _merges(proto: Any) -> list[list[str]]:
    """Every split ``l + r`` of every normal piece into two normal pieces, best piece score first, longer ``l`` first."""
    normal = {p.piece for p in proto.pieces if p.type == _NORMAL}
    ranked = []
    for i, p in enumerate(proto.pieces):
        if p.type != _NORMAL:
            continue
        s = p.piece
        for k in range(1, len(s)):
            if s[:k] in normal and s[k:] in normal:
                ranked.append((-p.score, -k, i, s[:k], s[k:]))
    ranked.sort()
    return [[left, right] for *_, left, right in ranked]


def _normalizers(norm: Any) -> list[dict[str, Any]]:
    """HF normalizers doing what sentencepiece's normalizer does, in its order."""
    steps: list[dict[str, Any]] = []
    if norm.precompiled_charsmap:
        steps.append({"type": "Precompiled", "precompiled_charsmap": base64.b64encode(norm.precompiled_charsmap).decode()})
    if norm.remove_extra_whitespaces:  # sentencepiece drops leading and trailing spaces and squeezes runs to one
        steps += [
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Replace", "pattern": {"Regex": r"\A | \z"}, "content": ""},
        ]
    if norm.add_dummy_prefix:  # HF's Prepend leaves empty text empty, as sentencepiece does
        steps.append({"type": "Prepend", "prepend": _SPACE if norm.escape_whitespaces else " "})
    if norm.escape_whitespaces:
        steps.append({"type": "Replace", "pattern": {"String": " "}, "content": _SPACE})
    return steps


def derive_tokenizer_json(blob: bytes) -> str:
    """A tokenizer.json (as a string) that encodes like the sentencepiece BPE model ``blob``.

    Raises:
        ValueError: the model is not sentencepiece, or uses a feature listed as refused in the module docstring
            (the message says which).
    """
    proto = parse_model(blob)
    _check_supported(proto)
    trainer, norm = proto.trainer_spec, proto.normalizer_spec
    pieces = proto.pieces
    vocab = {p.piece: i for i, p in enumerate(pieces)}
    if len(vocab) != len(pieces):
        raise ValueError("the model has duplicate pieces")
    normalizers = _normalizers(norm)
    post = None
    bos = trainer.bos_id
    if 0 <= bos < len(pieces):
        token = pieces[bos].piece
        seq = [{"SpecialToken": {"id": token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]
        post = {
            "type": "TemplateProcessing",
            "single": seq,
            "pair": [*seq, {"SpecialToken": {"id": token, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {token: {"id": token, "ids": [bos], "tokens": [token]}},
        }
    unk = trainer.unk_id
    spec: dict[str, Any] = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],  # control pieces such as <s> are text when spelled, as in sentencepiece
        "normalizer": {"type": "Sequence", "normalizers": normalizers} if normalizers else None,
        "pre_tokenizer": None,
        "post_processor": post,
        "decoder": None,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": pieces[unk].piece if 0 <= unk < len(pieces) else None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,  # sentencepiece emits one <unk> per run of unknown characters
            "byte_fallback": bool(trainer.byte_fallback),
            "ignore_merges": False,
            "vocab": vocab,
            "merges": _merges(proto),
        },
    }
    return json.dumps(spec, ensure_ascii=False)


def reference_encode(proto: Any, text: str) -> list[int]:
    """sentencepiece's BPE encoding of ``text``, in plain Python (identity normalizer, spaces kept): the
    algorithm the derived merge list reproduces. Quadratic in the length of ``text``; for tests and reading.

    Raises:
        ValueError: the model needs a feature this reference leaves out.
    """
    _check_supported(proto)
    norm, trainer = proto.normalizer_spec, proto.trainer_spec
    if norm.precompiled_charsmap or norm.remove_extra_whitespaces:
        raise ValueError("reference_encode covers the identity normalizer only")
    pieces = {p.piece: (i, p.score) for i, p in enumerate(proto.pieces) if p.type == _NORMAL}
    if not text:
        return []
    if norm.add_dummy_prefix:
        text = " " + text
    if norm.escape_whitespaces:
        text = text.replace(" ", _SPACE)
    symbols = list(text)
    while True:
        best = None  # (score, position): the highest score wins, then the leftmost position
        for k in range(len(symbols) - 1):
            hit = pieces.get(symbols[k] + symbols[k + 1])
            if hit is not None and (best is None or hit[1] > best[0]):
                best = (hit[1], k)
        if best is None:
            break
        k = best[1]
        symbols[k : k + 2] = [symbols[k] + symbols[k + 1]]
    byte_ids = {p.piece: i for i, p in enumerate(proto.pieces) if p.type == _BYTE}
    ids: list[int] = []
    previous_unknown = False
    for s in symbols:
        if s in pieces:
            ids.append(pieces[s][0])
        elif trainer.byte_fallback:
            ids += [byte_ids[f"<0x{b:02X}>"] for b in s.encode()]
        elif not previous_unknown:  # one <unk> for a run of unknown symbols
            ids.append(trainer.unk_id)
        previous_unknown = s not in pieces
    return ids


__all__ = ["derive_tokenizer_json", "parse_model", "reference_encode"]
