"""The feedback loop: labelled feedback from the store (SQLite, PostgreSQL), retraining, before/after."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from complaint_triage.cli import main
from complaint_triage.service.feedback import masked_url, read_feedback
from complaint_triage.service.store import Record, Store

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=timezone.utc)

# Ten complaints about one made-up thing, so that whatever the slice model calls them, agents can relabel them
# all to one category the model never predicted for them, and a retrained model has something to learn.
CORRECTED_EN = [
    "The Quorvex wristband at the Halvane lounge stopped opening the gate again this morning",
    "My Quorvex wristband will not open the Halvane lounge gate, I stood outside for an hour",
    "Halvane lounge gate rejected the Quorvex wristband three times, nobody came to help",
    "Quorvex wristband scanner at the Halvane lounge is broken and the gate stays shut",
    "Every visit the Halvane lounge gate ignores my Quorvex wristband and I have to wait",
    "The Halvane lounge turnstile keeps refusing my Quorvex wristband, please fix the gate",
    "Quorvex wristband blinks red at the Halvane lounge gate and the door never opens",
    "Stuck outside the Halvane lounge again because the gate does not read Quorvex wristbands",
    "Halvane lounge staff say the Quorvex wristband gate has been faulty for weeks",
    "Why does the Halvane lounge gate still not accept a Quorvex wristband after my complaint",
]
SEVERITY_ZH = [
    "快递三天都没有送到,客服一直说在路上",
    "收到的衣服尺码不对,申请换货没人处理",
    "账单上多扣了我二十块钱,请退回",
]
TARGETS = ("facilities", "safety", "account_security", "other", "billing", "delivery")



def rec(id: str, language: str | None = "en", category: str = "billing", severity: str = "low") -> Record:
    return Record(id=id, received_at=T0, text=f"masked text of {id}", language=language, category=category,
                  severity=severity, department="billing", escalation_level=0, refund_eligibility=None,
                  decision={"id": id, "category": {"label": category}, "severity": {"label": severity}})


def labelled(store: Store) -> dict[str, tuple[str, str]]:
    return {r.complaint_id: (r.category, r.severity) for r in store.labelled_feedback(batch=2)}


# ---------------------------------------------------------------- the store's labelled feedback
def test_latest_feedback_wins_per_label(store):
    store.insert(rec("a"))
    store.add_feedback("a", "delivery", "high", None, None)
    store.add_feedback("a", "safety", None, None, "on second thought")
    assert labelled(store) == {"a": ("safety", "high")}
    store.add_feedback("a", None, "critical", None, None)
    assert labelled(store) == {"a": ("safety", "critical")}


def test_latest_is_by_time_not_insertion_order(store):
    store.insert(rec("a"))
    with store.engine.begin() as conn:
        conn.execute(store.feedback.insert(), [
            {"complaint_id": "a", "category": "delivery", "created_at": T0 + timedelta(hours=2)},
            {"complaint_id": "a", "category": "safety", "created_at": T0 + timedelta(hours=1)},
        ])
    assert labelled(store) == {"a": ("delivery", "low")}


def test_an_unset_label_is_the_accepted_decision_and_department_only_rows_are_not_labels(store):
    store.insert_many([rec("a", category="billing", severity="medium"), rec("b"), rec("c", severity="high")])
    store.add_feedback("a", None, "critical", "legal", None)
    store.add_feedback("b", None, None, "logistics", "wrong team")
    store.add_feedback("c", "", None, None, None)
    rows = list(store.labelled_feedback())
    assert [(r.complaint_id, r.category, r.severity) for r in rows] == [("a", "billing", "critical")]
    assert (rows[0].decided_category, rows[0].decided_severity) == ("billing", "medium")
    assert rows[0].text == "masked text of a" and rows[0].language == "en"


def test_unsupported_language_is_skipped(store):
    store.insert_many([rec("a", language=None), rec("b", language="zh")])
    store.add_feedback("a", "delivery", None, None, None)
    store.add_feedback("b", "delivery", None, None, None)
    assert labelled(store) == {"b": ("delivery", "low")}


def test_summary_counts_languages_and_changes(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = Store(url)
    s.create_schema()
    s.insert_many([rec("a"), rec("b", language="zh"), rec("c"), rec("d", category="nonsense")])
    s.add_feedback("a", "delivery", None, None, None)
    s.add_feedback("b", None, "high", None, None)
    s.add_feedback("c", "billing", "low", None, "fine as it was")
    s.add_feedback("d", None, "high", None, None)
    s.engine.dispose()
    fb = read_feedback(url)
    assert fb.summary.items == {"zh": 1, "en": 2} and fb.summary.total == 3 and fb.summary.skipped == 1
    assert (fb.summary.category_changed, fb.summary.severity_changed) == (1, 1)
    items = fb.corpus_items(weight=2)
    assert len(items) == 6 and {(it.industry, it.style) for it in items} == {("other", "feedback")}


def test_password_is_masked():
    assert masked_url("postgresql+psycopg://u:secret@db/x") == "postgresql+psycopg://u:***@db/x"


# ---------------------------------------------------------------- train --with-feedback, evaluate --compare
@pytest.fixture(scope="module")
def slice_corpus(tmp_path_factory, small_slice):
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "slice.jsonl").write_text(
        "\n".join(it.model_dump_json(by_alias=True) for it in small_slice), encoding="utf-8")
    return corpus


@pytest.fixture(scope="module")
def feedback_db(tmp_path_factory, small_model_dir):
    """A service database as the API leaves it: decisions by the slice model, then agents' corrections."""
    from complaint_triage.contract import Complaint
    from complaint_triage.pipeline import Decider
    from complaint_triage.service.api import to_record

    decider = Decider(model_dir=small_model_dir)
    path = tmp_path_factory.mktemp("db") / "triage.db"
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    complaints = [Complaint(id=f"en{i}", text=t).with_defaults() for i, t in enumerate(CORRECTED_EN)]
    complaints += [Complaint(id=f"zh{i}", text=t).with_defaults() for i, t in enumerate(SEVERITY_ZH)]
    complaints += [Complaint(id="dept", text="The parcel arrived late and the box was dented"),
                   Complaint(id="ru", text="Посылка так и не пришла")]
    complaints = [c.with_defaults() for c in complaints]
    records = [to_record(c, d) for c, d in zip(complaints, decider.decide_many(complaints))]
    records = [dataclasses.replace(r, language=None) if r.id == "ru" else r for r in records]
    store.insert_many(records)
    old = {r.id: r.category for r in records}
    target = next(t for t in TARGETS if t not in {old[f"en{i}"] for i in range(len(CORRECTED_EN))})
    for i in range(len(CORRECTED_EN)):
        store.add_feedback(f"en{i}", target, None, None, None)
    for i in range(len(SEVERITY_ZH)):
        store.add_feedback(f"zh{i}", None, "critical", None, None)
    store.add_feedback("dept", None, None, "logistics", None)
    store.add_feedback("ru", "delivery", None, None, None)
    store.engine.dispose()
    return f"sqlite:///{path}", target


