"""How /v1/stats and /v1/complaints scale with the table: N synthetic complaints on SQLite, then each query timed
through the API (Flask test client: routing, validation, SQL, JSON).

    python bench/store_bench.py --rows 1000000            # ~1-2 min to fill, then the timings
    python bench/store_bench.py --rows 1000000 --db /tmp/store.db --keep   # reuse the filled file next time

Rows are spread evenly over the two years before now (so the default stats window, the last 31 days, holds
about 1/24 of them); categories, severities, departments, levels and refund eligibilities cycle through the
contract's vocabularies. Each row's decision is a small JSON object, not a full decision (the queries timed
here never read it except for the page's rows). Results are printed and written to bench/results/store.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from complaint_triage.contract import CASE_STATUSES, CATEGORIES, DEPARTMENTS, REFUND_ELIGIBILITIES, SEVERITIES
from complaint_triage.service.api import create_app, encode_cursor
from complaint_triage.service.settings import Settings
from complaint_triage.service.store import Store

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"


def fill(db: Path, rows: int, now: datetime, chunk: int = 50_000) -> float:
    """Bulk insert with executemany, the indexes built once afterwards (faster than maintaining them per row)."""
    store = Store(f"sqlite:///{db}")
    store.create_schema()
    t0 = time.perf_counter()
    span = timedelta(days=730).total_seconds()
    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        for table in store.metadata.sorted_tables:
            for index in table.indexes:
                cur.execute(f'DROP INDEX IF EXISTS "{index.name}"')
        cur.execute("BEGIN")
        sql = (f'INSERT INTO "{store.complaints.name}" (id, received_at, text, language, category, severity, '
               "department, escalation_level, refund_eligibility, decision, created_at, status, assignee, "
               "needs_review, acknowledge_by, resolve_by, acknowledged_at, resolved_at, due_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        created = now.replace(tzinfo=None).isoformat(sep=" ")
        for start in range(0, rows, chunk):
            batch = []
            for i in range(start, min(start + chunk, rows)):
                at = (now - timedelta(seconds=span * (i + 0.5) / rows)).replace(tzinfo=None)
                category = CATEGORIES[i % len(CATEGORIES)]
                # the case: deadlines 1 and 5 days after receipt; most cases acknowledged (one in ten late),
                # resolved unless among the newest; statuses cycle; a tenth need review
                ack_by, res_by = at + timedelta(days=1), at + timedelta(days=5)
                ack_at = None if i % 50 == 0 else at + timedelta(hours=30 if i % 10 == 0 else 3)
                res_at = None if i % 50 == 0 or i < rows // 100 else at + timedelta(days=6 if i % 7 == 0 else 2)
                status = CASE_STATUSES[i % len(CASE_STATUSES)]
                pending = [d for d, done in ((ack_by, ack_at), (res_by, res_at)) if done is None]
                due = min(pending) if pending and status != "waiting_customer" else None
                iso = lambda t: None if t is None else t.isoformat(sep=" ")  # noqa: E731
                batch.append((
                    f"bench-{i:07d}", at.isoformat(sep=" "), f"synthetic complaint {i}", "zh" if i % 2 else "en",
                    category, SEVERITIES[(i // 7) % len(SEVERITIES)], DEPARTMENTS[(i // 3) % len(DEPARTMENTS)],
                    (i // 11) % 4, REFUND_ELIGIBILITIES[(i // 5) % len(REFUND_ELIGIBILITIES)],
                    json.dumps({"id": f"bench-{i:07d}", "category": {"label": category}}), created,
                    status, f"agent-{i % 40}", i % 10 == 0, iso(ack_by), iso(res_by), iso(ack_at), iso(res_at),
                    iso(due),
                ))
            cur.executemany(sql, batch)
            print(f"\r{min(start + chunk, rows):,} rows", end="", file=sys.stderr, flush=True)
        cur.execute("COMMIT")
        cur.close()
    print(file=sys.stderr)
    with store.engine.begin() as conn:  # the indexes, built from the filled table
        for table in store.metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    store.engine.dispose()
    return time.perf_counter() - t0


def timed(client, url: str, runs: int) -> dict:
    times, status = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        status = r.status_code
        assert status == 200, (url, r.get_data(as_text=True)[:300])
    return {"url": url, "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
            "runs": [round(t, 1) for t in times]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/complaint-triage-store-bench.db"))
    ap.add_argument("--keep", action="store_true", help="reuse --db when it already holds --rows rows")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    now = datetime.now(timezone.utc).replace(microsecond=0)
    reuse = args.keep and args.db.exists()
    if reuse:
        store = Store(f"sqlite:///{args.db}")
        with store.engine.connect() as conn:
            reuse = conn.exec_driver_sql(f'SELECT count(*) FROM "{store.complaints.name}"').scalar() == args.rows
        store.engine.dispose()
    fill_s = None
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        fill_s = fill(args.db, args.rows, now)
        print(f"filled {args.rows:,} rows in {fill_s:.1f} s", file=sys.stderr)

    settings = Settings(database_url=f"sqlite:///{args.db}", log_level="WARNING")
    app = create_app(settings, decider=object())  # type: ignore[arg-type] - no route timed here decides
    client = app.test_client()
    store: Store = app.extensions["triage_store"]
    # a cursor 90 % of the way down the list, as a client paging that deep would hold
    with store.engine.connect() as conn:
        deep_row = conn.exec_driver_sql(
            f'SELECT received_at, id FROM "{store.complaints.name}" ORDER BY received_at DESC, id '
            f"LIMIT 1 OFFSET {int(args.rows * 0.9)}").one()
    deep = encode_cursor({"received_at": datetime.fromisoformat(deep_row[0]).replace(tzinfo=timezone.utc),
                          "id": deep_row[1]})
    month_start = (now - timedelta(days=200)).date().replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    month = f"received_from={month_start}&received_to={month_end}"
    cases = {
        "stats, one month by day": f"/v1/stats?period=day&{month}",
        "stats, one month by week": f"/v1/stats?period=week&{month}",
        "stats, default window (last 31 days)": "/v1/stats",
        "list, first page (50)": "/v1/complaints",
        "list, first page, category=billing": "/v1/complaints?category=billing",
        "list, first page, one month": f"/v1/complaints?{month}",
        "list, page at offset 10,000 (the cap)": "/v1/complaints?offset=10000",
        "list, page by cursor 90 % deep": f"/v1/complaints?cursor={deep}",
        "list, page by cursor 90 % deep, category=billing": f"/v1/complaints?category=billing&cursor={deep}",
        "list, first page, status=in_progress": "/v1/complaints?status=in_progress",
        "list, first page, assignee=agent-7": "/v1/complaints?assignee=agent-7",
        "list, first page, needs_review=true": "/v1/complaints?needs_review=true",
        "list, first page, language=zh&refund_eligibility=eligible": "/v1/complaints?language=zh&refund_eligibility=eligible",
        "list, first page, overdue=true": "/v1/complaints?overdue=true",
        "list, overdue=true, department=quality": "/v1/complaints?overdue=true&department=quality",
    }
    out = {"rows": args.rows, "fill_seconds": round(fill_s, 1) if fill_s else None,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "measured_at": now.isoformat(), "cases": {}}
    for name, url in cases.items():
        client.get(url)  # warm the page cache once
        out["cases"][name] = timed(client, url, args.runs)
        print(f"{name:55s} {out['cases'][name]['median_ms']:8.1f} ms (max {out['cases'][name]['max_ms']})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
