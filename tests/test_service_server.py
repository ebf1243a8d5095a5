"""The real server (`complaint-triage serve`, gunicorn) under the largest requests it accepts, and gunicorn's own
error answers (issue 11, items 14 and 15).

Before: two batches of 1,000 x 5,500 characters (16.5 MB, under every limit) held both sync workers until the
120 s timeout killed them, and /healthz failed every probe meanwhile; gunicorn's own errors were HTML pages.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from complaint_triage.service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["快递丢了三次了,客服还挂我电话,再不处理我就去12315投诉,你们的服务太差了",
         "I was charged twice for one order and nobody answers my emails. Refund me now or I call my bank.",
         "房间很脏,空调也坏了,前台态度恶劣,要求退还房费",
         "The courier left my parcel in the rain and it was ruined; this is the third time this month."]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command() -> list[str]:
    script = Path(sys.executable).parent / "complaint-triage"
    if script.is_file():
        return [str(script), "serve"]
    return [sys.executable, "-c", "from complaint_triage.service.cli_serve import serve; serve()"]


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    cmd = [*serve_command(), "--port", str(port),
           "--database-url", f"sqlite:///{tmp_path / 'serve.db'}", *args]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "TRIAGE_LOG_LEVEL": "WARNING", **(env or {})})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc, port
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    stop(proc)
    pytest.fail("server did not become ready in 90 s")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def request(port: int, path: str, body: object | None = None, timeout: float = 60) -> tuple[int, dict, float]:
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 headers={"Content-Type": "application/json"}, method="POST" if data else "GET")
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r), time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), time.monotonic() - t0


def full_batch(prefix: str, count: int, chars: int) -> dict:
    """`count` complaints whose texts add up to `chars` characters."""
    each = chars // count
    items = []
    for i in range(count):
        text = f"{i} "
        while len(text) < each:
            text += TEXTS[(i + len(text)) % len(TEXTS)] + " "
        items.append({"id": f"{prefix}-{i}", "text": text[:each]})
    return {"complaints": items}


def test_health_answers_within_a_second_while_two_maximum_batches_run(tmp_path):
    limits = Settings()
    # serve's default on this 2-core machine: one worker per core plus one that stays free for health checks
    proc, port = start(tmp_path, "--workers", "3")
    try:
        # what the campaign sent: refused at once, not worked on for minutes
        status, body, took = request(port, "/v1/triage/batch", full_batch("huge", 1000, 5_500_000))
        assert (status, body["error"], body["field"]) == (413, "payload_too_large", "complaints"), body
        assert took < 5

        batches = {name: full_batch(name, limits.max_batch, limits.max_batch_chars) for name in ("a", "b")}
        assert all(sum(len(c["text"]) for c in b["complaints"]) == limits.max_batch_chars for b in batches.values())
        results: dict[str, tuple[int, float]] = {}
        probes: list[float] = []
        done = threading.Event()

        def send(name: str) -> None:
            status, _, took = request(port, "/v1/triage/batch", batches[name], timeout=120)
            results[name] = (status, took)

        def probe() -> None:
            while not done.is_set():
                try:
                    status, _, took = request(port, "/healthz", timeout=5)
                    probes.append(took if status == 200 else 99.0)
                except (urllib.error.URLError, TimeoutError, OSError):
                    probes.append(99.0)
                time.sleep(0.05)

        senders = [threading.Thread(target=send, args=(name,)) for name in batches]
        prober = threading.Thread(target=probe)
        prober.start()
        for t in senders:
            t.start()
        for t in senders:
            t.join(timeout=180)
        done.set()
        prober.join(timeout=10)

        assert {name: status for name, (status, _) in results.items()} == {"a": 201, "b": 201}, results
        assert len(probes) >= 5
        assert max(probes) < 1.0, (sorted(probes)[-5:], results)
        # acknowledged means stored: every complaint of both batches
        status, body, _ = request(port, "/v1/complaints?limit=1")
        assert body["total"] == 2 * limits.max_batch
    finally:
        stop(proc)


def test_gunicorn_errors_are_json_in_the_api_shape(tmp_path):
    # a batch far over the default budget, allowed here, so that it outlives a 1 s worker timeout
    proc, port = start(tmp_path, "--workers", "2", "--timeout", "1",
                       env={"TRIAGE_MAX_BATCH_CHARS": "50000000", "TRIAGE_MAX_BODY_BYTES": str(64 << 20)})
    try:
        # a request line gunicorn cannot parse
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        head, _, payload = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") and b"Content-Type: application/json" in head, raw[:300]
        body = json.loads(payload)
        assert set(body) == {"error", "detail", "field"} and body["error"] == "bad_request"

        # the worker timeout: a 503 in JSON, not a closed connection
        status, body, _ = request(port, "/v1/triage/batch", full_batch("slow", 1000, 5_000_000), timeout=120)
        assert status == 503 and set(body) == {"error", "detail", "field"}, body
        assert "timeout" in body["detail"]
        # and the server goes on (the arbiter starts a new worker)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request(port, "/readyz", timeout=5)[0] == 200:
                    break
            except (urllib.error.URLError, TimeoutError, OSError):
                time.sleep(0.5)
        else:
            pytest.fail("no worker answered after the timeout")
    finally:
        stop(proc)
