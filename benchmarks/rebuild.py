"""Incremental rebuilds: clean build vs no-change rebuild vs add-one-file rebuild of the README's corpus.

All of ../shared/data/text/udhr (one language held back, then added) and ../shared/data/code at weight 0.5,
BERT's tokenizer, context 2048. Each build runs as `python pipelines/build_corpus.py` in a fresh process (what a
scheduler does), timed end to end. Prints JSON lines (ratio = rebuild / clean) and a table.

    python benchmarks/rebuild.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HELD_BACK = "zul.txt"


def run_build(config: Path) -> tuple[float, dict, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "pipelines/build_corpus.py"), "--config", str(config), "--quiet"], capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    out = Path(yaml.safe_load(config.read_text())["output"])
    current = (out / "builds/CURRENT.id").read_text().strip()  # CURRENT itself is a symlink to that folder
    return seconds, json.loads((out / "builds" / current / "build.json").read_text()), proc.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tm-bench-rebuild-") as tmp:
        udhr = Path(tmp) / "udhr"
        udhr.mkdir()
        for f in sorted((DATA / "text/udhr").glob("*.txt")):
            if f.name != HELD_BACK:
                shutil.copyfile(f, udhr / f.name)
        config = Path(tmp) / "corpus.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "output": str(Path(tmp) / "out"),
                    "sources": [
                        {"name": "udhr", "input": [str(udhr / "*.txt")], "ingest": {"format": "text", "lang_from": "filename"}},
                        {"name": "code", "input": [str(DATA / "code/**/*.py")], "ingest": {"format": "text", "doc_per": "file"}, "weight": 0.5},
                    ],
                    "tokenizer": {"path": str(DATA / "tokenizers/bert-base-uncased/tokenizer.json")},
                    "shards": {"pack": {"context_length": 2048}},
                }
            )
        )
        clean_s, clean, _ = run_build(config)
        same_s, same, same_out = run_build(config)
        shutil.copyfile(DATA / "text/udhr" / HELD_BACK, udhr / HELD_BACK)
        add_s, added, _ = run_build(config)
    lines = [
        {
            "bench": "rebuild",
            "case": "clean",
            "ours_s": round(clean_s, 2),
            "partitions": clean["cache"]["partitions"],
            "recomputed": clean["cache"]["misses"],
            "ratio": 1.0,
        },
        {
            "bench": "rebuild",
            "case": "no_change",
            "ours_s": round(same_s, 2),
            "partitions": clean["cache"]["partitions"],
            "recomputed": 0 if "up to date" in same_out else same["cache"]["misses"],
            "peer": "clean_build",
            "peer_s": round(clean_s, 2),
            "ratio": round(same_s / clean_s, 3),
            "up_to_date": "up to date" in same_out,
        },
        {
            "bench": "rebuild",
            "case": "add_one_file",
            "ours_s": round(add_s, 2),
            "partitions": added["cache"]["partitions"],
            "recomputed": added["cache"]["misses"],
            "peer": "clean_build",
            "peer_s": round(clean_s, 2),
            "ratio": round(add_s / clean_s, 3),
            "documents_added": added["diff"]["documents_added"],
        },
    ]
    for line in lines:
        print(json.dumps(line))
    print(f"\n{'case':<14}{'seconds':>9}{'recomputed':>12}{'of':>6}{'vs clean':>10}")
    for line in lines:
        print(f"{line['case']:<14}{line['ours_s']:>9.2f}{line['recomputed']:>12}{line['partitions']:>6}{line['ratio']:>10.3f}")


if __name__ == "__main__":
    main()
