"""`complaint-triage batch`: every record ends up exactly once, in OUT or in the errors file."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonl_files import read_jsonl, write_jsonl

from complaint_triage.batch.cli import batch
from complaint_triage.batch.work import ChunkResult

TEXTS = [
    "快递丢了，客服也不理人",
    "My card was charged twice for the same order, $40. I want a refund.",
    "热水器漏电，我孩子被电了一下，你们必须马上处理！",
    "The delivery driver left my parcel in the rain and it was soaked.",
    "你们的客服态度太差了，我要投诉到12315",
    "I have called five times about this broken fridge and nobody came. I will go to the press.",
]


def invoke(*args: str, input: str | None = None):
    result = CliRunner().invoke(batch, [*args, "--no-progress"], input=input, catch_exceptions=False)
    return result


@pytest.fixture
def good_rows():
    return [{"id": f"c{i}", "text": TEXTS[i % len(TEXTS)]} for i in range(30)]


def test_every_valid_row_once_in_input_order(tmp_path, good_rows):
    src = write_jsonl(tmp_path / "in.jsonl", good_rows)
    out = tmp_path / "out.jsonl"
    r = invoke(str(src), "-o", str(out), "--workers", "1", "--chunk-size", "7")
    assert r.exit_code == 0, r.output
    decisions = read_jsonl(out)
    assert [d["id"] for d in decisions] == [g["id"] for g in good_rows]
    assert {d["category"]["label"] for d in decisions} <= {
        "product_quality", "delivery", "billing", "refund_return", "service_attitude", "account_security",
        "safety", "facilities", "other"}
    assert "explanation" not in decisions[0]
    assert "30 rows read: 30 decided" in r.stderr


BAD_JSONL = [
    ("not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"id": "x1"}', "text: Field required"),
    ('{"text": "   "}', "text is blank"),
    ('{"text": "ok", "id": ""}', "id: String should have at least 1 character"),
    ('{"text": "\\ud83d alone"}', "lone surrogate"),
]


@pytest.mark.parametrize("line, reason", BAD_JSONL)
def test_a_bad_jsonl_record_goes_to_errors_with_its_line(tmp_path, line, reason):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": TEXTS[0]}, "", line, {"id": "b", "text": TEXTS[1]}])
    out = tmp_path / "out.jsonl"
    r = invoke(str(src), "-o", str(out), "--workers", "1")
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in read_jsonl(out)] == ["a", "b"]
    (err,) = read_jsonl(tmp_path / "out.errors.jsonl")
    assert err["line"] == 3 and err["row"] == 2 and err["level"] == "error"
    assert reason in err["reason"]


def test_non_utf8_bytes_reject_only_their_record(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"text": "fine one"}\n{"text": "bad \xff\xfe bytes"}\n{"text": "fine two"}\n')
    out = tmp_path / "out.jsonl"
    invoke(str(src), "-o", str(out), "--workers", "1", "--errors", str(tmp_path / "rejects.jsonl"))
    assert [d["id"] for d in read_jsonl(out)] == ["line-1", "line-3"]
    assert read_jsonl(tmp_path / "rejects.jsonl") == [{"level": "error", "row": 2, "line": 2,
                                                        "reason": "not UTF-8 text"}]


def test_csv_columns_are_mapped_and_unknown_ones_named(tmp_path):
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ticket", "body", "agent", "opened", "prior_complaints"])
        w.writerow(["T1", TEXTS[1], "ann", "2025-03-03T10:00:00Z", "2"])
        w.writerow(["T2", "a complaint\nthat spans\nthree lines about a late parcel", "bob", "2025-03-04", ""])
        w.writerow(["T3", "too", "few"])
        w.writerow(["T4", TEXTS[3], "cy", "2025-03-05", "0"])
    out = tmp_path / "out.csv"
    r = invoke(str(src), "-o", str(out), "--text-col", "body", "--id-col", "ticket", "--map", "opened=received_at",
               "--workers", "1")
    assert r.exit_code == 0, r.output
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["id"] for row in rows] == ["T1", "T2", "T4"]
    assert rows[0]["received_at"].startswith("2025-03-03T10:00:00")
    assert rows[0]["escalation_level"] == "2"  # prior_complaints 2: a repeat complaint is major
    assert "ignored columns (not complaint fields): agent" in r.stderr
    (err,) = read_jsonl(tmp_path / "out.errors.jsonl")
    assert err == {"level": "error", "row": 3, "line": 6, "reason": "has 3 fields, the header has 5"}


@pytest.mark.parametrize("args, message", [
    (["--text-col", "body"], "mapped column(s) not in the header: body"),
    (["--map", "x"], "expected SOURCE_COLUMN=FIELD"),
    (["--map", "a=not_a_field"], "not complaint fields: not_a_field"),
    (["--resume", "--overwrite"], "exclude each other"),
    (["--resume"], "nothing to resume"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --engine dask"),
])
def test_bad_options_stop_before_any_work(tmp_path, args, message):
    src = tmp_path / "in.csv"
    src.write_text("text,id\nhello there,1\n", encoding="utf-8")
    r = CliRunner().invoke(batch, [str(src), "-o", str(tmp_path / "o.jsonl"), "--workers", "1", *args])
    assert r.exit_code != 0
    assert message in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("name, message", [("missing.jsonl", "no such file"), ("in.txt", "cannot tell the format")])
def test_unreadable_inputs_are_clear_errors(tmp_path, name, message):
    (tmp_path / "in.txt").write_text("x", encoding="utf-8")
    r = CliRunner().invoke(batch, [str(tmp_path / name), "-o", str(tmp_path / "o.jsonl"), "--workers", "1"])
    assert r.exit_code == 1 and message in r.output


def test_stdin_and_personal_data_masked(tmp_path):
    text = "我的手机13812345678被盗刷了2000元，邮箱zhang.san@example.com也收到了诈骗邮件"
    out = tmp_path / "out.jsonl"
    r = invoke("-", "-o", str(out), "--workers", "1", input=json.dumps({"id": "p1", "text": text}) + "\n")
    assert r.exit_code == 0, r.output
    written = out.read_text(encoding="utf-8")
    assert "13812345678" not in written and "zhang.san" not in written
    assert read_jsonl(out)[0]["id"] == "p1"


def test_two_workers_write_the_same_as_one(tmp_path, good_rows):
    src = write_jsonl(tmp_path / "in.jsonl", good_rows + ["oops"] + good_rows[:5])
    outs = []
    for n in (1, 2):
        out = tmp_path / f"out{n}.jsonl"
        assert invoke(str(src), "-o", str(out), "--workers", str(n), "--chunk-size", "4").exit_code == 0
        outs.append([{k: v for k, v in d.items() if k not in ("received_at", "deadlines")} for d in read_jsonl(out)])
    assert outs[0] == outs[1]
    assert len(outs[0]) == 35


def test_an_unfinished_run_is_not_overwritten_by_accident(tmp_path, good_rows):
    src = write_jsonl(tmp_path / "in.jsonl", good_rows)
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.progress.json").write_text("{}", encoding="utf-8")
    r = CliRunner().invoke(batch, [str(src), "-o", str(out), "--workers", "1"])
    assert r.exit_code == 1 and "unfinished run" in r.output
    assert invoke(str(src), "-o", str(out), "--workers", "1", "--overwrite").exit_code == 0
    assert invoke(str(src), "-o", str(out), "--workers", "1").exit_code == 0  # a finished one may be


def test_resume_of_a_different_job_is_refused(tmp_path, good_rows):
    src = write_jsonl(tmp_path / "in.jsonl", good_rows)
    out = tmp_path / "out.jsonl"
    assert invoke(str(src), "-o", str(out), "--workers", "1").exit_code == 0
    r = CliRunner().invoke(batch, [str(src), "-o", str(out), "--workers", "1", "--resume", "--id-col", "x"])
    assert r.exit_code == 1 and "different job" in r.output


class LazyExecutor(Executor):
    """Runs a task only when its result is asked for, and counts how many are outstanding at once."""

    def __init__(self):
        self.outstanding = 0
        self.peak = 0

    def submit(self, fn, /, *args, **kwargs):
        ex = self
        ex.outstanding += 1
        ex.peak = max(ex.peak, ex.outstanding)

        class _F(Future):
            def result(self, timeout=None):
                ex.outstanding -= 1
                return fn(*args, **kwargs)

        return _F()


def test_reading_waits_for_the_oldest_chunk(tmp_path, monkeypatch):
    """Memory stays flat: however long the input, only a window of chunks is held."""
    import complaint_triage.batch.run as run_mod

    lazy = LazyExecutor()

    @contextmanager
    def fake_engine(*_a, **_k):
        yield lazy

    def fake_chunk(spec, chunk):
        return ChunkResult(chunk.seq, chunk.items[-1].row, [json.dumps({"id": it.fields["id"]}) + "\n"
                                                            for it in chunk.items], [])

    monkeypatch.setattr(run_mod, "engine", fake_engine)
    monkeypatch.setattr(run_mod, "run_chunk", fake_chunk)
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": str(i), "text": "x"} for i in range(20_000)])
    out = tmp_path / "out.jsonl"
    assert invoke(str(src), "-o", str(out), "--workers", "2", "--chunk-size", "10").exit_code == 0
    assert lazy.peak <= 5
    assert len(out.read_text().splitlines()) == 20_000


def test_kill_9_then_resume_ends_complete_and_duplicate_free(tmp_path):
    rows = [{"id": f"k{i}", "text": TEXTS[i % len(TEXTS)] + f" 订单{i}"} for i in range(3000)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    progress = tmp_path / "out.jsonl.progress.json"
    cmd = [str(Path(sys.executable).with_name("complaint-triage")), "batch", str(src), "-o", str(out), "--workers", "1",
           "--chunk-size", "20", "--no-progress"]
    log = tmp_path / "first-run.log"
    with log.open("wb") as log_f:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_f)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if progress.exists() and json.loads(progress.read_text()).get("rows_done", 0) >= 100:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        proc.wait()
        pytest.fail(f"no progress: {log.read_text()[-2000:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = json.loads(progress.read_text())["rows_done"]
    assert done_before < len(rows), "the run finished before it could be killed"
    with out.open("a", encoding="utf-8") as f:
        f.write('{"id": "half-writ')  # what a crash in the middle of a write leaves
    r = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ids = [d["id"] for d in read_jsonl(out)]
    assert ids == [row["id"] for row in rows]
    assert f"resumed after row {done_before}" in r.stderr


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    yield cluster
    cluster.close()


def test_dask_engine_writes_what_local_processes_write(tmp_path, good_rows, dask_cluster):
    src = write_jsonl(tmp_path / "in.jsonl", good_rows + ['{"text": ""}'] + good_rows[:3])
    local, remote = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    assert invoke(str(src), "-o", str(local), "--workers", "1").exit_code == 0
    r = invoke(str(src), "-o", str(remote), "--engine", "dask", "--scheduler", dask_cluster.scheduler_address,
               "--chunk-size", "5")
    assert r.exit_code == 0, r.output

    def strip(path):
        return [{k: v for k, v in d.items() if k not in ("received_at", "deadlines")} for d in read_jsonl(path)]

    assert strip(remote) == strip(local)
    assert [e["line"] for e in read_jsonl(tmp_path / "dask.errors.jsonl")] == [31]


def test_dask_engine_without_a_scheduler_starts_its_own_cluster(tmp_path, good_rows):
    pytest.importorskip("distributed")
    src = write_jsonl(tmp_path / "in.jsonl", good_rows[:8])
    out = tmp_path / "out.jsonl"
    r = invoke(str(src), "-o", str(out), "--engine", "dask", "--workers", "1")
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in read_jsonl(out)] == [g["id"] for g in good_rows[:8]]


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, good_rows, monkeypatch):
    monkeypatch.setenv("TRIAGE_DASK_CONNECT_TIMEOUT", "2s")  # a setting, not 30 s of waiting in the tests
    pytest.importorskip("distributed")
    src = write_jsonl(tmp_path / "in.jsonl", good_rows[:2])
    r = CliRunner().invoke(batch, [str(src), "-o", str(tmp_path / "o.jsonl"), "--engine", "dask",
                                   "--scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    assert r.exit_code == 1 and "cannot reach the Dask scheduler" in r.output


def test_resuming_a_finished_run_changes_nothing(tmp_path, good_rows):
    src = write_jsonl(tmp_path / "in.jsonl", good_rows)
    out = tmp_path / "out.jsonl"
    assert invoke(str(src), "-o", str(out), "--workers", "1").exit_code == 0
    before = out.read_bytes()
    r = invoke(str(src), "-o", str(out), "--workers", "1", "--resume")
    assert r.exit_code == 0
    assert out.read_bytes() == before
    assert "30 rows read (resumed after row 30): 30 decided" in r.stderr


@pytest.mark.parametrize("content, fmt, expected", [
    ('{"text": "a"}\n{"text": "b"}\n', "jsonl", 2),
    ('text,id\n"one\nrecord over\nthree lines",1\nsecond,2\n', "csv", 2),
    ("text,id\n", "csv", 0),
])
def test_the_progress_total_counts_records_not_lines(tmp_path, content, fmt, expected):
    from complaint_triage.batch.source import count_records

    path = tmp_path / f"in.{fmt}"
    path.write_text(content, encoding="utf-8")
    assert count_records(str(path), fmt) == expected


def test_a_failure_inside_the_pipeline_costs_only_its_row(tmp_path, good_rows, monkeypatch):
    from complaint_triage.pipeline import Decider

    original = Decider.decide_many

    def flaky(self, complaints, explain=False):
        if any("BOOM" in c.text for c in complaints):
            raise RuntimeError("simulated model failure")
        return original(self, complaints, explain)

    monkeypatch.setattr(Decider, "decide_many", flaky)
    rows = good_rows[:5] + [{"id": "bad", "text": "BOOM goes the model"}] + good_rows[5:10]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    assert invoke(str(src), "-o", str(out), "--workers", "1").exit_code == 0
    assert [d["id"] for d in read_jsonl(out)] == [r["id"] for r in rows if r["id"] != "bad"]
    (err,) = read_jsonl(tmp_path / "out.errors.jsonl")
    assert err["id"] == "bad" and err["line"] == 6
    assert err["reason"] == "internal error: RuntimeError: simulated model failure"


@pytest.mark.parametrize("flag, shown", [("--progress", True), ("--no-progress", False)])
def test_the_progress_bar_shows_only_when_asked_or_on_a_terminal(tmp_path, good_rows, flag, shown):
    src = write_jsonl(tmp_path / "in.jsonl", good_rows[:6])
    r = CliRunner().invoke(batch, [str(src), "-o", str(tmp_path / "o.jsonl"), "--workers", "1", flag])
    assert r.exit_code == 0
    assert ("6/6" in r.stderr and "row/s" in r.stderr) is shown


def test_a_batch_output_is_what_the_report_reads(tmp_path, good_rows):
    from complaint_triage.batch.cli_report import report

    rows = [{**r, "opened": f"2025-0{1 + i % 3}-1{i % 9}T08:00:00Z"} for i, r in enumerate(good_rows[:12])]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "decisions.jsonl"
    assert invoke(str(src), "-o", str(out), "--workers", "1", "--map", "opened=received_at").exit_code == 0
    r = CliRunner().invoke(report, [str(out), "--period", "month"])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "decisions-report" / "report.md").read_text(encoding="utf-8")
    assert "12 complaints in 3 months" in r.output
    assert "| 2025-01 |" in md and "| 2025-03 |" in md


def test_csv_output_carries_the_deadlines(tmp_path):
    from datetime import datetime

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "D1", "text": TEXTS[1], "received_at": "2025-03-07T19:00:00+08:00"}) + "\n"
                   + json.dumps({"id": "D2", "text": TEXTS[0], "received_at": "2025-03-03T10:00:00+08:00",
                                 "regime": "cn_banking"}) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    r = invoke(str(src), "-o", str(out), "--workers", "1")
    assert r.exit_code == 0, r.output
    with out.open(encoding="utf-8", newline="") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    jsonl = tmp_path / "out.jsonl"
    assert invoke(str(src), "-o", str(jsonl), "--workers", "1").exit_code == 0
    for d in read_jsonl(jsonl):
        row = rows[d["id"]]
        for column in ("acknowledge_by", "report_by", "resolve_by", "follow_up_by", "regulatory_by", "regime"):
            assert row[column] == (d["deadlines"][column] or ""), column  # the same values as the JSON lines
        assert row["calendar_unconfirmed"] == str(d["deadlines"]["calendar_unconfirmed"])
    # a Friday-evening complaint is acknowledged on a later working day; the banking regime sets regulatory_by
    assert datetime.fromisoformat(rows["D1"]["acknowledge_by"]) > datetime.fromisoformat("2025-03-08T00:00:00+08:00")
    assert rows["D2"]["regime"] == "cn_banking" and rows["D2"]["regulatory_by"].startswith("2025-03-18T23:59:59")
    assert rows["D1"]["regulatory_by"] == ""
