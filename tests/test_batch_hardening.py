"""`complaint-triage batch` under hostile inputs and paths (issue 11, items 1-7): nothing lost, one-line errors."""

from __future__ import annotations

import codecs
import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonl_files import read_jsonl, write_jsonl

from complaint_triage.batch.cli import batch
from complaint_triage.batch.source import detect_encoding, sniff_delimiter

TEXTS = [
    "快递丢了，客服也不理人",
    "My card was charged twice for the same order, $40. I want a refund.",
    "热水器漏电，我孩子被电了一下，你们必须马上处理！",
    "The delivery driver left my parcel in the rain and it was soaked.",
]
CLI = str(Path(sys.executable).with_name("complaint-triage"))


def run_batch(*args: str, input: str | None = None):
    return CliRunner().invoke(batch, [*args, "--no-progress", "--workers", "1"], input=input)


def assert_one_line_error(r, *fragments: str) -> str:
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def rows():
    return [{"id": f"c{i}", "text": TEXTS[i % len(TEXTS)]} for i in range(6)]


# ---------------------------------------------------------------- 1. input, output and errors are different files
def _same_file_cases():
    # (name, build(tmp) -> (IN, extra args)); every case names one file twice
    def out_is_input(tmp):
        return "x.jsonl", ["-o", str(tmp / "x.jsonl")]

    def out_via_dotdot(tmp):
        (tmp / "sub").mkdir()
        return "x.jsonl", ["-o", f"{tmp}/./sub/../x.jsonl"]

    def out_via_missing_dir_dotdot(tmp):
        return "x.jsonl", ["-o", f"{tmp}/nosuch/../x.jsonl"]

    def errors_is_input(tmp):
        return "x.jsonl", ["-o", str(tmp / "o.jsonl"), "--errors", str(tmp / "x.jsonl")]

    def errors_is_out(tmp):
        return "x.jsonl", ["-o", str(tmp / "o.jsonl"), "--errors", str(tmp / "o.jsonl")]

    def default_errors_is_input(tmp):  # OUT o.jsonl puts its errors in o.errors.jsonl: the input here
        os.link(tmp / "x.jsonl", tmp / "o.errors.jsonl")
        return "o.errors.jsonl", ["-o", str(tmp / "o.jsonl")]

    def out_is_hard_link(tmp):
        os.link(tmp / "x.jsonl", tmp / "link.jsonl")
        return "x.jsonl", ["-o", str(tmp / "link.jsonl")]

    def out_is_symlink(tmp):
        (tmp / "sym.jsonl").symlink_to(tmp / "x.jsonl")
        return "x.jsonl", ["-o", str(tmp / "sym.jsonl")]

    def input_is_progress_file(tmp):
        os.link(tmp / "x.jsonl", tmp / "o.jsonl.progress.json")
        return "o.jsonl.progress.json", ["-o", str(tmp / "o.jsonl"), "--format", "jsonl"]

    return [pytest.param(f, id=f.__name__) for f in (
        out_is_input, out_via_dotdot, out_via_missing_dir_dotdot, errors_is_input, errors_is_out,
        default_errors_is_input, out_is_hard_link, out_is_symlink, input_is_progress_file)]


@pytest.mark.parametrize("build", _same_file_cases())
def test_one_file_named_twice_is_refused_before_anything_is_written(tmp_path, rows, build):
    src = write_jsonl(tmp_path / "x.jsonl", rows)
    before = src.read_bytes()
    listing = sorted(p.name for p in tmp_path.iterdir())
    name, args = build(tmp_path)
    listing = sorted(p.name for p in tmp_path.iterdir())
    r = run_batch(str(tmp_path / name), *args)
    assert_one_line_error(r, "are the same file")
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no output, errors or progress file created


