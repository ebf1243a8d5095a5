"""The real server under gunicorn: every acknowledged complaint survives a SIGKILL of the whole process group."""

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

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["快递丢了三次了,客服还挂我电话", "I was charged twice for one order, refund me", "房间很脏,空调也坏了",
         "The courier left my parcel in the rain and it was ruined"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int, db: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from complaint_triage.service.cli_serve import serve; serve()", "--port", str(port),
           "--workers", "2", "--database-url", f"sqlite:///{db}"]
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    kill(proc)
    pytest.fail("server did not become ready in 90 s")


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the master and its workers (the group this test started): a crash, not a shutdown."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def post(port: int, body: dict) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/triage", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def get_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_acknowledged_complaints_survive_sigkill(tmp_path):
    port, db, log = free_port(), tmp_path / "serve.db", tmp_path / "server.log"
    proc = start(port, db, log)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            cid = f"c{n}-{i}"
            try:
                status = post(port, {"id": cid, "text": TEXTS[i % len(TEXTS)]})
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                return  # the server died mid-request: not acknowledged
            if status in (200, 201):
                with lock:
                    acked.append(cid)
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        kill(proc)  # while the clients are still posting
        stop.set()
        for t in threads:
            t.join(timeout=15)
        assert len(acked) >= 60, log.read_text()[-3000:]

        proc = start(port, db, log)
        missing = [cid for cid in acked if get_status(port, f"/v1/complaints/{cid}") != 200]
        assert missing == []
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/complaints?limit=1", timeout=10) as r:
            assert json.load(r)["total"] >= len(acked)
    finally:
        stop.set()
        kill(proc)
