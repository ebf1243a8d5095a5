"""Trustworthy triage (issue 12): danger found in context and not invented from single words, flags measured
on the project's own signal test set, secondary categories, and confidences that can be calibrated."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from complaint_triage.contract import Complaint


@pytest.fixture(scope="module")
def decider(shipped_triage):
    from complaint_triage.pipeline import Decider

    return Decider(triage=shipped_triage)


# ---------------------------------------------------------------- danger, found and not invented
@pytest.mark.parametrize("text", [
    # people trapped: the policy's own level-3 example, without the word "trapped"
    "The lift stopped between floors with four people inside.",
    "电梯坏了，里面困着三个人",
    "我爸爸被关在电梯里面出不来",
    # gas
    "I smell gas in the whole flat.",
    "楼道里有很浓的煤气味",
    # fire and injury, the plain cases
    "The space heater I bought caught fire last night and burned my hand.",
    "热水器漏电，孩子被电了一下",
])
def test_danger_is_found_and_is_a_crisis(decider, text):
    d = decider.decide(Complaint(text=text))
    assert d.signals.injury and d.escalation.level == 3
    assert any(e.signal == "injury" and text[e.start:e.end] == e.text for e in d.signals.evidence)


@pytest.mark.parametrize("text", [
    # figurative speech
    "我真的气炸了，快递又晚了",
    "你们的营销爆炸，每天十几条短信",
    "This is an explosion of lies from your sales team.",
    "You should fire him, he was rude.",
    # a phone menu, a product, a price, an irrelevant smell, a negation
    "客服被困在语音菜单里半小时",
    "My blood pressure monitor arrived late.",
    "The smoke alarm was priced $5 higher than online.",
    "The room smelled of cigarette smoke.",
    "The heater gets warm but no fire, it's useless.",
])
def test_single_words_do_not_raise_a_crisis(decider, text):
    d = decider.decide(Complaint(text=text))
    assert not d.signals.injury
    assert d.escalation.level < 3
    assert d.category.label != "safety"
    assert "safety" not in {a.label for a in d.category.alternatives} and "safety" not in d.also_notify


@pytest.mark.parametrize("text, flag", [
    ("I will post everything to the newspapers and TV", "media_threat"),   # plurals
    ("三次了，还是没人处理", "repeat"),
    ("每次打客服都说在处理", "repeat"),
    ("Five households in our building have had no water since Monday.", "collective"),
    ("Five of us have signed this letter about the service charge.", "collective"),
])
def test_paraphrased_threats_repeats_and_collectives(decider, text, flag):
    d = decider.decide(Complaint(text=text))
    assert getattr(d.signals, flag)
    assert d.escalation.level >= 2


# ---------------------------------------------------------------- the signal test set
def _held_out(cases):
    """Odd ids were read while writing the context lexicon; even ids never were: they measure it."""
    return [c for c in cases if int(c["id"].rsplit("-", 1)[1]) % 2 == 0]


# Floors a little under what the shipped model measured on the held-out half (README, "Signals"): a change
# that loses more than that fails here.
FLOORS = {"precision": 0.6, "recall": 0.5, "danger_false_alarms": 0.06}


def test_signal_flags_hold_their_measured_level_on_the_held_out_half(shipped_triage, signal_cases):
    from complaint_triage.triage.evaluate import evaluate_signals

    report = evaluate_signals(shipped_triage, _held_out(signal_cases))
    for lang, r in report.items():
        for flag, m in r["flags"].items():
            assert m["precision"] >= FLOORS["precision"], (lang, flag, m)
            assert m["recall"] >= FLOORS["recall"], (lang, flag, m)
        assert r["flags"]["danger"]["false_alarm_rate"] <= FLOORS["danger_false_alarms"], lang


def test_the_test_set_is_large_and_a_third_hard_negatives(signal_cases):
    for lang in ("zh", "en"):
        mine = [c for c in signal_cases if c["lang"] == lang]
        assert len(mine) >= 300
        assert sum(c["kind"] == "hard_negative" for c in mine) >= len(mine) / 3


def test_every_evidence_offset_is_exact(shipped_triage, signal_cases):
    sample = signal_cases[::3]
    for lang in ("zh", "en"):
        texts = [c["text"] for c in sample if c["lang"] == lang]
        for text, r in zip(texts, shipped_triage.analyze_many(texts, [lang] * len(texts))):
            for e in r.signals.evidence:
                assert text[e.start:e.end] == e.text


# ---------------------------------------------------------------- secondary categories
MULTI = [
    "The courier threw my parcel over the fence, was rude when I asked, and the vase inside arrived smashed.",
    "快递员态度恶劣还骂人，收到的杯子也是碎的，要求赔偿",
    "I was charged twice for the same order and the refund you promised two weeks ago never came.",
]


@pytest.mark.parametrize("text", MULTI)
def test_alternatives_follow_the_policy(decider, text):
    threshold = decider.policy.policy.thresholds["secondary"]["threshold"]
    d = decider.decide(Complaint(text=text))
    alts = d.category.alternatives
    assert len(alts) <= 2
    assert all(a.label != d.category.label and a.confidence >= threshold for a in alts)
    assert [a.confidence for a in alts] == sorted((a.confidence for a in alts), reverse=True)
    routing = {"product_quality": "quality", "delivery": "logistics", "billing": "billing",
               "refund_return": "after_sales", "service_attitude": "customer_service",
               "account_security": "security", "safety": "safety", "facilities": "facilities",
               "other": "customer_service"}
    for a in alts:
        dept = routing[a.label]
        assert dept == d.department or dept in d.also_notify
        assert f"secondary_{a.label}_{alts.index(a) + 1}" in d.rules_fired


def test_a_multi_problem_complaint_gets_an_alternative(decider):
    assert any(decider.decide(Complaint(text=t)).category.alternatives for t in MULTI)


def test_an_agents_category_has_no_alternatives(decider):
    d = decider.decide(Complaint(text=MULTI[0], category="delivery"))
    assert d.category.alternatives == [] and d.category.source == "override"


def test_the_secondary_threshold_is_the_policys(shipped_triage, tmp_path):
    from complaint_triage.pipeline import Decider
    from complaint_triage.rules.policy import DEFAULT_POLICY_DIR

    policy = tmp_path / "policy"
    shutil.copytree(DEFAULT_POLICY_DIR, policy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    toml = policy / "policy.toml"
    toml.write_text(toml.read_text().replace("threshold = 0.30 ", "threshold = 0.001"))
    d = Decider(triage=shipped_triage, policy_dir=policy).decide(Complaint(text=MULTI[0]))
    assert len(d.category.alternatives) == 2


# ---------------------------------------------------------------- calibration
def test_ece_is_zero_when_confidence_is_accuracy():
    from complaint_triage.triage.calibration import expected_calibration_error

    conf = np.array([0.75] * 8)
    correct = np.array([1, 1, 1, 0, 1, 1, 1, 0], dtype=bool)
    assert expected_calibration_error(conf, correct) == 0.0
    assert expected_calibration_error(np.array([0.95] * 4), np.array([0, 0, 0, 1], dtype=bool)) == 0.7


def test_risk_coverage_routes_fewer_as_the_threshold_rises():
    from complaint_triage.triage.calibration import risk_coverage

    rows = risk_coverage(np.array([0.2, 0.5, 0.7, 0.9]), np.array([0, 0, 1, 1], dtype=bool))
    coverage = [r["coverage"] for r in rows]
    assert coverage == sorted(coverage, reverse=True)
    assert next(r for r in rows if r["threshold"] == 0.6) == {"threshold": 0.6, "coverage": 0.5, "accuracy": 1.0}


def test_temperature_softens_an_overconfident_model():
    from complaint_triage.triage.calibration import fit_temperature

    rng = np.random.default_rng(3)
    n, k = 2000, 4
    gold = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), gold] += 1.0
    p = np.exp(logits * 3)  # three times too sharp
    p /= p.sum(1, keepdims=True)
    assert fit_temperature(p, gold) > 1.5


def test_calibrate_writes_temperatures_into_a_copy_and_it_still_loads(small_model_dir, tmp_path):
    from click.testing import CliRunner

    from complaint_triage.cli import main
    from complaint_triage.models import SHIPPED_MODEL_DIR
    from complaint_triage.triage.model import load_model, read_card

    model = tmp_path / "m"
    shutil.copytree(small_model_dir, model)
    data = tmp_path / "dev.jsonl"
    rows = [{"id": str(i), "text": t, "category": c} for i, (t, c) in enumerate([
        ("包裹三天了还没到", "delivery"), ("多扣了我五十块", "billing"), ("The parcel never came", "delivery"),
        ("Charged twice this month", "billing"), ("房间很脏", "facilities"), ("Rude staff at the desk", "service_attitude"),
    ])]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = CliRunner().invoke(main, ["calibrate", str(data), "--model-dir", str(model)])
    assert result.exit_code == 0, result.output
    card = read_card(model)
    assert set(card["calibration"]["languages"]) == {"zh", "en"}
    loaded = load_model(model)
    assert "category" in loaded.languages["en"].temperature
    refused = CliRunner().invoke(main, ["calibrate", str(data), "--model-dir", str(SHIPPED_MODEL_DIR)])
    assert refused.exit_code == 2


def test_signal_heads_saved_as_arrays_equal_scikit_learns(small_slice, tmp_path):
    """The learned signal heads are logistic regressions; saved as arrays they give scikit-learn's numbers."""
    from sklearn.linear_model import LogisticRegression

    from complaint_triage.triage.features import tokenize
    from complaint_triage.triage.fit import LanguageModel
    from complaint_triage.triage.model import Hyperparams, SignalHeads, TriageModel, load_model

    sel = [it for it in small_slice if it.lang == "en"]
    lm = LanguageModel.fit("en", [it.text for it in sel], [it.category for it in sel],
                           [it.severity for it in sel], Hyperparams()).to_arrays()
    X = lm.features(tokenize([it.text for it in sel], "en"))
    y = np.array([it.category == "safety" for it in sel])
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    lm.signals = SignalHeads(["danger"], [0.5], np.ascontiguousarray(clf.coef_.T), clf.intercept_.copy(), [0.1])
    TriageModel("v", {"en": lm}).save(tmp_path, {})
    loaded = load_model(tmp_path).languages["en"]
    ours = np.array([s.signals["danger"] for s in loaded.score(tokenize([it.text for it in sel], "en"))])
    np.testing.assert_allclose(ours, clf.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
