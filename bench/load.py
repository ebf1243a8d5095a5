"""Loopback load test of POST /v1/triage with the real model: a fixed target rate, then the maximum rate.

Starts the real server (gunicorn, N sync workers, a temporary SQLite file), sends a bounded number of
requests with fresh ids (so every one runs the model and commits a row) and prints requests/s and p50/p99.
At the fixed rate, latency is measured from each request's scheduled start, so a stalled server shows up
as latency instead of silently lowering the offered load (coordinated omission).

    .venv/bin/python bench/load.py --rate 50 --requests 500 --max-requests 1000 --concurrency 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def corpus_texts(limit: int = 400) -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "triage" / "corpus" / "data").glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in list(f)[: limit // 8]]
    return texts


def realworld_texts() -> list[str]:
    path = ROOT.parent / "shared" / "realworld" / "texts.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, db: Path, workers: int) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from complaint_triage.service.cli_serve import serve; serve()", "--port", str(port),
           "--workers", str(workers), "--database-url", f"sqlite:///{db}"]
    env = {**os.environ, "TRIAGE_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("server did not become ready")


def succeeded(port: int, text: str) -> bool:
    try:
        return one_request(port, text) in (200, 201)
    except OSError:
        return False


def one_request(port: int, text: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"id": uuid.uuid4().hex, "text": text}, ensure_ascii=False).encode()
    conn.request("POST", "/v1/triage", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def summarize(name: str, latencies: list[float], errors: int, elapsed: float) -> dict:
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
    print(f"{name}: {len(lat)} ok, {errors} errors in {elapsed:.1f} s -> {len(lat) / elapsed:.1f} req/s; "
          f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")
    return {"phase": name, "ok": len(lat), "errors": errors, "req_per_s": round(len(lat) / elapsed, 1),
            "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1), "max_ms": round(lat[-1] * 1000, 1)}


class Tally:
    """Latencies of the successful requests and a count of the failed ones, shared by client threads."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self._lock = threading.Lock()

    def add(self, ok: bool, seconds: float) -> None:
        with self._lock:
            if ok:
                self.latencies.append(seconds)
            else:
                self.errors += 1


def fixed_rate(port: int, texts: list[str], rate: float, n: int) -> dict:
    tally = Tally()
    t0 = time.perf_counter() + 0.1

    def task(i: int) -> None:
        scheduled = t0 + i / rate
        time.sleep(max(0.0, scheduled - time.perf_counter()))
        ok = succeeded(port, texts[i % len(texts)])
        tally.add(ok, time.perf_counter() - scheduled)

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(task, range(n)))
    return summarize(f"fixed rate {rate:g}/s", tally.latencies, tally.errors, time.perf_counter() - t0)


def max_rate(port: int, texts: list[str], concurrency: int, n: int) -> dict:
    tally = Tally()
    counter = iter(range(n))

    def client() -> None:
        for i in counter:
            start = time.perf_counter()
            ok = succeeded(port, texts[i % len(texts)])
            tally.add(ok, time.perf_counter() - start)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summarize(f"max rate, {concurrency} clients", tally.latencies, tally.errors, time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=50.0, help="target requests/s of the fixed-rate phase")
    ap.add_argument("--requests", type=int, default=500, help="requests in the fixed-rate phase")
    ap.add_argument("--max-requests", type=int, default=1000, help="requests in the max-rate phase")
    ap.add_argument("--concurrency", type=int, default=8, help="clients in the max-rate phase")
    ap.add_argument("--texts", choices=["corpus", "realworld"], default="corpus",
                    help="short authored texts, or the real-world evaluation texts (longer; input only)")
    ap.add_argument("--out", type=Path, default=None, help="also write the results here as JSON")
    ap.add_argument("--runs", type=int, default=1, help="repeat both phases; the median is printed too "
                    "(a shared 2-core machine varies from run to run)")
    args = ap.parse_args()

    texts = corpus_texts() if args.texts == "corpus" else realworld_texts()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_server(port, Path(tmp) / "bench.db", args.workers)
        try:
            print(f"server: {args.workers} sync workers, SQLite (WAL) at a temp file, {len(texts)} {args.texts} "
                  f"texts (mean {statistics.mean(map(len, texts)):.0f} chars), {os.cpu_count()} CPUs; client on "
                  "the same host")
            for i in range(20):  # warm every worker
                one_request(port, texts[i % len(texts)])
            runs = []
            for _ in range(args.runs):
                runs.append([fixed_rate(port, texts, args.rate, args.requests),
                             max_rate(port, texts, args.concurrency, args.max_requests)])
            median = {"fixed_rate_p99_ms": statistics.median(r[0]["p99_ms"] for r in runs),
                      "max_req_per_s": statistics.median(r[1]["req_per_s"] for r in runs)}
            print(f"median over {args.runs} runs: p99 at {args.rate:g}/s {median['fixed_rate_p99_ms']} ms, "
                  f"maximum {median['max_req_per_s']} req/s")
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"workers": args.workers, "texts": args.texts, "median": median,
                                                "runs": runs}, indent=2) + "\n", encoding="utf-8")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
