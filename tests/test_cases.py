"""A complaint is a case (issue 13): status machine, assignee, history, corrections that re-decide, linking,
list filters and SLA stats, migrations — on SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from complaint_triage.contract import STATUS_TRANSITIONS
from complaint_triage.pipeline import Decider
from complaint_triage.service.api import create_app
from complaint_triage.service.settings import Settings
from complaint_triage.service.store import Store

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=timezone.utc)
LIFT = "电梯停在两层之间半个小时，物业一直没人来"


@pytest.fixture(scope="module")
def decider():
    return Decider()


@pytest.fixture
def client(store, decider, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", log_level="WARNING")
    return create_app(settings, decider, store=store).test_client()


def post(client, path, body, actor="agent-7"):
    return client.post(path, json=body, headers={"X-Actor": actor} if actor else {})


def new(client, cid, text="The parcel is two weeks late and nobody answers.", **fields):
    r = post(client, "/v1/triage", {"id": cid, "text": text, **fields})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def walk(client, cid, *statuses):
    for s in statuses:
        r = post(client, f"/v1/complaints/{cid}/status", {"status": s})
        assert r.status_code == 200, (s, r.get_json())


# ---------------------------------------------------------------- the status machine
PATHS = {  # how to reach each status from new
    "new": (),
    "acknowledged": ("acknowledged",),
    "in_progress": ("acknowledged", "in_progress"),
    "waiting_customer": ("acknowledged", "in_progress", "waiting_customer"),
    "resolved": ("acknowledged", "in_progress", "resolved"),
    "closed": ("acknowledged", "in_progress", "resolved", "closed"),
    "reopened": ("acknowledged", "in_progress", "resolved", "reopened"),
}
TRANSITIONS = [
    # the way forward
    ("new", "acknowledged", 200), ("acknowledged", "in_progress", 200), ("in_progress", "resolved", 200),
    ("resolved", "closed", 200),
    # waiting for the customer, and back
    ("in_progress", "waiting_customer", 200), ("waiting_customer", "in_progress", 200),
    ("waiting_customer", "resolved", 200),
    # reopening
    ("resolved", "reopened", 200), ("closed", "reopened", 200), ("reopened", "in_progress", 200),
    # negatives: skipping steps
    ("new", "in_progress", 409), ("new", "resolved", 409), ("acknowledged", "resolved", 409),
    ("new", "closed", 409), ("in_progress", "closed", 409),
    # negatives: going back, or reopening what is not finished
    ("acknowledged", "new", 409), ("closed", "in_progress", 409), ("closed", "resolved", 409),
    ("in_progress", "reopened", 409), ("reopened", "resolved", 409), ("resolved", "in_progress", 409),
    # negatives: the same status again
    ("new", "new", 409), ("closed", "closed", 409), ("waiting_customer", "waiting_customer", 409),
]


def test_the_table_covers_the_contract():
    legal = {(a, b) for a, b, code in TRANSITIONS if code == 200}
    assert legal == {(a, b) for a, tos in STATUS_TRANSITIONS.items() for b in tos}


@pytest.mark.parametrize("before,to,code", TRANSITIONS)
def test_transitions(client, before, to, code):
    new(client, "c1")
    walk(client, "c1", *PATHS[before])
    r = post(client, "/v1/complaints/c1/status", {"status": to})
    assert r.status_code == code, r.get_json()
    case = client.get("/v1/complaints/c1").get_json()
    if code == 409:
        body = r.get_json()
        assert body["error"] == "conflict" and f"{before} -> {to}" in body["detail"]
        assert case["status"] == before
    else:
        assert case["status"] == to and case["history"][-1]["action"] == "status"
        assert case["history"][-1]["before"] == {"status": before}


def test_unknown_status_and_unknown_case(client):
    new(client, "c1")
    assert post(client, "/v1/complaints/c1/status", {"status": "done"}).status_code == 422
    assert post(client, "/v1/complaints/nope/status", {"status": "acknowledged"}).status_code == 404


# ---------------------------------------------------------------- assignee, history
def test_an_excluded_handler_cannot_be_assigned(client):
    new(client, "c1", text="Agent Wang was rude to me on the phone and hung up.", subject_employee_id="E-1001")
    r = post(client, "/v1/complaints/c1/assign", {"assignee": "E-1001"})
    assert r.status_code == 422 and r.get_json()["field"] == "assignee"
    assert "exclude_handlers" in r.get_json()["detail"]
    assert post(client, "/v1/complaints/c1/assign", {"assignee": "E-2002"}).status_code == 200
    assert client.get("/v1/complaints?assignee=E-2002").get_json()["total"] == 1


def test_an_excluded_handler_whose_id_is_personal_data_is_compared_hashed(client):
    new(client, "c1", text="The installer was rude and broke my door.", subject_employee_id="13812345678")
    r = post(client, "/v1/complaints/c1/assign", {"assignee": "13812345678"})
    assert r.status_code == 422


def test_history_is_append_only_with_actor_and_time(client, store):
    new(client, "c1")
    walk(client, "c1", "acknowledged")
    post(client, "/v1/complaints/c1/notes", {"text": "called back, call me on 13812345678"}, actor="agent-9")
    post(client, "/v1/complaints/c1/reply", {"text": "We found your parcel."})
    post(client, "/v1/complaints/c1/resolution", {"remedy": "compensation", "refund_amount": 20.0})
    walk(client, "c1", "in_progress", "resolved")
    assert post(client, "/v1/complaints/c1/satisfaction", {"score": 4}).status_code == 200
    case = client.get("/v1/complaints/c1").get_json()
    actions = [e["action"] for e in case["history"]]
    assert actions == ["created", "status", "note", "reply", "resolution", "status", "status", "satisfaction"]
    assert [e["actor"] for e in case["history"]][1:4] == ["agent-7", "agent-9", "agent-7"]
    times = [datetime.fromisoformat(e["at"]) for e in case["history"]]
    assert times == sorted(times) and all(t.tzinfo for t in times)
    assert "13812345678" not in case["notes"][0]["text"]
    assert case["resolution"]["remedy"] == "compensation" and case["satisfaction"] == 4
    assert case["reply"]["text"] == "We found your parcel." and case["acknowledged_at"]
    # the database refuses to change or delete history
    for sql in (f'UPDATE "{store.events.name}" SET actor = \'x\'', f'DELETE FROM "{store.events.name}"'):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(sql))
    assert client.get("/v1/complaints/c1").get_json()["history"] == case["history"]


def test_satisfaction_waits_for_the_resolution_and_closed_cases_refuse_changes(client):
    new(client, "c1")
    r = post(client, "/v1/complaints/c1/satisfaction", {"score": 5})
    assert r.status_code == 409 and "resolved" in r.get_json()["detail"]
    assert post(client, "/v1/complaints/c1/satisfaction", {"score": 6}).status_code == 422
    walk(client, "c1", *PATHS["closed"])
    r = post(client, "/v1/complaints/c1/reply", {"text": "late"})
    assert r.status_code == 409 and "reopen" in r.get_json()["detail"]


def test_actor_is_the_api_keys_owner(store, decider, tmp_path):
    settings = Settings(database_url="sqlite://", log_level="WARNING", api_keys="k1:agent-li,k2")
    c = create_app(settings, decider, store=store).test_client()
    c.post("/v1/triage", json={"id": "c1", "text": "late parcel again"}, headers={"X-API-Key": "k1"})
    c.post("/v1/complaints/c1/notes", json={"text": "x"}, headers={"X-API-Key": "k2", "X-Actor": "liar"})
    history = c.get("/v1/complaints/c1", headers={"X-API-Key": "k1"}).get_json()["history"]
    assert history[0]["actor"] == "agent-li" and history[1]["actor"].startswith("key-")


# ---------------------------------------------------------------- corrections re-decide
def test_a_correction_re_decides_and_keeps_the_old_decision(client):
    first = new(client, "lift", text=LIFT, category="facilities", severity="low",
                received_at=datetime.now(timezone.utc).isoformat())
    r = post(client, "/v1/complaints/lift/feedback", {"category": "safety", "severity": "critical"})
    assert r.status_code == 201 and r.get_json()["decision"]["category"]["label"] == "safety"
    case = client.get("/v1/complaints/lift").get_json()
    assert (case["category"], case["severity"], case["department"], case["escalation_level"]) == \
        ("safety", "critical", "safety", 3)
    assert case["decision"]["escalation"]["level"] == 3
    correction = [e for e in case["history"] if e["action"] == "correction"][-1]
    assert correction["before"]["decision"] == first
    assert correction["after"]["correction"] == {"category": "safety", "severity": "critical"}
    if first.get("deadlines") and first["escalation"]["level"] < 3:
        assert case["decision"]["deadlines"] != first["deadlines"]
    listed = client.get("/v1/complaints?category=safety&severity=critical").get_json()
    assert [i["id"] for i in listed["items"]] == ["lift"]
    assert client.get("/v1/complaints?category=facilities").get_json()["total"] == 0
    stats = client.get("/v1/stats").get_json()["buckets"]
    assert stats[-1]["category"] == {"safety": 1} and stats[-1]["severity"] == {"critical": 1}
    # a department correction goes through the policy too
    post(client, "/v1/complaints/lift/feedback", {"department": "facilities"})
    case = client.get("/v1/complaints/lift").get_json()
    assert case["department"] == "facilities" and case["category"] == "safety"
    assert "override_department_facilities" in case["decision"]["rules_fired"]


def test_reposting_an_id_with_other_overrides_is_a_conflict(client):
    new(client, "c1", text=LIFT, category="facilities")
    r = post(client, "/v1/triage", {"id": "c1", "text": LIFT, "category": "safety"})
    assert r.status_code == 409 and "/feedback" in r.get_json()["detail"]
    assert post(client, "/v1/triage", {"id": "c1", "text": LIFT, "category": "facilities"}).status_code == 200
    assert post(client, "/v1/triage", {"id": "c1", "text": LIFT}).status_code == 200
    r = post(client, "/v1/triage/batch", {"complaints": [{"id": "c1", "text": LIFT, "severity": "high"}]})
    assert r.status_code == 409 and r.get_json()["field"] == "complaints.0.severity"


# ---------------------------------------------------------------- linking
@pytest.mark.parametrize("key,days_before,linked", [
    # same customer
    ("customer_id", 30, True), ("customer_id", 90, True), ("customer_id", 91, False),
    # same order
    ("order_id", 1, True), ("order_id", 90.01, False),
])
def test_repeat_by_customer_or_order_within_the_window(client, key, days_before, linked):
    value = "13812345678" if key == "customer_id" else "ORD-7781"
    new(client, "old", received_at=(T0 - timedelta(days=days_before)).isoformat(), **{key: value})
    d = new(client, "now", received_at=T0.isoformat(), **{key: value})
    assert ("linked_repeat" in d["rules_fired"]) is linked
    case = client.get("/v1/complaints/now").get_json()
    assert case["links"]["repeat_of"] == (["old"] if linked else [])
    if linked:
        assert case["escalation_level"] >= 2
    if key == "customer_id":
        assert case["customer_id"].startswith("id-")  # a phone number is personal data: hashed


@pytest.mark.parametrize("hours,collective", [
    # three within 72 h
    ((0, 30, 72), True),
    # the third one second too late
    ((0, 30, 72 + 1 / 3600), False),
    # two only
    ((0, 1), False),
])
def test_collective_by_location_within_the_window(client, hours, collective):
    for i, h in enumerate(hours):
        new(client, f"c{i}", text="The lift in building 3 is broken again.", location="Building 3, Riverside",
            received_at=(T0 + timedelta(hours=h)).isoformat())
    for i in range(len(hours)):
        case = client.get(f"/v1/complaints/c{i}").get_json()
        fired = "linked_collective" in case["decision"]["rules_fired"]
        if collective:
            assert fired and len(case["links"]["collective_with"]) == len(hours) - 1
        else:
            assert not fired and case["links"]["collective_with"] == []
    if collective:  # the earlier ones were re-decided, and the history says so
        assert [e["action"] for e in client.get("/v1/complaints/c0").get_json()["history"]][-1] == "linked"


def test_collective_in_one_batch(client):
    body = {"complaints": [{"id": f"b{i}", "text": "No water in the whole building since morning.",
                            "location": "Block 9", "received_at": (T0 + timedelta(hours=i)).isoformat()}
                           for i in range(3)]}
    r = post(client, "/v1/triage/batch", body)
    assert r.status_code == 201
    assert all("linked_collective" in it["decision"]["rules_fired"] for it in r.get_json()["items"])


# ---------------------------------------------------------------- list filters, overdue, SLA stats
def test_list_filters_overdue_and_sla(client):
    long_ago = datetime.now(timezone.utc) - timedelta(days=20)
    new(client, "late", received_at=long_ago.isoformat())
    new(client, "ontime", received_at=long_ago.isoformat())
    walk(client, "ontime", "acknowledged")  # acknowledged, but 20 days late
    new(client, "fresh", received_at=datetime.now(timezone.utc).isoformat(), language="en")
    decided = client.get("/v1/complaints/late").get_json()
    if not decided["acknowledge_by"]:
        pytest.skip("decisions carry no deadlines in this tree")
    ids = lambda q: sorted(i["id"] for i in client.get(f"/v1/complaints?{q}").get_json()["items"])  # noqa: E731
    assert ids("overdue=true") == ["late", "ontime"]  # both are past resolve_by
    assert ids("overdue=false") == ["fresh"]
    assert ids("status=acknowledged") == ["ontime"]
    assert ids("status=new&overdue=true") == ["late"]
    assert ids("language=en&needs_review=false") == sorted(
        i for i in ("late", "ontime", "fresh")
        if not client.get(f"/v1/complaints/{i}").get_json()["needs_review"])
    assert ids("refund_eligibility=not_requested") == ["fresh", "late", "ontime"]
    # waiting for the customer stops the clocks: not overdue meanwhile
    walk(client, "ontime", "in_progress", "waiting_customer")
    assert ids("overdue=true") == ["late"]
    stats = client.get(f"/v1/stats?received_from={long_ago.date()}&period=month").get_json()
    sla = {}
    for b in stats["buckets"]:
        for dept, s in b["sla"].items():
            sla.setdefault(dept, []).append(s)
    assert client.get("/v1/complaints/ontime").get_json()["department"] == decided["department"]
    logistics = [s for s in sla[decided["department"]] if s["acknowledge_due"]]
    assert sum(s["acknowledge_due"] for s in logistics) == 2
    assert sum(s["acknowledged_on_time"] for s in logistics) == 0
    assert all(s["acknowledged_share"] == 0.0 for s in logistics)


# ---------------------------------------------------------------- migrations
OLD_SCHEMA = """
CREATE TABLE complaints (id VARCHAR(200) NOT NULL, received_at DATETIME NOT NULL, text TEXT NOT NULL,
  language VARCHAR(8), category VARCHAR(32) NOT NULL, severity VARCHAR(16) NOT NULL, department VARCHAR(64),
  escalation_level INTEGER, refund_eligibility VARCHAR(32), decision JSON NOT NULL, created_at DATETIME NOT NULL,
  PRIMARY KEY (id));