@pytest.fixture(scope="module")
def retrained(tmp_path_factory, slice_corpus, feedback_db):
    url, _ = feedback_db
    out = tmp_path_factory.mktemp("retrained")
    result = CliRunner().invoke(main, ["train", "--corpus", str(slice_corpus), "--cv", "0", "--quiet",
                                       "--out", str(out), "--with-feedback", url])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_train_with_feedback_records_it_in_the_card(retrained, feedback_db):
    out, output = retrained
    assert "using 13 agent corrections (zh 3, en 10; 10 changed the category" in output
    assert "each repeated 3x" in output
    card = json.loads((out / "model_card.json").read_text())
    assert card["feedback"]["database"] == feedback_db[0]
    assert card["feedback"]["items"] == {"zh": 3, "en": 10} and card["feedback"]["weight"] == 3


def test_the_retrained_model_learns_the_corrections(retrained, feedback_db, small_model_dir):
    from complaint_triage.triage.analyzer import Triage

    _, target = feedback_db
    before = [r.category.label for r in Triage(model_dir=small_model_dir).analyze_many(CORRECTED_EN)]
    after = [r.category.label for r in Triage(model_dir=retrained[0]).analyze_many(CORRECTED_EN)]
    assert target not in before
    assert sum(a == target for a in after) >= 8, after


def test_evaluate_compare_on_feedback(retrained, feedback_db, small_model_dir):
    runner = CliRunner()
    args = ["evaluate", "--feedback", feedback_db[0], "--model-dir", str(small_model_dir),
            "--compare", str(retrained[0])]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    before = json.loads((small_model_dir / "model_card.json").read_text())["version"]
    after = json.loads((retrained[0] / "model_card.json").read_text())["version"]
    assert f"before: model {before}" in result.output and f"after:  model {after}" in result.output
    assert "category macro-F1" in result.output and "delta" in result.output
    report = json.loads(runner.invoke(main, [*args, "--json"]).output)
    assert set(report) >= {"before", "after", "delta"} and report["data"].startswith("feedback:sqlite:///")
    en = report["delta"]["en"]["category_macro_f1"]
    assert en["after"] > en["before"] and en["delta"] == pytest.approx(en["after"] - en["before"], abs=1e-3)


def test_train_weight_needs_feedback_and_evaluate_needs_data(slice_corpus, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--corpus", str(slice_corpus), "--feedback-weight", "2"])
    assert result.exit_code == 2 and "--with-feedback" in result.output
    result = runner.invoke(main, ["evaluate"])
    assert result.exit_code == 2 and "DATA" in result.output and "--feedback" in result.output


@pytest.mark.parametrize("url, message", [
    ("not a url", "not a database URL"),
    ("sqlite:///{tmp}/missing.db", "no SQLite database file"),
    ("sqlite:///{tmp}/empty.db", "has no complaints or feedback table"),
    ("postgresql+psycopg://u:s3cret@127.0.0.1:1/x", "cannot connect to postgresql+psycopg://u:***@127.0.0.1:1/x"),
    ("sqlite:///{tmp}/nofeedback.db", "holds no agent corrections"),
])
def test_feedback_database_errors_are_messages(slice_corpus, tmp_path, url, message):
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    s = Store(f"sqlite:///{tmp_path / 'nofeedback.db'}")
    s.create_schema()
    s.insert(rec("a"))
    s.add_feedback("a", None, None, "logistics", None)
    s.engine.dispose()
    url = url.format(tmp=tmp_path)
    result = CliRunner().invoke(main, ["train", "--corpus", str(slice_corpus), "--cv", "0", "--quiet",
                                       "--out", str(tmp_path / "m"), "--with-feedback", url])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and "s3cret" not in result.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "missing.db").exists()
