"""Ingestion throughput: the tokenmill pipeline on an embedded Ray vs a plain single-process Python loop.

Both read all of ../shared/data (UDHR text, code, genomes), validate (UTF-8, NFC, control characters, empty
documents, script; FASTA segmenting), and write zstd Parquet. The loop calls the same reader/normalizer code
one file after another in one process; the pipeline runs it as Ray Data tasks over the machine's cores.
Each contender runs in a fresh subprocess; peak memory is the peak summed RSS of its process tree
(driver + Ray workers + raylet/GCS for the pipeline). Prints JSON lines, then a table.

    python benchmarks/ingest.py [--repeat 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _tree import run_measured

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def corpus(tmp: Path, repeat: int) -> list[str]:
    """All of ../shared/data's text, code and genomes, copied ``repeat`` times under distinct names."""
    files = sorted(DATA.glob("text/udhr/*.txt")) + sorted(DATA.glob("code/**/*.py")) + sorted(DATA.glob("dna/*.f*a"))
    out = []
    for r in range(repeat):
        d = tmp / f"copy{r}"
        d.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            suffix = ".txt" if f.suffix == ".py" else f.suffix
            target = d / f"{i:04d}_{f.stem}{suffix}"
            shutil.copyfile(f, target)
            out.append(str(target))
    return out


def run_loop(files: list[str], out: str) -> None:
    """The peer: one process, one file after another, same parsing and validation code, Parquet out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tokenmill.operators.clean import TextNormalizer
    from tokenmill.operators.io import IngestConfig, QuarantineSink, plan_read_tasks, resolve_inputs
    from tokenmill.operators.io.read_task import ReadTask
    from tokenmill.schemas import DNA_SEGMENTS, DOCUMENTS

    cfg = IngestConfig()
    reader, normalizer = ReadTask(cfg), TextNormalizer(cfg)
    sinks = {"text": QuarantineSink(f"{out}/quarantine", DOCUMENTS), "fasta": QuarantineSink(f"{out}/quarantine", DNA_SEGMENTS)}
    writers = {
        "text": pq.ParquetWriter(f"{out}/documents.parquet", DOCUMENTS, compression="zstd"),
        "fasta": pq.ParquetWriter(f"{out}/dna_segments.parquet", DNA_SEGMENTS, compression="zstd"),
    }
    for task in plan_read_tasks(resolve_inputs(files)):
        kind = "fasta" if task["format"] == "fasta" else "text"
        for block in reader(pa.Table.from_pylist([task])):
            if kind == "text":
                block = normalizer(block)
            writers[kind].write_table(sinks[kind](block))
    for w in writers.values():
        w.close()


def run_pipeline(files: list[str], out: str) -> None:
    from tokenmill.pipelines import ingest

    args = [a for f in files for a in ("--input", f)]
    ingest.main([*args, "--output", out, "--quiet"])


def measure(mode: str, files_json: str, out: str) -> dict:
    """Run one contender in a subprocess; return wall seconds and peak tree RSS."""
    r = run_measured([sys.executable, __file__, "--child", mode, files_json, out], interval=0.05)
    if r["returncode"] != 0:
        raise SystemExit(f"{mode} failed with exit code {r['returncode']}")
    result = json.loads(r["stdout"].strip().splitlines()[-1])
    result["peak_mb"] = r["peak_mb"]
    return result


def child(mode: str, files_json: str, out: str) -> None:
    files = json.loads(Path(files_json).read_text())
    if mode == "pipeline":
        # The cluster is up before a job runs; time the job, not Ray's start-up (reported separately).
        from tokenmill.operators.core.runtime import init_ray

        t0 = time.perf_counter()
        init_ray(quiet=True)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_pipeline(files, out)
        print(json.dumps({"seconds": time.perf_counter() - t0, "startup_s": startup}))
    else:
        t0 = time.perf_counter()
        Path(out).mkdir(parents=True, exist_ok=True)
        run_loop(files, out)
        print(json.dumps({"seconds": time.perf_counter() - t0, "startup_s": 0.0}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2, help="copies of ../shared/data to ingest (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per contender (default 2)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="tm-bench-ingest-") as tmp:
        files = corpus(Path(tmp) / "in", args.repeat)
        mb = sum(Path(f).stat().st_size for f in files) / 2**20
        files_json = Path(tmp) / "files.json"
        files_json.write_text(json.dumps(files))
        runs: dict[str, list[dict]] = {"loop": [], "pipeline": []}
        for r in range(args.rounds):  # alternate so both see the same machine state
            for mode in ("loop", "pipeline"):
                out = Path(tmp) / f"out-{mode}-{r}"
                runs[mode].append(measure(mode, str(files_json), str(out)))
                shutil.rmtree(out, ignore_errors=True)
    best = {m: min(rs, key=lambda x: x["seconds"]) for m, rs in runs.items()}
    ours, peer = best["pipeline"], best["loop"]
    line = {
        "bench": "ingest",
        "input_mb": round(mb, 1),
        "files": len(files),
        "ours_s": round(ours["seconds"], 2),
        "ours_mb_s": round(mb / ours["seconds"], 2),
        "ours_ray_startup_s": round(ours["startup_s"], 2),
        "peer": "single_process_loop",
        "peer_s": round(peer["seconds"], 2),
        "peer_mb_s": round(mb / peer["seconds"], 2),
        "ratio": round(peer["seconds"] / ours["seconds"], 2),  # throughput ratio: ours / peer (target >= 1.3)
        "ours_peak_mb": ours["peak_mb"],
        "peer_peak_mb": peer["peak_mb"],
        "cpus": psutil.cpu_count(),
    }
    print(json.dumps(line))
    print(f"\n{'contender':<22}{'seconds':>9}{'MB/s':>8}{'peak MB':>9}")
    print(f"{'tokenmill pipeline':<22}{ours['seconds']:>9.2f}{mb / ours['seconds']:>8.2f}{ours['peak_mb']:>9}")
    print(f"{'single-process loop':<22}{peer['seconds']:>9.2f}{mb / peer['seconds']:>8.2f}{peer['peak_mb']:>9}")
    print(f"throughput ratio (pipeline / loop): {line['ratio']:.2f}x  (Ray start-up, not timed: {ours['startup_s']:.1f} s)")


if __name__ == "__main__":
    main()