CREATE TABLE feedback (id INTEGER NOT NULL, complaint_id VARCHAR(200) NOT NULL, category VARCHAR(32),
  severity VARCHAR(16), department VARCHAR(64), note TEXT, created_at DATETIME NOT NULL, PRIMARY KEY (id),
  FOREIGN KEY(complaint_id) REFERENCES complaints (id));
CREATE INDEX ix_complaints_list ON complaints (received_at DESC, id);
CREATE INDEX ix_complaints_stats ON complaints (received_at, category, severity, department, refund_eligibility);
"""


def test_migration_upgrades_a_0_1_database_without_losing_rows(tmp_path, decider):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)  # 0.1's schema, made by create_all, without the later list indexes
    for i in range(5):
        con.execute("INSERT INTO complaints VALUES (?, ?, ?, 'en', 'delivery', 'low', 'logistics', 0, "
                    "'not_requested', ?, '2025-03-10 08:00:00')",
                    (f"old-{i}", f"2025-03-0{i + 1} 08:00:00", f"late parcel {i}",
                     json.dumps({"id": f"old-{i}", "needs_review": i == 0})))
    con.execute("INSERT INTO feedback (complaint_id, category, created_at) VALUES ('old-1', 'billing', "
                "'2025-03-10 09:00:00')")
    con.commit()
    con.close()
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    assert store.schema_revision() == "0003"
    rows, total = store.list(store_filters(), limit=10)
    assert total == 5 and {r["status"] for r in rows} == {"new"}
    assert [r["id"] for r in rows if r["needs_review"]] == ["old-0"]
    assert store.get("old-1")["feedback"][0]["category"] == "billing"
    store.create_schema()  # idempotent
    # the upgraded file serves: a correction re-decides a 0.1 row from its text
    settings = Settings(database_url=f"sqlite:///{path}", log_level="WARNING")
    c = create_app(settings, decider, store=store).test_client()
    r = c.post("/v1/complaints/old-2/feedback", json={"category": "safety"})
    assert r.status_code == 201 and c.get("/v1/complaints/old-2").get_json()["category"] == "safety"
    store.engine.dispose()


def store_filters():
    from complaint_triage.service.store import Filters

    return Filters()


def test_the_migrations_build_exactly_the_tables_the_code_uses(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    p = store.table_prefix
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "version_table": f"{p}alembic_version",
            "include_name": lambda name, kind, _: kind != "table" or name.startswith(p)})
        assert compare_metadata(ctx, store.metadata) == []
