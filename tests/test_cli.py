import json

import pytest
from click.testing import CliRunner

from complaint_triage.cli import main


@pytest.fixture
def runner():
    return CliRunner()


def decisions(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_decide_reads_json_lines_and_reports_bad_ones(runner, small_model_dir):
    stdin = "\n".join([
        json.dumps({"id": "a", "text": "快递丢了,客服也不理人"}, ensure_ascii=False),
        "this is not json",
        json.dumps({"id": "b", "text": ""}),
        json.dumps({"id": "c", "text": "I was charged twice for one order", "amount": 20}),
        json.dumps({"id": "d", "text": "ok", "prior_complaints": -1}),
    ])
    result = runner.invoke(main, ["decide", "--model-dir", str(small_model_dir)], input=stdin)
    assert result.exit_code == 1
    out = decisions(result.stdout)
    assert [d["id"] for d in out] == ["a", "c"]
    assert "line 2:" in result.stderr and "line 3:" in result.stderr and "line 5:" in result.stderr
    assert "Traceback" not in result.stderr


def test_decide_output_has_the_triage_half_of_the_contract(runner, small_model_dir):
    result = runner.invoke(main, ["decide", "--model-dir", str(small_model_dir), "--text",
                                  "The heater caught fire. I want a refund of $300."])
    assert result.exit_code == 0, result.stderr
    [d] = decisions(result.stdout)
    assert d["language"] == "en"
    assert set(d["category"]) == {"label", "confidence", "source", "alternatives"}
    assert d["category"]["source"] == "model"
    assert set(d["severity"]) == {"label", "model_label", "confidence"}
    assert d["signals"]["injury"] and d["signals"]["refund_request"] and d["signals"]["amount"] == 300
    assert d["versions"]["model"].startswith("triage-")


def test_override_replaces_the_model(runner, small_model_dir):
    line = json.dumps({"text": "东西坏了", "category": "billing", "severity": "high"}, ensure_ascii=False)
    result = runner.invoke(main, ["decide", "--model-dir", str(small_model_dir)], input=line)
    [d] = decisions(result.stdout)
    assert d["category"] == {"label": "billing", "confidence": 1.0, "source": "override", "alternatives": []}
    assert d["severity"]["label"] == "high"


def test_train_and_evaluate_commands(runner, tmp_path, small_slice):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "slice.jsonl").write_text(
        "\n".join(it.model_dump_json(by_alias=True) for it in small_slice), encoding="utf-8")
    out = tmp_path / "model"
    result = runner.invoke(main, ["train", "--corpus", str(corpus), "--out", str(out), "--cv", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "CV category macro-F1" in result.output
    data = tmp_path / "eval.jsonl"
    data.write_text("\n".join(json.dumps({"id": str(i), "text": it.text, "category": it.category,
                                          "severity": it.severity}, ensure_ascii=False)
                              for i, it in enumerate(small_slice[:60])), encoding="utf-8")
    result = runner.invoke(main, ["evaluate", str(data), "--model-dir", str(out), "--record", "slice"])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "confusion" in result.output
    card = json.loads((out / "model_card.json").read_text())
    assert card["evaluations"]["slice"]["languages"]


def test_evaluate_rejects_unlabelled_data(runner, tmp_path, small_model_dir):
    data = tmp_path / "x.jsonl"
    data.write_text('{"id": "1", "text": "hello"}\n')
    result = runner.invoke(main, ["evaluate", str(data), "--model-dir", str(small_model_dir)])
    assert result.exit_code == 1 and "no labelled rows" in result.output


def test_a_tampered_model_is_a_message_not_a_traceback(runner, small_model_dir, tmp_path):
    import shutil

    bad = tmp_path / "m"
    shutil.copytree(small_model_dir, bad)
    (bad / "model.npz").write_bytes(b"junk")
    result = runner.invoke(main, ["decide", "--model-dir", str(bad), "--text", "hi there"])
    assert result.exit_code == 1 and "refusing" in result.output and "Traceback" not in result.output


def test_a_model_of_another_format_is_refused_with_a_message(runner, small_model_dir, tmp_path):
    import shutil

    old = tmp_path / "m"
    shutil.copytree(small_model_dir, old)
    card = json.loads((old / "model_card.json").read_text())
    card["format"] = 0
    (old / "model_card.json").write_text(json.dumps(card))
    result = runner.invoke(main, ["decide", "--model-dir", str(old), "--text", "hi there"])
    assert result.exit_code == 1 and "format" in result.output and "retrain" in result.output


def test_train_refuses_to_overwrite_the_shipped_model(runner):
    from complaint_triage.models import SHIPPED_MODEL_DIR

    result = runner.invoke(main, ["train", "--out", str(SHIPPED_MODEL_DIR), "--cv", "0", "--quiet"])
    assert result.exit_code == 2 and "shipped" in result.output


# ---------------------------------------------------------------- policy owners' tools
def test_rules_test_runs_the_shipped_table_and_its_help_example(runner, small_model_dir):
    from complaint_triage.rules.policy import DEFAULT_POLICY_DIR

    result = runner.invoke(main, ["rules", "test", "--help"])
    example = next(line.split("Example:")[1].split() for line in result.output.splitlines() if "Example:" in line)
    assert example[:3] == ["complaint-triage", "rules", "test"]
    result = runner.invoke(main, ["rules", "test", "--policy", str(DEFAULT_POLICY_DIR),
                                  "--model-dir", str(small_model_dir)])
    assert result.exit_code == 0, result.output
    assert "14/14 cases pass" in result.output


def test_rules_test_reports_each_mismatch(runner, small_model_dir, tmp_path):
    table = tmp_path / "cases.jsonl"
    table.write_text(json.dumps({"name": "wrong", "input": {"text": "charged twice", "category": "billing",
                                                            "severity": "low"},
                                 "expect": {"department": "legal", "escalation.level": 0}}) + "\n")
    result = runner.invoke(main, ["rules", "test", str(table), "--model-dir", str(small_model_dir)])
    assert result.exit_code == 1
    assert "FAIL wrong" in result.output and "department" in result.output and "0/1 cases pass" in result.output


def copy_policy_with_department(tmp_path, department):
    import shutil

    from complaint_triage.rules.policy import DEFAULT_POLICY_DIR

    dst = tmp_path / "policy"
    shutil.copytree(DEFAULT_POLICY_DIR, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__", "examples"))
    routing = dst / "rulesets" / "routing.json"
    doc = json.loads(routing.read_text())
    for rules in doc.values():
        for rule in rules.values():
            rule["do"] = [f"department:{department}" if a.startswith("department:") else a for a in rule["do"]]
    routing.write_text(json.dumps(doc))
    return dst


def test_decide_with_another_policy_and_explain(runner, small_model_dir, tmp_path):
    policy = copy_policy_with_department(tmp_path, "legal")
    result = runner.invoke(main, ["decide", "--model-dir", str(small_model_dir), "--policy", str(policy),
                                  "--explain", "--text", "I was charged twice for one order"])
    assert result.exit_code == 0, result.output
    [d] = decisions(result.stdout)
    assert d["department"] == "legal"
    assert "explanation" not in d
    explained = result.stderr
    assert explained.startswith("# ") and "→ legal" in explained
    for rule in d["rules_fired"]:
        assert f"#   {rule} [" in explained


# ---------------------------------------------------------------- settings from the environment
def test_one_model_directory_variable_for_cli_batch_and_service(runner, small_model_dir, tmp_path, monkeypatch):
    from complaint_triage.service.api import process_decider
    from complaint_triage.service.settings import Settings
    from complaint_triage.triage.model import read_card

    small_version = read_card(small_model_dir)["version"]
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(small_model_dir))
    result = runner.invoke(main, ["decide", "--text", "包裹丢了"])
    [d] = decisions(result.stdout)
    assert d["versions"]["model"] == small_version
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": "1", "text": "包裹丢了"}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = runner.invoke(main, ["batch", str(src), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["versions"]["model"] == small_version
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert process_decider(settings).triage.model_version == small_version


def test_service_settings_come_from_the_environment(monkeypatch, tmp_path):
    from complaint_triage.service.settings import Settings

    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("TRIAGE_API_KEYS", "k1, k2")
    monkeypatch.setenv("TRIAGE_MAX_BATCH", "7")
    monkeypatch.setenv("TRIAGE_POLICY_DIR", str(tmp_path))
    s = Settings()
    assert (s.database_url, s.key_set, s.max_batch, s.policy_dir) == (
        "sqlite:///from-env.db", frozenset({"k1", "k2"}), 7, tmp_path)


def test_serve_takes_model_and_policy_directories(small_model_dir, tmp_path, monkeypatch):
    """The options reach the settings the server is started with (the server itself is tested in test_serve)."""
    from complaint_triage.service import server

    seen = {}
    monkeypatch.setattr(server, "run", lambda settings, **kw: seen.update(settings=settings, **kw))
    policy = copy_policy_with_department(tmp_path, "legal")
    result = CliRunner().invoke(main, ["serve", "--model-dir", str(small_model_dir), "--policy", str(policy),
                                       "--port", "0"])
    assert result.exit_code == 0, result.output
    assert seen["settings"].model_dir == small_model_dir and seen["settings"].policy_dir == policy


# ---------------------------------------------------------------- the README documents every command
def _commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


@pytest.mark.parametrize("command", sorted(_commands(main)))
def test_every_command_is_documented_in_the_readme(command):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"`complaint-triage {command}" in readme
