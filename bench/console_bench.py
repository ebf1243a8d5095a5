"""How the console's queue page scales: N synthetic cases on SQLite, then /console timed server-side (Flask test
client, signed in: routing, session, SQL, the template rendered), with each filter and a page deep by cursor.

    python bench/console_bench.py --rows 1000000                       # ~1 min to fill, then the timings
    python bench/console_bench.py --rows 1000000 --db /tmp/c.db --keep  # reuse the filled file next time

Cases are spread over the two years before now. A third are open (new, acknowledged, in progress, waiting for
the customer, reopened), the rest resolved or closed; open cases have deadlines from a day ago to five days ahead
(so some are overdue), waiting ones none (their clocks stand still). Vocabularies cycle. Results are printed and
written to bench/results/console.json; the target is under 300 ms for every page.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from complaint_triage.contract import CATEGORIES, DEPARTMENTS, SEVERITIES
from complaint_triage.service.api import create_app
from complaint_triage.service.console.queries import QueueCursor
from complaint_triage.service.settings import Settings
from complaint_triage.service.store import Store

RESULTS = Path(__file__).resolve().parent / "results" / "console.json"
OPEN = ("new", "acknowledged", "in_progress", "waiting_customer", "reopened")
AGENTS = [f"agent{i:02d}" for i in range(40)]


def fill(db: Path, rows: int, now: datetime, chunk: int = 50_000) -> float:
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
               "needs_review, acknowledge_by, resolve_by, due_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        created = now.replace(tzinfo=None).isoformat(sep=" ")
        for start in range(0, rows, chunk):
            batch = []
            for i in range(start, min(start + chunk, rows)):
                at = (now - timedelta(seconds=span * (i + 0.5) / rows)).replace(tzinfo=None)
                category = CATEGORIES[i % len(CATEGORIES)]
                is_open = i % 3 == 0
                status = OPEN[(i // 3) % len(OPEN)] if is_open else ("resolved", "closed")[i % 2]
                due = None
                if is_open and status != "waiting_customer":
                    due = (now + timedelta(hours=(i * 7919) % 144 - 24)).replace(tzinfo=None).isoformat(sep=" ")
                ack = due
                batch.append((
                    f"bench-{i:07d}", at.isoformat(sep=" "), f"synthetic complaint {i}", "zh" if i % 2 else "en",
                    category, SEVERITIES[(i // 7) % len(SEVERITIES)], DEPARTMENTS[(i // 3) % len(DEPARTMENTS)],
                    (i // 11) % 4, "not_requested",
                    json.dumps({"id": f"bench-{i:07d}", "category": {"label": category}}), created,
                    status, AGENTS[i % len(AGENTS)] if i % 5 else None, i % 13 == 0, ack, due, due,
                ))
            cur.executemany(sql, batch)
            print(f"\r{min(start + chunk, rows):,} rows", end="", file=sys.stderr, flush=True)
        cur.execute("COMMIT")
        cur.close()
    print(file=sys.stderr)
    with store.engine.begin() as conn:  # the indexes, built once from the filled table
        for table in store.metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
        conn.exec_driver_sql("ANALYZE")
    store.engine.dispose()
    return time.perf_counter() - t0


def timed(client, url: str, runs: int) -> dict:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.get_data(as_text=True)[:300])
    return {"url": url, "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/complaint-triage-console-bench.db"))
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

    app = create_app(Settings(database_url=f"sqlite:///{args.db}", log_level="WARNING"),
                     decider=object())  # type: ignore[arg-type] - nothing timed here decides
    accounts = app.extensions["console_accounts"]
    if accounts.get("bench") is None:
        accounts.add("bench", "agent", "bench-password")
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)
    client.post("/console/login", data={"csrf_token": token, "name": "bench", "password": "bench-password"})
    store: Store = app.extensions["triage_store"]
    with store.engine.connect() as conn:  # a cursor 90 % of the way down the open cases with a deadline
        n_due = conn.exec_driver_sql(f'SELECT count(*) FROM "{store.complaints.name}" WHERE due_at IS NOT NULL '
                                     "AND status NOT IN ('resolved', 'closed')").scalar()
        at, cid = conn.exec_driver_sql(
            f'SELECT due_at, id FROM "{store.complaints.name}" WHERE due_at IS NOT NULL AND status NOT IN '
            f"('resolved', 'closed') ORDER BY due_at, id LIMIT 1 OFFSET {int(n_due * 0.9)}").one()
    deep = QueueCursor("due", datetime.fromisoformat(at).replace(tzinfo=timezone.utc), cid).encode()
    cases = {
        "queue, first page (50 of every open case)": "/console",
        "department=billing": "/console?department=billing",
        "level=3": "/console?level=3",
        "status=waiting_customer (no deadline: newest first)": "/console?status=waiting_customer",
        "needs_review=true": "/console?needs_review=true",
        "language=zh": "/console?language=zh",
        "overdue=true": "/console?overdue=true",
        "assignee=agent07": "/console?assignee=agent07",
        "assignee=unassigned": "/console?assignee=none",
        "department=legal & level=2 & language=en": "/console?department=legal&level=2&language=en",
        "page by cursor 90 % deep": f"/console?after={deep}",
        "page by cursor 90 % deep, department=billing": f"/console?department=billing&after={deep}",
    }
    out = {"rows": args.rows, "open_with_deadline": n_due, "fill_seconds": round(fill_s, 1) if fill_s else None,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "measured_at": now.isoformat(), "target_ms": 300, "cases": {}}
    for name, url in cases.items():
        client.get(url)  # warm the page cache once
        out["cases"][name] = timed(client, url, args.runs)
        print(f"{name:55s} {out['cases'][name]['median_ms']:8.1f} ms (max {out['cases'][name]['max_ms']})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
