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
    assert set(d["category"]) == {"label", "confidence", "source"} and d["category"]["source"] == "model"
    assert set(d["severity"]) == {"label", "model_label", "confidence"}
    assert d["signals"]["injury"] and d["signals"]["refund_request"] and d["signals"]["amount"] == 300
    assert d["versions"]["model"].startswith("triage-")


def test_override_replaces_the_model(runner, small_model_dir):
    line = json.dumps({"text": "东西坏了", "category": "billing", "severity": "high"}, ensure_ascii=False)
    result = runner.invoke(main, ["decide", "--model-dir", str(small_model_dir)], input=line)
    [d] = decisions(result.stdout)
    assert d["category"] == {"label": "billing", "confidence": 1.0, "source": "override"}
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