def test_stdin_redirected_from_the_output_file_is_refused(tmp_path, rows):
    src = write_jsonl(tmp_path / "x.jsonl", rows)
    before = src.read_bytes()
    with src.open("rb") as stdin:
        r = subprocess.run([CLI, "batch", "-", "-o", str(src), "--workers", "1", "--no-progress"], stdin=stdin,
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.strip().startswith("Error: IN (stdin) and OUT"), r.stderr
    assert src.read_bytes() == before


@pytest.mark.parametrize("out, errors", [
    # negatives: similar names, different files
    ("x.out.jsonl", None),
    ("sub/x.jsonl", None),
    ("o.jsonl", "o.jsonl.errors"),
])
def test_different_files_with_similar_names_run(tmp_path, rows, out, errors):
    src = write_jsonl(tmp_path / "x.jsonl", rows)
    args = ["-o", str(tmp_path / out)] + (["--errors", str(tmp_path / errors)] if errors else [])
    r = run_batch(str(src), *args)
    assert r.exit_code == 0, r.output
    assert len(read_jsonl(tmp_path / out)) == len(rows)


# ---------------------------------------------------------------- 2. every physical line accounted for
BROKEN_QUOTES = [
    # Each line's id is its line number. A quote opened on line 3 closes on line 6 before a delimiter: the
    # parser silently made one record of four lines (two valid complaints lost, no error entry).
    pytest.param(["2,My parcel never came,ann", '3,"The box said fragile and,bob',
                  "4,The heater caught fire and burned my hand,cy", "5,I was charged twice for one order,dan",
                  '6,the lid was cracked",eve', "7,Rude staff at the counter,fay"], {3}, id="closed-later-silently"),
    # never closed: end of file inside the quote
    pytest.param(["2,My parcel never came,ann", '3,"The box said fragile,bob', "4,The heater caught fire,cy",
                  "5,I was charged twice,dan"], {3}, id="never-closed"),
    # closed, then junk after the closing quote
    pytest.param(["2,My parcel never came,ann", '3,"The box said fragile,bob', '4,He said "no" to a refund,cy',
                  "5,I was charged twice,dan"], {3}, id="junk-after-the-closing-quote"),
    # the first data row opens it: no earlier record's id to compare with
    pytest.param(['2,"The box,bob', "3,The heater caught fire,cy", '4,the end",dan', "5,Rude staff,fay"], {2},
                 id="first-row"),
]


@pytest.mark.parametrize("body, rejected_lines", BROKEN_QUOTES)
def test_a_broken_quote_swallows_no_line(tmp_path, body, rejected_lines):
    src = tmp_path / "in.csv"
    src.write_text("id,text,agent\n" + "\n".join(body) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run_batch(str(src), "-o", str(out))
    assert r.exit_code == 0, r.output
    decided = {int(d["id"]) for d in read_jsonl(out)}
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert {e["line"] for e in errors} == rejected_lines
    assert all("quote" in e["reason"] for e in errors)
    assert decided | rejected_lines == set(range(2, len(body) + 2))  # every physical line accounted for


@pytest.mark.parametrize("text", [
    # negatives: genuine multi-line texts stay one record
    "Dear team,\nthe parcel came late, and wet.\nRegards",
    "第一行\n好的,收到\n最后一行",  # a line with the header's field count, but prose where the id would be
    "Order 12 broke, again\nOrder 13 broke, too",
    "line one\n\nline three after a blank line",
])
def test_a_genuine_multi_line_text_is_one_record(tmp_path, text):
    src = tmp_path / "in.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "text", "agent"])
        w.writerow(["T1", TEXTS[1], "ann"])
        w.writerow(["T2", text, "bob"])
        w.writerow(["T3", TEXTS[3], "cy"])
    out = tmp_path / "out.jsonl"
    r = run_batch(str(src), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in read_jsonl(out)] == ["T1", "T2", "T3"]
    assert read_jsonl(tmp_path / "out.errors.jsonl") == []


# ---------------------------------------------------------------- 3. encodings, delimiters, runs that reject everything
ZH_ROWS = [("1", "快递丢了三次了，客服还挂我电话"), ("2", "热水器漏电，孩子被电了一下"), ("3", "你们的客服态度太差了")]


@pytest.mark.parametrize("encoding, args", [
    ("gbk", []),  # what Chinese Excel saves: detected
    ("gb18030", []),
    ("gbk", ["--encoding", "gb18030"]),
    ("utf-8-sig", []),  # UTF-8 with a byte-order mark
    ("utf-16", []),  # byte-order mark
    ("utf-8", ["--encoding", "UTF-8"]),
])
def test_encodings_are_detected_or_given(tmp_path, encoding, args):
    src = tmp_path / "in.csv"
    body = "id,text\n" + "".join(f"{i},{t}\n" for i, t in ZH_ROWS)
    src.write_bytes(body.encode(encoding))
    out = tmp_path / "out.jsonl"
    r = run_batch(str(src), "-o", str(out), *args)
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in read_jsonl(out)] == ["1", "2", "3"]
    assert all(d["language"] == "zh" for d in read_jsonl(out))


def test_a_western_encoding_is_given_not_guessed(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("id,text\n1,The café charged me twice for my crème brûlée\n".encode("cp1252"))
    out = tmp_path / "out.jsonl"
    assert run_batch(str(src), "-o", str(out), "--encoding", "cp1252").exit_code == 0
    assert [d["id"] for d in read_jsonl(out)] == ["1"]


@pytest.mark.parametrize("sample, expected", [
    (b"id,text\n1,plain ascii\n", "utf-8-sig"),
    ("id,text\n1,中文\n".encode("gbk") * 20, "gb18030"),
    (codecs.BOM_UTF16_LE + "id".encode("utf-16-le"), "utf-16"),
    (codecs.BOM_UTF8 + b"id", "utf-8-sig"),
    # a UTF-8 file with one bad record stays UTF-8: the bad record alone is rejected
    ("id,text\n1,你好世界，这是一段中文\n".encode() * 5 + b"2,\xff\xfe\n", "utf-8-sig"),
    (bytes(range(256)) * 4, "utf-8-sig"),  # binary: no guess
])
def test_detect_encoding(sample, expected):
    assert detect_encoding(sample)[0] == expected


@pytest.mark.parametrize("header, default, expected", [
    ("id,text,agent", ",", ","),
    ("id;text;agent", ",", ";"),
    ("id\ttext", ",", "\t"),
    ("id|text", ",", "|"),
    ("text", "\t", "\t"),  # one column: the extension's default
    ('"a;b",c', ",", ","),  # quoted delimiter does not count
    ("id,text;x", ",", ","),  # a tie: the default
])
def test_sniff_delimiter(header, default, expected):
    assert sniff_delimiter(header, default) == expected


@pytest.mark.parametrize("delimiter, args", [(";", []), (";", ["--delimiter", ";"]), ("\t", ["--delimiter", "\\t"]),
                                            ("|", [])])
def test_other_delimiters(tmp_path, delimiter, args):
    src = tmp_path / "in.csv"
    src.write_text(f"id{delimiter}text\n1{delimiter}{TEXTS[1]}\n2{delimiter}{TEXTS[3]}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = run_batch(str(src), "-o", str(out), *args)
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in read_jsonl(out)] == ["1", "2"]


@pytest.mark.parametrize("args, message", [
    (["--delimiter", "ab"], "one character"),
    (["--encoding", "klingon"], "unknown encoding"),
])
def test_bad_encoding_or_delimiter_options(tmp_path, args, message):
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,hello\n", encoding="utf-8")
    r = run_batch(str(src), "-o", str(tmp_path / "o.jsonl"), *args)
    assert r.exit_code != 0 and message in r.output


def _csv(path: Path, header: list[str], rows: list[list[str]], delimiter=",", encoding="utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize("make, args, cause", [
    # forgotten --text-col
    (lambda p: _csv(p, ["ticket", "body"], [[str(i), TEXTS[i % 4]] for i in range(600)]), [], "--text-col"),
    # semicolons read as commas
    (lambda p: _csv(p, ["id", "text", "agent"], [[str(i), f"text, with comma {i}", "ann"] for i in range(600)],
                    delimiter=";"), ["--delimiter", ","], "--delimiter"),
    # the header read as one column: the delimiter, not the text column, is what is wrong
    (lambda p: _csv(p, ["id", "text"], [[str(i), TEXTS[i % 4]] for i in range(600)], delimiter=";"),
     ["--delimiter", "|"], "--delimiter"),
    # GBK read as UTF-8
    (lambda p: _csv(p, ["id", "text"], [[str(i), ZH_ROWS[i % 3][1]] for i in range(600)], encoding="gbk"),
     ["--encoding", "utf-8"], "--encoding"),
])
def test_a_run_that_rejects_most_rows_stops_early_naming_the_cause(tmp_path, make, args, cause):
    src = make(tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    r = run_batch(str(src), "-o", str(out), "--chunk-size", "50", *args)
    line = assert_one_line_error(r, "stopped after", "of the first 200", cause)
    assert "600" not in line.split(":")[0]
    assert len(read_jsonl(tmp_path / "out.errors.jsonl")) < 600  # stopped, did not read on


def test_a_run_that_rejects_every_row_fails_at_the_end(tmp_path):
    src = _csv(tmp_path / "in.csv", ["ticket", "body"], [[str(i), TEXTS[i % 4]] for i in range(5)])
    r = run_batch(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert_one_line_error(r, "all 5 records were rejected", "--text-col", "columns: ticket, body")
    assert len(read_jsonl(tmp_path / "out.errors.jsonl")) == 5
    # the run is complete (all accounted for); running it again with the fix does not need --overwrite
    r = run_batch(str(src), "-o", str(tmp_path / "out.jsonl"), "--text-col", "body")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("bad_every, args, ok", [
    (3, [], True),  # a third rejected: below the limit
    (2, [], False),  # half: the limit
    (2, ["--max-reject-rate", "1"], True),  # asked to go on
    (2, ["--max-reject-rate", "0.6"], True),
])
def test_the_reject_limit(tmp_path, bad_every, args, ok):
    rows = [{"id": f"r{i}"} if i % bad_every == 0 else {"id": f"r{i}", "text": TEXTS[i % 4]} for i in range(300)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    r = run_batch(str(src), "-o", str(tmp_path / "out.jsonl"), "--chunk-size", "64", *args)
    assert (r.exit_code == 0) is ok, r.output


# ---------------------------------------------------------------- 4. a bad optional field or a long text keeps the complaint
@pytest.mark.parametrize("extra, dropped", [
    ({"incident_date": "last tuesday-ish"}, ["incident_date"]),
    ({"received_at": "yesterday"}, ["received_at"]),
    ({"amount": -5}, ["amount"]),
    ({"amount": "about forty"}, ["amount"]),
    ({"language": "fr"}, ["language"]),
    ({"prior_complaints": "many"}, ["prior_complaints"]),
    ({"category": "not_a_category", "severity": "huge"}, ["category", "severity"]),
    ({"text": "我要退款" * 6000}, ["text[20000:]"]),
    ({"text": "x " * 15000, "incident_date": "??"}, ["text[20000:]", "incident_date"]),
])
def test_a_bad_optional_field_is_dropped_with_a_warning(tmp_path, extra, dropped):
    rows = [{"id": "a", "text": TEXTS[0]}, {"id": "b", "text": TEXTS[1], **extra}, {"id": "c", "text": TEXTS[2]}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    r = run_batch(str(src), "-o", str(out))
    assert r.exit_code == 0, r.output
    decisions = read_jsonl(out)
    assert [d["id"] for d in decisions] == ["a", "b", "c"]
    assert decisions[1]["needs_review"] is True
    (warning,) = read_jsonl(tmp_path / "out.errors.jsonl")
    assert warning["level"] == "warning" and warning["row"] == 2 and warning["line"] == 2 and warning["id"] == "b"
    assert warning["dropped"] == dropped
    assert "0 rejected" in r.stderr and "(1 with a warning)" in r.stderr


@pytest.mark.parametrize("line, reason", [
    # negatives: without a usable text or id the record is still rejected, as an error
    ({"id": "x", "text": ""}, "text"),
    ({"id": "x", "text": "   ", "amount": -1}, "text is blank"),
    ({"id": "i" * 201, "text": "fine"}, "id"),
    ({"id": "x", "amount": 5}, "text: Field required"),
])
def test_a_record_without_text_or_id_is_still_rejected(tmp_path, line, reason):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": TEXTS[0]}, line])
    out = tmp_path / "out.jsonl"
    assert run_batch(str(src), "-o", str(out)).exit_code == 0
    assert [d["id"] for d in read_jsonl(out)] == ["a"]
    (err,) = read_jsonl(tmp_path / "out.errors.jsonl")
    assert err["level"] == "error" and reason in err["reason"]


# ---------------------------------------------------------------- 5. a header that is not UTF-8
def test_a_non_utf8_column_name_is_ignored_and_resume_and_overwrite_work(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text,ag\xffent\n1,hello there my parcel is late,x\n2,the fridge broke,y\n")
    out = tmp_path / "out.jsonl"
    r = run_batch(str(src), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "ignored columns (not complaint fields): ag\\xffent" in r.output
    assert [d["id"] for d in read_jsonl(out)] == ["1", "2"]
    assert json.loads((tmp_path / "out.jsonl.progress.json").read_text())["ignored_columns"] == ["ag\\xffent"]
    for again in (["--overwrite"], ["--resume"]):
        r = run_batch(str(src), "-o", str(out), *again)
        assert r.exit_code == 0, r.output


def test_an_unfinished_run_over_such_a_header_resumes(tmp_path):
    """What the crash left behind: a progress file of an unfinished run."""
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text,\xe9tat\n1,hello there my parcel is late,x\n2,the fridge broke,y\n")
    out = tmp_path / "out.jsonl"
    assert run_batch(str(src), "-o", str(out)).exit_code == 0
    progress = tmp_path / "out.jsonl.progress.json"
    cp = json.loads(progress.read_text())
    cp.update(done=False, rows_done=1, decided=1, out_bytes=len(out.read_bytes().splitlines(True)[0]))
    progress.write_text(json.dumps(cp))
    r = run_batch(str(src), "-o", str(out), "--resume")
    assert r.exit_code == 0, r.output
    assert [d["id"] for d in read_jsonl(out)] == ["1", "2"]


# ---------------------------------------------------------------- 6. workers die with the parent
def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    psutil = pytest.importorskip("psutil")
    rows = [{"id": f"k{i}", "text": TEXTS[i % 4] + f" 订单{i}"} for i in range(20_000)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    progress = tmp_path / "out.jsonl.progress.json"
    proc = subprocess.Popen([CLI, "batch", str(src), "-o", str(out), "--workers", "2", "--chunk-size", "20",
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        children: list = []
        while time.monotonic() < deadline:
            children = psutil.Process(proc.pid).children(recursive=True)
            if len(children) >= 2 and progress.exists() and json.loads(progress.read_text())["rows_done"] > 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the workers never started")
        pids = [c.pid for c in children]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    alive = [p for p in pids if _alive(p)]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers outlived their parent: {alive}"


def test_a_worker_whose_parent_is_gone_exits(monkeypatch):
    """The portable fallback, without Linux's prctl: the watchdog notices a new parent and exits."""
    from complaint_triage.batch import engines

    exits = []
    monkeypatch.setattr(engines.sys, "platform", "darwin")
    monkeypatch.setattr(engines.os, "_exit", lambda code: exits.append(code))
    monkeypatch.setattr(engines, "WATCHDOG_EVERY_S", 0.01)
    engines._die_with_parent(os.getppid())  # the parent is alive: nothing happens
    assert exits == []
    engines._die_with_parent(-1)  # started by a parent that is no longer ours
    deadline = time.monotonic() + 2
    while len(exits) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exits[:2] == [1, 1]


# ---------------------------------------------------------------- 7. one line, never a traceback
def _read_only_dir(tmp: Path) -> Path:
    if os.geteuid() == 0:  # root writes through permissions; sysfs refuses new files even to root
        return Path("/sys/complaint-triage-test/out.jsonl")
    d = tmp / "ro"
    d.mkdir()
    d.chmod(0o555)
    return d / "out.jsonl"


@pytest.mark.parametrize("make_out, message", [
    (_read_only_dir, ""),
    (lambda tmp: Path("/dev/full"), "not a regular file"),
    (lambda tmp: (tmp / "afile").write_text("x") and tmp / "afile" / "out.jsonl", "afile"),
])
def test_unwritable_outputs_are_one_line_errors(tmp_path, rows, make_out, message):
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = make_out(tmp_path)
    r = run_batch(str(src), "-o", str(out))
    assert_one_line_error(r, message)


def test_a_full_disk_while_writing_is_a_one_line_error(tmp_path, rows, monkeypatch):
    import complaint_triage.batch.run as run_mod

    def full(f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(run_mod, "_sync", full)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    r = run_batch(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert_one_line_error(r, "No space left on device")


@pytest.mark.parametrize("name, content", [
    ("random.csv", bytes((i * 7919 + 13) % 256 for i in range(50_000))),
    ("nul.csv", b"id,text\n1,\x00\x00\x00\n" * 300),
    ("zip.csv", b"PK\x03\x04" + bytes(range(256)) * 40),
    ("random.jsonl", bytes((i * 7919 + 13) % 256 for i in range(50_000))),
    ("empty-header.csv", b",,,\n1,2,3,4\n"),
])
def test_binary_garbage_is_a_one_line_error(tmp_path, name, content):
    src = tmp_path / name
    src.write_bytes(content)
    r = subprocess.run([CLI, "batch", str(src), "-o", str(tmp_path / "out.jsonl"), "--workers", "1",
                        "--no-progress"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
