"""The store on SQLite and on PostgreSQL (skipped only when no PostgreSQL server answers)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from complaint_triage.service.store import Filters, NotFound, Record, Store

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=timezone.utc)  # a Monday


def rec(id: str, at: datetime = T0, category: str = "billing", severity: str = "low", department: str = "billing",
        level: int = 0, refund: str | None = "not_requested") -> Record:
    return Record(id=id, received_at=at, text=f"masked text of {id}", language="en", category=category,
                  severity=severity, department=department, escalation_level=level, refund_eligibility=refund,
                  decision={"id": id, "category": {"label": category}, "note": "中文"})


def count(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.complaints)).scalar_one()


def test_sqlite_runs_in_wal_mode(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'wal.db'}")
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    s.engine.dispose()


def test_insert_get_round_trip(store):
    decision, created = store.insert(rec("a", at=T0.astimezone(timezone(timedelta(hours=8)))))
    assert created and decision["id"] == "a"
    row = store.get("a")
    assert row["received_at"] == T0 and row["received_at"].tzinfo is not None
    assert row["decision"] == {"id": "a", "category": {"label": "billing"}, "note": "中文"}
    assert row["feedback"] == [] and row["text"] == "masked text of a"
    assert store.get("missing") is None and store.get_decision("missing") is None


def test_same_id_keeps_the_first_decision_and_one_row(store):
    store.insert(rec("a", category="billing"))
    decision, created = store.insert(rec("a", category="safety"))
    assert not created and decision["category"]["label"] == "billing"
    out = store.insert_many([rec("b"), rec("b", category="delivery"), rec("a")])
    assert [c for _, c in out] == [True, False, False]
    assert out[1][0]["category"]["label"] == "billing"
    assert count(store) == 2


def test_racing_inserts_of_one_id_store_one_row(store):
    """Many threads (separate connections) insert the same id at once: the primary key decides the winner."""
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        decision, created = store.insert(rec("race", category=f"cat{i}"))
        results.append(created)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert count(store) == 1


def test_list_filters_and_paging(store):
    store.insert_many([
        rec("a", at=T0, category="safety", severity="critical", department="safety", level=3),
        rec("b", at=T0 + timedelta(days=2)),
        rec("c", at=T0 + timedelta(days=10), severity="medium", level=1),
        rec("d", at=T0 + timedelta(days=10)),  # same time as c: id breaks the tie
    ])

    def ids(f: Filters = Filters(), **kw) -> list[str]:
        return [r["id"] for r in store.list(f, **kw)[0]]

    assert ids() == ["c", "d", "b", "a"]
    assert ids(Filters(category="billing")) == ["c", "d", "b"]
    assert ids(Filters(severity="critical")) == ["a"]
    assert ids(Filters(department="billing", escalation_level=0)) == ["d", "b"]
    assert ids(Filters(received_from=T0 + timedelta(days=1), received_to=T0 + timedelta(days=10))) == ["b"]
    assert ids(limit=3) == ["c", "d", "b"] and ids(limit=3, offset=3) == ["a"]
    assert store.list(Filters(category="billing"), limit=1)[1] == 3


def test_stats_buckets(store):
    store.insert_many([
        rec("a", at=T0, category="safety", department="safety", refund=None),  # Monday
        rec("b", at=T0 + timedelta(days=6, hours=15)),  # Sunday 23:00 UTC: same ISO week
        rec("c", at=T0 + timedelta(days=7), severity="high", refund="eligible"),  # next Monday
        rec("d", at=T0 + timedelta(days=23)),  # April 2nd
    ])
    day = store.stats("day")
    assert [(b["start"], b["total"]) for b in day] == [("2025-03-10", 1), ("2025-03-16", 1), ("2025-03-17", 1),
                                                       ("2025-04-02", 1)]
    week = store.stats("week")
    assert [(b["start"], b["total"]) for b in week] == [("2025-03-10", 2), ("2025-03-17", 1), ("2025-03-31", 1)]
    assert week[0]["category"] == {"safety": 1, "billing": 1}
    assert week[0]["refund_eligibility"] == {"none": 1, "not_requested": 1}
    assert week[1]["severity"] == {"high": 1}
    month = store.stats("month")
    assert [(b["start"], b["total"]) for b in month] == [("2025-03-01", 3), ("2025-04-01", 1)]
    assert month[0]["department"] == {"safety": 1, "billing": 2}
    assert store.stats("month", Filters(received_from=T0 + timedelta(days=1)))[0]["total"] == 2


def test_feedback(store):
    store.insert(rec("a"))
    fb = store.add_feedback("a", "delivery", None, "logistics", "masked note")
    assert fb["id"] and fb["category"] == "delivery"
    assert [f["department"] for f in store.get("a")["feedback"]] == ["logistics"]
    with pytest.raises(NotFound):
        store.add_feedback("missing", "delivery", None, None, None)


def test_pages_by_key_match_the_full_order_through_ties(store):
    from complaint_triage.service.store import Cursor

    store.insert_many([rec(f"k{i:02d}", at=T0 + timedelta(hours=i // 3), category="billing" if i % 2 else "safety")
                       for i in range(20)])  # three rows per timestamp: the id breaks each tie
    for f in (Filters(), Filters(category="billing"), Filters(received_from=T0 + timedelta(hours=2))):
        everything = [r["id"] for r in store.list(f, limit=100)[0]]
        paged, after = [], None
        while True:
            rows, total = store.list(f, limit=4, after=after)
            paged += [r["id"] for r in rows]
            assert total == len(everything)  # the total ignores the cursor
            if len(rows) < 4:
                break
            after = Cursor(received_at=rows[-1]["received_at"], id=rows[-1]["id"])
        assert paged == everything
    rows, _ = store.list(Filters(), limit=2, offset=1, after=Cursor(received_at=T0 + timedelta(hours=6), id="k18"))
    assert [r["id"] for r in rows] == ["k15", "k16"]  # k19 after the cursor, skipped by the offset


def test_the_indexes_the_list_and_stats_use_exist(store):
    from sqlalchemy import inspect

    names = {ix["name"] for ix in inspect(store.engine).get_indexes(store.complaints.name)}
    prefix = store.complaints.name
    assert {f"ix_{prefix}_list", f"ix_{prefix}_stats", f"ix_{prefix}_category_list", f"ix_{prefix}_severity_list",
            f"ix_{prefix}_department_list", f"ix_{prefix}_escalation_level_list"} <= names
