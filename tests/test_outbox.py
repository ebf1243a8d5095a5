"""Notifications (issue 13, item 5): level ≥ 2 and newly overdue cases write an outbox row in the same
transaction as the case change; `complaint-triage sweep` marks overdue cases; `--deliver` sends the outbox to
webhooks, signed, with an idempotency key, at least once across failures, kills and restarts. SQLite and
PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from complaint_triage.service.outbox import SWEEP_ACTOR, departments_of
from complaint_triage.service.store import Record
from complaint_triage.service.webhooks import WebhookConfig, deliver, sign, verify

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SECRET = "test-secret-0123"
RECEIVER = Path(__file__).with_name("webhook_receiver.py")


def record(cid: str, level: int = 0, also_notify: tuple[str, ...] = (), ack_in: float = 24, resolve_in: float = 96,
           report_in: float | None = None) -> Record:
    """A stored case without the model: ``*_in`` are hours from now (negative: already passed)."""
    def at(hours: float | None) -> datetime | None:
        return NOW + timedelta(hours=hours) if hours is not None else None

    deadlines = {"acknowledge_by": at(ack_in).isoformat(), "resolve_by": at(resolve_in).isoformat(),
                 "report_by": at(report_in).isoformat() if report_in is not None else None}
    decision = {"id": cid, "also_notify": list(also_notify), "deadlines": deadlines,
                "escalation": {"level": level, "name": ["frontline", "department", "major", "crisis"][level]}}
    return Record(id=cid, received_at=NOW - timedelta(days=1), text="t", language="en", category="delivery",
                  severity="low", department="logistics", escalation_level=level, refund_eligibility="not_requested",
                  decision=decision, acknowledge_by=at(ack_in), report_by=at(report_in), resolve_by=at(resolve_in))


def notes(store, kind: str | None = None) -> list[dict]:
    return [n for n in store.outbox.all() if kind is None or n["kind"] == kind]


# ---------------------------------------------------------------- who is notified
@pytest.mark.parametrize(("also_notify", "expected"), [
    ((), ["management"]),
    (("legal", "pr"), ["legal", "pr", "management"]),
    (("management", "legal"), ["management", "legal"]),  # management once
    (("legal", "legal"), ["legal", "management"]),
])
def test_departments_are_also_notify_and_management(also_notify, expected):
    assert departments_of({"also_notify": list(also_notify)}) == expected


# ---------------------------------------------------------------- written with the case
def test_a_level_2_case_notifies_at_insert_and_a_lower_one_does_not(store):
    store.insert_many([record("major", level=2, also_notify=("legal",)), record("low", level=1),
                       record("crisis", level=3, also_notify=("pr", "safety"))])
    by_case = {n["complaint_id"]: n for n in notes(store)}
    assert set(by_case) == {"major", "crisis"}
    assert by_case["major"]["departments"] == ["legal", "management"]
    assert by_case["crisis"]["departments"] == ["pr", "safety", "management"]
    p = by_case["major"]["payload"]
    assert p["id"] == by_case["major"]["id"] and p["kind"] == "escalation" and p["escalation"]["level"] == 2
    assert p["deadlines"]["acknowledge_by"] and by_case["major"]["status"] == "pending"
    store.insert(record("major", level=2))  # the same id again: no new case, no new notification
    assert len(notes(store)) == 2


def test_the_notification_is_in_the_cases_transaction(store, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("outbox write failed")

    monkeypatch.setattr(store.outbox, "_insert", broken)
    with pytest.raises(RuntimeError):
        store.insert(record("lost", level=2))
    assert store.get("lost") is None  # no case without its notification
    store.insert(record("quiet", level=0))  # level 0 writes no notification, so nothing fails
    with pytest.raises(RuntimeError):
        store.outbox.sweep(now=NOW + timedelta(days=30))
    assert [e["action"] for e in store.history("quiet")] == ["created"]  # no overdue mark without its notification


def test_a_case_re_decided_to_a_higher_level_notifies_once_per_level(store):
    from complaint_triage.service.store import CaseChange, Event

    store.insert(record("c", level=1))

    def to(level):
        return lambda row, now: CaseChange({"escalation_level": level}, [Event("agent-1", "correction")])

    store.change_case("c", to(2))
    store.change_case("c", to(2))  # no rise
    store.change_case("c", to(1))
    store.change_case("c", to(2))  # the level-2 notification exists already
    store.change_case("c", to(3))
    assert sorted(n["dedupe_key"] for n in notes(store)) == ["escalation:c:2", "escalation:c:3"]
    assert {n["payload"]["reason"] for n in notes(store)} == {"re-decided"}


# ---------------------------------------------------------------- the sweep
def test_sweep_marks_each_newly_overdue_step_once(store):
    store.insert_many([
        record("late-ack", ack_in=-2),
        record("late-both", level=2, ack_in=-50, resolve_in=-1, report_in=-49),
        record("on-time", ack_in=2),
        record("acked", ack_in=-2),
    ])
    from complaint_triage.service.cases import Cases

    Cases(store, decider=None).set_status("acked", "acknowledged", "agent-1")  # before the sweep: not overdue
    result = store.outbox.sweep()
    assert (result.cases, result.steps) == (2, 4)
    overdue = notes(store, "overdue")
    assert sorted((n["complaint_id"], n["payload"]["overdue"]["step"]) for n in overdue) == [
        ("late-ack", "acknowledge"), ("late-both", "acknowledge"), ("late-both", "report"),
        ("late-both", "resolve")]
    events = [e for e in store.history("late-both") if e["action"] == "overdue"]
    assert {e["actor"] for e in events} == {SWEEP_ACTOR} and len(events) == 3
    assert {e["after"]["notification"] for e in events} == {n["id"] for n in overdue if n["complaint_id"] == "late-both"}
    # again: nothing new
    assert store.outbox.sweep().steps == 0 and len(notes(store, "overdue")) == 4
    # a later deadline passing is newly overdue; a waiting case's clocks stand still
    assert store.outbox.sweep(now=NOW + timedelta(hours=30)).steps == 1  # on-time's acknowledge_by
    Cases(store, decider=None).set_status("acked", "in_progress", "agent-1")
    Cases(store, decider=None).set_status("acked", "waiting_customer", "agent-1")
    assert store.outbox.sweep(now=NOW + timedelta(days=30)).steps == 2  # late-ack and on-time resolve; not acked


# ---------------------------------------------------------------- delivery
def test_signature_is_hmac_sha256_of_the_body():
    body = b'{"id":"x"}'
    expected = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign(b"k", body) == expected
    assert verify(b"k", body, expected)
    assert not verify(b"other", body, expected) and not verify(b"k", body + b" ", expected)
    assert not verify(b"k", body, None)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"urls": ()}, "TRIAGE_WEBHOOKS"),
    ({"secret": b""}, "TRIAGE_WEBHOOK_SECRET"),
    ({"urls": ("ftp://x",)}, "http"),
    ({"lease": 5, "timeout": 10}, "lease"),
])
def test_webhook_config_refuses_what_cannot_work(kwargs, message):
    base = {"urls": ("http://127.0.0.1:1/h",), "secret": b"s"}
    with pytest.raises(ValueError, match=message):
        WebhookConfig(**{**base, **kwargs})


def test_backoff_is_exponential_and_capped():
    c = WebhookConfig(urls=("http://127.0.0.1:1/h",), secret=b"s", backoff=2, max_backoff=60)
    for attempts, full in [(1, 2), (2, 4), (3, 8), (6, 60), (30, 60)]:
        assert full / 2 <= c.delay(attempts) <= full


class _Collector(BaseHTTPRequestHandler):
    """In-process receiver: answers with the next status of ``plan`` (then 200), records what it got."""

    plan: list[int] = []
    got: list[tuple[dict, dict]] = []

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((dict(self.headers), json.loads(body), body))
        self.send_response(type(self).plan.pop(0) if type(self).plan else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def collector():
    _Collector.plan, _Collector.got = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_deliver_retries_with_backoff_until_2xx(store, collector):
    _, url = collector
    _Collector.plan = [500, 503, 404]
    store.insert(record("m", level=2, also_notify=("legal",)))
    config = WebhookConfig(urls=(url,), secret=SECRET.encode(), timeout=2, backoff=0.05, lease=5)
    report = deliver(store.outbox, config, max_seconds=10)
    assert (report.delivered, report.failed_attempts, report.pending) == (1, 3, 0)
    [n] = notes(store)
    assert n["status"] == "delivered" and n["attempts"] == 4 and n["delivered_to"] == [url]
    keys = {h["Idempotency-Key"] for h, _, _ in _Collector.got}
    assert keys == {n["id"]} and len(_Collector.got) == 4
    assert [h["X-Triage-Attempt"] for h, _, _ in _Collector.got] == ["1", "2", "3", "4"]
    assert all(verify(SECRET.encode(), body, h["X-Triage-Signature"]) for h, _, body in _Collector.got)
    assert _Collector.got[0][1]["departments"] == ["legal", "management"]
    assert deliver(store.outbox, config, max_seconds=1).delivered == 0  # nothing sent twice


def test_a_down_webhook_leaves_notifications_pending_for_the_next_run(store, collector):
    _, url = collector
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    store.insert(record("m", level=2))
    config = WebhookConfig(urls=(url, dead), secret=b"s", timeout=1, backoff=30, lease=5)
    report = deliver(store.outbox, config, max_seconds=2)
    assert report.delivered == 0 and report.pending == 1 and "Connection" in report.errors[0]
    [n] = notes(store)
    # the live webhook is done and will not get it again; the dead one is retried after the backoff
    assert n["delivered_to"] == [url] and n["attempts"] == 1 and n["next_attempt_at"] > datetime.now(timezone.utc)
    assert len(_Collector.got) == 1


# ---------------------------------------------------------------- the whole thing, with kills
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def _wait(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_every_notification_is_processed_exactly_once_despite_failures_kills_and_restarts(store, tmp_path):
    # 5 level ≥ 2 cases notify when stored; the sweep adds the overdue steps of 8 cases (3 of them level 2)
    records = [record(f"major-{i}", level=2 + (i == 0), also_notify=("legal",)) for i in range(2)]
    records += [record(f"late-{i}", level=2 if i < 3 else 0, ack_in=-1 - i, resolve_in=-0.5 if i % 2 else 48)
                for i in range(8)]
    store.insert_many(records)
    url = str(store.engine.url.render_as_string(hide_password=False))
    port = _free_port()
    state = tmp_path / "receiver"
    state.mkdir()

    def receiver() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(RECEIVER), str(port), SECRET, str(state)],
                                env={**os.environ, "RECEIVER_SLOW_SECONDS": "2.5"})
        _wait(lambda: _port_open(port), 10, "the receiver to listen")
        return proc

    env = {**os.environ, "TRIAGE_WEBHOOKS": f"http://127.0.0.1:{port}/hook", "TRIAGE_WEBHOOK_SECRET": SECRET,
           "TRIAGE_WEBHOOK_TIMEOUT": "1", "TRIAGE_WEBHOOK_BACKOFF": "0.1", "TRIAGE_WEBHOOK_LEASE": "2",
           "TRIAGE_LOG_LEVEL": "WARNING"}
    cmd = [str(Path(sys.executable).with_name("complaint-triage")), "sweep", "--deliver", "--database-url", url,
           "--table-prefix", store.table_prefix, "--max-seconds", "40"]
    processed = state / "processed.log"
    rx = receiver()
    with open(tmp_path / "sweep.log", "wb") as log:  # the killed run's output, for a failing assertion
        sweeper = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # the receiver dies mid-run, and comes back (its processed keys on disk)
        _wait(lambda: len(_lines(processed)) >= 3, 60, "3 notifications processed")
        rx.send_signal(signal.SIGKILL)
        rx.wait()
        time.sleep(0.5)
        rx = receiver()
        # then the sweeper dies mid-run (its claims are left behind), and runs again until nothing is pending
        _wait(lambda: len(_lines(processed)) >= 7, 60, "7 notifications processed")
        assert sweeper.poll() is None, (tmp_path / "sweep.log").read_text()
        sweeper.send_signal(signal.SIGKILL)
        sweeper.wait()
        for _ in range(5):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            if store.outbox.counts().get("pending", 0) == 0:
                break
    finally:
        for p in (sweeper, rx):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()

    all_notes = notes(store)
    assert len(all_notes) == 2 + 3 + 8 + 4  # escalations; acknowledge steps of 8; resolve steps of 4
    assert {n["status"] for n in all_notes} == {"delivered"}
    keys = _lines(processed)
    assert sorted(keys) == sorted(n["id"] for n in all_notes)  # every one, each processed exactly once
    received = [line.split() for line in _lines(state / "received.log") if not line.startswith("-")]
    outcomes = [o for _, o in received]
    assert "bad-signature" not in outcomes and "key-mismatch" not in outcomes
    assert outcomes.count("fail-500") >= len(all_notes)  # every notification failed at least once
    assert "slow" in outcomes and "duplicate" in outcomes  # a timeout made a retry of something already processed
    assert sum(line.startswith("- started") for line in _lines(state / "received.log")) == 2
    overdue = [e for e in store.history("late-1") if e["action"] == "overdue"]
    assert [e["actor"] for e in overdue] == [SWEEP_ACTOR, SWEEP_ACTOR]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
