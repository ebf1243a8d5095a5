"""A webhook receiver for tests/test_outbox.py, run as its own process so the test can kill it (SIGKILL).

    python webhook_receiver.py PORT SECRET STATE_DIR

It verifies every request's signature (401 when wrong), then de-duplicates by the Idempotency-Key: the keys it
has processed are appended (and fsynced) to STATE_DIR/processed.log, which it reads back on start, so a restart
does not process a notification again. It also fails on purpose: the first attempt of every key gets a 500, and
the second attempt of every third key (in the order they first came) is processed but answered only after the client has given up (a
timeout, so the sender must retry something the receiver already has). Every request is logged to
STATE_DIR/received.log as ``key outcome``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT, SECRET, STATE = int(sys.argv[1]), sys.argv[2].encode(), Path(sys.argv[3])
SLOW = float(os.environ.get("RECEIVER_SLOW_SECONDS", "3"))
lock = threading.Lock()
attempts: dict[str, int] = {}
first_seen: dict[str, int] = {}  # the order keys first came in (this run)
processed_log = STATE / "processed.log"
processed = set(processed_log.read_text().split()) if processed_log.exists() else set()


def append(name: str, line: str) -> None:
    with open(STATE / name, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the sender gave up (timeout)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("Idempotency-Key", "")
        good = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, self.headers.get("X-Triage-Signature", "")):
            append("received.log", f"{key} bad-signature")
            return self._answer(401)
        if json.loads(body)["id"] != key:
            append("received.log", f"{key} key-mismatch")
            return self._answer(400)
        with lock:
            n = attempts[key] = attempts.get(key, 0) + 1
            first_seen.setdefault(key, len(first_seen))
            if key in processed:
                outcome = "duplicate"
            elif n == 1:
                outcome = "fail-500"
            else:
                processed.add(key)
                append("processed.log", key)
                outcome = "slow" if n == 2 and first_seen[key] % 3 == 0 else "processed"
            append("received.log", f"{key} {outcome}")
        if outcome == "fail-500":
            return self._answer(500)
        if outcome == "slow":
            time.sleep(SLOW)
        self._answer(200)


ThreadingHTTPServer.allow_reuse_address = True
ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
append("received.log", f"- started {os.getpid()}")
server.serve_forever()
