"""Benchmark: the tokenmill Romanizer vs uroman (cache 65536 / no cache) vs uroman-fast, per line, on UDHR.

Inputs: every UDHR file whose letters are mostly not Latin (one document per file, lang = file stem before '_'),
and one mixed-script file built by interleaving lines of several scripts (lang unknown, as for a real mixed file).
Each system starts cold in every round (a fresh instance, so no cache is warmed on the lines it is timed on);
two rounds in alternating order, the faster round counts; table loading is not timed (reported apart).
Times are CPU seconds of this single-threaded process (wall seconds are printed too): the machine is shared.
Exactness: every line is compared with ``uroman.Uroman().romanize_string(line, lcode=lang)``.

    python benchmarks/romanize.py [--udhr ../shared/data/text/udhr] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import uroman

from tokenmill.operators.romanize import Romanizer, RomanizerConfig
from tokenmill.operators.romanize.engine import PATH_STATS

ROOT = Path(__file__).resolve().parents[1]

MIXED_FROM = ["rus", "arb", "hin", "cmn_hans", "jpn", "tha", "kor", "amh", "heb", "ell_monotonic", "bod", "kat", "tam", "deu"]
Doc = tuple[str, str | None, list[str]]  # (name, lang, lines)


class Clock:
    """CPU seconds of this process (the measure: the machine is shared) and wall seconds."""

    def __enter__(self) -> Clock:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall


def load_inputs(udhr: Path, u: uroman.Uroman) -> dict[str, list[Doc]]:
    """{'nonlatin': one doc per non-Latin UDHR file, 'mixed': one doc interleaving lines of MIXED_FROM}."""
    files = {p.stem: p.read_text(encoding="utf-8").split("\n") for p in sorted(udhr.glob("*.txt"))}
    nonlatin: list[Doc] = []
    for stem, lines in files.items():
        letters = [c for line in lines for c in line if c.isalpha()]
        latin = sum(u.dict_str.get(("script", c), "") == "Latin" for c in letters)
        if letters and latin < 0.5 * len(letters):
            nonlatin.append((stem, stem.split("_")[0], lines))
    sources = [files[s] for s in MIXED_FROM]
    mixed = [src[i] for i in range(max(map(len, sources))) for src in sources if i < len(src)]
    return {"nonlatin": nonlatin, "mixed": [("mixed", None, mixed)]}


def run_ours(docs: list[Doc]) -> tuple[Clock, list[list[str]], dict, float]:
    with Clock() as setup:
        op = Romanizer(RomanizerConfig())
    table = pa.table({"text": ["\n".join(lines) for _, _, lines in docs], "lang": [lang for _, lang, _ in docs]})
    with Clock() as clock:
        out = op(table).column("text_roman").to_pylist()
    return clock, [doc.split("\n") for doc in out], op.stats(), setup.wall


def run_uroman(docs: list[Doc], cache_size: int) -> tuple[Clock, list[list[str]], dict, float]:
    with Clock() as setup:
        u = uroman.Uroman(cache_size=cache_size) if cache_size else uroman.Uroman()
    with Clock() as clock:
        out = [[u.romanize_string(line, lcode=lang) for line in lines] for _, lang, lines in docs]
    return clock, out, {}, setup.wall


def run_uroman_fast(docs: list[Doc]) -> tuple[Clock, list[list[str | None]], dict, float]:
    """uroman-rs; a line it panics on is None."""
    from uroman_fast import romanize

    def one(line: str, lang: str | None) -> str | None:
        try:
            return romanize(line, lang=lang)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # a Rust panic; counted as a differing line
            return None

    with Clock() as setup:
        romanize("warm-up", lang=None)  # uroman-rs loads its tables on the first call: set-up, not per-line work
    with Clock() as clock:
        out = [[one(line, lang) for line in lines] for _, lang, lines in docs]
    return clock, out, {}, setup.wall


SYSTEMS = {
    "tokenmill": run_ours,
    "uroman_cache65536": lambda docs: run_uroman(docs, 65536),
    "uroman_nocache": lambda docs: run_uroman(docs, 0),
    "uroman_fast": run_uroman_fast,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--udhr", default=str(ROOT.parent / "shared" / "data" / "text" / "udhr"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    inputs = load_inputs(Path(args.udhr), uroman.Uroman())
    rows = []
    for set_name, docs in inputs.items():
        n_chars = sum(len(line) for _, _, lines in docs for line in lines)
        n_lines = sum(len(lines) for _, _, lines in docs)
        best: dict[str, tuple] = {}
        for rnd in range(args.rounds):
            order = list(SYSTEMS) if rnd % 2 == 0 else list(reversed(SYSTEMS))
            for name in order:
                result = SYSTEMS[name](docs)
                if name not in best or result[0].cpu < best[name][0].cpu:
                    best[name] = result
        reference = best["uroman_nocache"][1]

        def differing(out: list[list[str | None]]) -> int:
            return sum(a != b for got, want in zip(out, reference) for a, b in zip(got, want))

        ours, ours_out, ours_stats, ours_setup = best["tokenmill"]
        for peer in ("uroman_cache65536", "uroman_nocache", "uroman_fast"):
            theirs, peer_out, _, peer_setup = best[peer]
            row = {
                "bench": f"romanize_{set_name}",
                "files": len(docs),
                "lines": n_lines,
                "chars": n_chars,
                "ours_s": round(ours.cpu, 3),
                "ours_chars_per_s": round(n_chars / ours.cpu),
                "peer": peer,
                "peer_s": round(theirs.cpu, 3),
                "peer_chars_per_s": round(n_chars / theirs.cpu),
                "ratio": round(ours.cpu / theirs.cpu, 4),
                "speedup": round(theirs.cpu / ours.cpu, 2),
                "clock": "process CPU seconds, best of rounds",
                "ours_wall_s": round(ours.wall, 3),
                "peer_wall_s": round(theirs.wall, 3),
                "ours_setup_s": round(ours_setup, 2),
                "peer_setup_s": round(peer_setup, 2),
                "quality": {
                    "ours_diff_lines": differing(ours_out),
                    "peer_diff_lines": differing(peer_out),
                    "ours_paths": {k: v for k, v in ours_stats.items() if k in PATH_STATS},
                },
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "load1": round(os.getloadavg()[0], 2),
            }
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    print()
    print(f"{'input':<18}{'peer':<20}{'ours chars/s':>14}{'peer chars/s':>14}{'speedup':>9}{'ours diff':>11}{'peer diff':>11}")
    for r in rows:
        print(
            f"{r['bench']:<18}{r['peer']:<20}{r['ours_chars_per_s']:>14,}{r['peer_chars_per_s']:>14,}"
            f"{r['speedup']:>8.2f}x{r['quality']['ours_diff_lines']:>11}{r['quality']['peer_diff_lines']:>11}"
        )
    print("chars/s on process CPU time (shared machine), best of rounds, each system cold in every round")
    print("target (issue 16): ours >= 1,000,000 chars/s/core on romanize_nonlatin (2,000,000 stretch) with 0 differing lines; reference = uroman_nocache")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
