"""Batch throughput and memory: `complaint-triage batch` on N rows with 1 and 2 worker processes and on a Dask
local cluster, against the bare classifier's rate measured in the same run.

The rows cycle through the real-world evaluation texts (../shared/realworld/texts.jsonl: the real mix of zh
and en lengths; used here as input only, never for training) or, when absent, the authored corpus. Peak
memory is the largest sum of RSS over the batch process and all its children, sampled every 0.1 s; running
the same job on a quarter of the rows shows whether memory grows with the input.

    .venv/bin/python bench/batch_bench.py --rows 100000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
REALWORLD = ROOT.parent / "shared" / "realworld" / "texts.jsonl"
CLI = str(Path(sys.executable).with_name("complaint-triage"))


def source_texts() -> tuple[list[dict], str]:
    if REALWORLD.is_file():
        with REALWORLD.open(encoding="utf-8") as f:
            return [{"text": r["text"], "lang": r["lang"]} for r in map(json.loads, f)], "realworld texts"
    from complaint_triage.triage.corpus import load_corpus

    return [{"text": it.text, "lang": it.lang} for it in load_corpus()], "authored corpus"


def write_input(path: Path, texts: list[dict], rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i, t in zip(range(rows), itertools.cycle(texts)):
            f.write(json.dumps({"id": f"r{i}", "text": t["text"]}, ensure_ascii=False) + "\n")


def bare_classifier_rate(texts: list[dict], n: int) -> float:
    """Tokenize + featurize + predict, nothing else, one process: the yardstick the batch rate is held to."""
    from complaint_triage.triage.analyzer import Triage

    model = Triage().model
    sample = [t for _, t in zip(range(n), itertools.cycle(texts))]
    by_lang = {lg: [t["text"] for t in sample if t["lang"] == lg] for lg in ("zh", "en")}
    for lg, ts in by_lang.items():
        model.predict(ts[:50], lg)
    start = time.perf_counter()
    for lg, ts in by_lang.items():
        model.predict(ts, lg)
    return len(sample) / (time.perf_counter() - start)


def run_batch(src: Path, out: Path, args: list[str]) -> dict:
    cmd = [CLI, "batch", str(src), "-o", str(out), "--overwrite", "--no-progress", *args]
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr}")
    decided = sum(1 for _ in out.open(encoding="utf-8"))
    return {"args": " ".join(args), "wall_s": round(wall, 1), "rows_per_s": round(decided / wall),
            "decided": decided, "peak_rss_mb": round(peak / 1e6), "summary": stderr.strip().splitlines()[-1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batch_bench.json")
    a = ap.parse_args()
    texts, origin = source_texts()
    result: dict = {"rows": a.rows, "input": origin, "cores": os.cpu_count(), "python": platform.python_version()}
    result["bare_classifier_rows_per_s"] = round(bare_classifier_rate(texts, 5_000))
    print(f"bare classifier: {result['bare_classifier_rows_per_s']} texts/s (one process)", flush=True)
    runs = [("1 worker", ["--workers", "1"]), ("2 workers", ["--workers", "2"])]
    if not a.skip_dask:
        runs.append(("dask local cluster, 2 workers", ["--engine", "dask", "--workers", "2"]))
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.jsonl", Path(tmp) / "small.jsonl"
        write_input(big, texts, a.rows)
        write_input(small, texts, a.rows // 4)
        result["runs"] = {}
        for name, args in runs:
            r = run_batch(big, Path(tmp) / "out.jsonl", args)
            r["ratio_to_bare_classifier"] = round(r["rows_per_s"] / result["bare_classifier_rows_per_s"], 2)
            result["runs"][name] = r
            print(f"{name}: {r['rows_per_s']} rows/s, {r['wall_s']} s, peak {r['peak_rss_mb']} MB", flush=True)
        q = run_batch(small, Path(tmp) / "out.jsonl", ["--workers", "2"])
        result["memory_flatness"] = {"rows": a.rows // 4, "peak_rss_mb": q["peak_rss_mb"],
                                     "vs_full_rows_peak_rss_mb": result["runs"]["2 workers"]["peak_rss_mb"]}
        print(f"2 workers on {a.rows // 4} rows: peak {q['peak_rss_mb']} MB", flush=True)
        if "dask local cluster, 2 workers" in result["runs"]:
            d, p = result["runs"]["dask local cluster, 2 workers"], result["runs"]["2 workers"]
            result["dask_overhead"] = round(d["wall_s"] / p["wall_s"] - 1, 3)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
