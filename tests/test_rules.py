"""The default policy (policy.md) as a table: each row is a complaint with overrides and the fields it must get.

Category and severity are given as agent overrides wherever the row is about policy, so these tests pin the
rules, not the model.
"""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaint_triage.contract import Complaint
from complaint_triage.policy_cases import field_value
from complaint_triage.rules.decide import PolicyDecider
from complaint_triage.rules.facts import Facts
from complaint_triage.rules.policy import PolicyError, load_policy

EN_BILL = "I was charged twice for my monthly plan."
ZH_BILL = "这个月话费被重复扣了两次。"


def case(text=EN_BILL, **kw):
    kw.setdefault("category", "billing")
    kw.setdefault("severity", "medium")
    return {"text": text, "received_at": "2026-11-24T09:00:00+00:00", **kw}


GOLDEN = [
    # routing: department by category
    *[(f"route_{cat}", case(category=cat), {"department": dept})
      for cat, dept in [("product_quality", "quality"), ("delivery", "logistics"), ("billing", "billing"),
                        ("refund_return", "after_sales"), ("service_attitude", "customer_service"),
                        ("account_security", "security"), ("safety", "safety"), ("facilities", "facilities"),
                        ("other", "customer_service")]],
    # escalation: severity alone
    ("sev_low", case(severity="low"), {"escalation.level": 0, "escalation.name": "frontline",
                                       "escalation.respond_within_hours": 24, "escalation.report_within_hours": None}),
    ("sev_medium", case(severity="medium"), {"escalation.level": 1, "escalation.name": "department"}),
    ("sev_high", case(severity="high"), {"escalation.level": 2, "escalation.respond_within_hours": 4,
                                         "escalation.report_within_hours": 24}),
    ("sev_critical", case(severity="critical"), {"escalation.level": 3, "escalation.respond_within_hours": 1,
                                                 "escalation.report_within_hours": 1}),
    # escalation: each level-2 trigger alone raises a low complaint to major and its severity to high
    ("safety_category", case(category="safety", severity="low"), {"escalation.level": 2, "severity.label": "high"}),
    ("prior_complaints", case(severity="low", prior_complaints=1), {"escalation.level": 2, "severity.label": "high"}),
    ("repeat_in_text_en", case("This is the third time I am complaining about the charge.", severity="low"),
     {"escalation.level": 2}),
    ("repeat_in_text_zh", case("这是我第三次投诉扣费的问题了", severity="low"), {"escalation.level": 2}),
    ("collective_3", case(severity="low", affected_customers=3), {"escalation.level": 2}),
    ("collective_2_is_not", case(severity="low", affected_customers=2), {"escalation.level": 0}),
    ("collective_in_text", case("我们小区三户业主联名投诉物业乱收费", severity="low"), {"escalation.level": 2}),
    ("media_threat", case("Fix this or I go to the media.", severity="low"),
     {"escalation.level": 2, "also_notify": ["public_relations", "management"]}),
    ("legal_threat", case("My lawyer will hear about this charge.", severity="low"),
     {"escalation.level": 2, "also_notify": ["legal", "management"]}),
    ("regulator_threat_zh", case("再不退我就去12315投诉", severity="low"),
     {"escalation.level": 2, "also_notify": ["legal", "management"]}),
    ("extreme_action", case("再不退钱我就去你们公司拉横幅", severity="low"), {"escalation.level": 2}),
    # escalation: each level-3 trigger alone
    ("injury", case("The charger caught fire and burned my hand.", category="safety", severity="low"),
     {"escalation.level": 3, "severity.label": "critical", "escalation.name": "crisis"}),
    ("media_exposure", case("我的视频已经上了热搜", severity="low"),
     {"escalation.level": 3, "also_notify": ["public_relations", "management"]}),
    ("legal_filed", case("We have filed a lawsuit over these charges.", severity="low"),
     {"escalation.level": 3, "also_notify": ["legal", "management"]}),
    ("affected_10", case(severity="low", affected_customers=10), {"escalation.level": 3}),
    # combinations: the highest level wins; severity is never lowered
    ("combined", case("Third time. My lawyer and the media will hear about it.", severity="high",
                      prior_complaints=2), {"escalation.level": 2, "severity.label": "high",
                                            "also_notify": ["public_relations", "legal", "management"]}),
    ("combined_crisis", case("我们已经起诉了,这是第三次投诉", severity="medium", affected_customers=4),
     {"escalation.level": 3, "severity.label": "critical"}),
    ("critical_stays", case(severity="critical"), {"severity.label": "critical"}),
    # refund rows and their order
    ("refund_not_requested", case(category="delivery", refund_requested=False), {"refund.eligibility": "not_requested"}),
    ("refund_billing_category_applies", case(refund_requested=False), {"refund.eligibility": "needs_verification"}),
    ("billing_too_old", case(incident_date="2026-06-01", company_fault_verified=True),
     {"refund.eligibility": "not_accepted"}),
    ("billing_within_window", case(incident_date="2026-07-01", company_fault_verified=True),
     {"refund.eligibility": "eligible", "refund.kind": "full"}),
    ("subscription_within_2y", case(category="refund_return", dispute_type="subscription",
                                    incident_date="2025-06-01", company_fault_verified=True),
     {"refund.eligibility": "eligible"}),
    ("subscription_too_old", case(category="refund_return", dispute_type="subscription",
                                  incident_date="2024-06-01", company_fault_verified=True),
     {"refund.eligibility": "not_accepted"}),
    ("identity_check", case(complainant_relation="other", company_fault_verified=True),
     {"refund.eligibility": "identity_check"}),
    ("family_is_fine", case(complainant_relation="family", company_fault_verified=True),
     {"refund.eligibility": "eligible"}),
    ("double_refund", case(company_fault_verified=True, double_refund_promised=True),
     {"refund.eligibility": "double_refund", "refund.kind": "double"}),
    ("double_needs_fault", case(company_fault_verified=None, double_refund_promised=True),
     {"refund.eligibility": "needs_verification"}),
    ("cause_undetermined", case(cause_undetermined_past_deadline=True), {"refund.eligibility": "eligible"}),
    ("pre_refund", case(severity="high", amount=150), {"refund.eligibility": "pre_refund", "refund.kind": "principal_only",
                                                       "refund.verify_within_days": 3}),
    ("pre_refund_limit_inclusive", case(severity="critical", amount=200), {"refund.eligibility": "pre_refund"}),
    ("pre_refund_over_limit", case(severity="high", amount=201), {"refund.eligibility": "needs_verification"}),
    ("pre_refund_needs_strong_reaction", case(severity="medium", amount=50), {"refund.eligibility": "needs_verification"}),
    ("pre_refund_via_escalation", case(severity="low", amount=50, prior_complaints=1), {"refund.eligibility": "pre_refund"}),
    ("not_eligible", case(company_fault_verified=False), {"refund.eligibility": "not_eligible"}),
    ("refund_text_request", case("东西坏了,我要退款", category="product_quality"), {"refund.eligibility": "needs_verification"}),
    ("approval_over_1000", case(amount=1000.01, company_fault_verified=True), {"refund.approval_required": True}),
    ("approval_at_1000", case(amount=1000, company_fault_verified=True), {"refund.approval_required": False}),
    ("amount_from_text", case("They charged me $2,400 twice.", company_fault_verified=True),
     {"refund.approval_required": True, "signals.amount": 2400.0}),
    # handler exclusion and overrides
    ("exclude_handler", case(category="service_attitude", subject_employee_id="E-1024"),
     {"exclude_handlers": ["E-1024"], "department": "customer_service"}),
    ("no_exclusion", case(), {"exclude_handlers": []}),
    ("override_source", case(), {"category.source": "override", "category.confidence": 1.0}),
    # review
    ("unsupported_language", {"text": "Am fost taxat de două ori pentru aceeași comandă și nimeni nu mă ajută."},
     {"needs_review": True, "department": "customer_service", "language": None}),
    # plan steps in the complaint's language
    ("plan_en_major", case(severity="high", amount=100),
     {"plan.0.action": "acknowledge", "plan.0.due_within_hours": 4}),
    ("plan_zh", case(ZH_BILL), {"language": "zh"}),
]


@pytest.fixture(scope="module")
def decider(shipped_triage):
    from complaint_triage.pipeline import Decider

    return Decider(triage=shipped_triage)


def lookup(decision: dict, key: str):
    node = decision
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@pytest.mark.parametrize("name, complaint, expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(decider, name, complaint, expected):
    d = decider.decide(Complaint(**complaint)).model_dump(mode="json")
    for key, want in expected.items():
        got = lookup(d, key)
        if isinstance(want, list):
            assert sorted(got) == sorted(want), (key, got)
        else:
            assert got == want, (key, got)
    assert d["rules_fired"], "every decision names the rules behind it"


@pytest.mark.parametrize("text", [EN_BILL, ZH_BILL, "The heater caught fire and burned my hand."])
def test_an_override_keeps_the_models_own_severity_beside_it(decider, text):
    """``severity.model_label`` is what the model said, whatever the agent's override or the escalation floor."""
    model_says = decider.triage.analyze(text).severity.label
    d = decider.decide(Complaint(**case(text, severity="critical")))
    assert d.severity.label == "critical" and d.severity.model_label == model_says


@pytest.mark.parametrize("text, lang", [(EN_BILL, "en"), (ZH_BILL, "zh")])
def test_plan_is_in_the_complaints_language(decider, text, lang):
    d = decider.decide(Complaint(**case(text, severity="high", amount=100)))
    steps = {s.action: s for s in d.plan}
    assert {"acknowledge", "report_management", "pre_refund", "follow_up", "record"} <= set(steps)
    is_zh = any("\u4e00" <= ch <= "\u9fff" for ch in steps["acknowledge"].text)
    assert is_zh == (lang == "zh")
    assert steps["follow_up"].due_within_hours == 168


def test_every_field_is_traced_to_a_rule(decider):
    d = decider.decide(Complaint(**case("My lawyer will call you.", severity="low", subject_employee_id="E1")),
                       explain=True)
    sets = " ".join(s for f in d.explanation for s in f.sets)
    for piece in ("department=", "escalation.level=", "refund.eligibility=", "also_notify+=legal",
                  "exclude_handlers", "plan+=standard", "severity.label=high"):
        assert piece in sets
    assert [f.name for f in d.explanation] == d.rules_fired


# ---------------------------------------------------------------- properties
FACTS = st.builds(
    Facts,
    category=st.sampled_from(["product_quality", "delivery", "billing", "refund_return", "service_attitude",
                              "account_security", "safety", "facilities", "other"]),
    category_confidence=st.floats(0, 1),
    severity=st.sampled_from(["low", "medium", "high", "critical"]),
    language_supported=st.booleans(),
    prior_complaints=st.integers(0, 5),
    affected_customers=st.integers(1, 20),
    repeat_in_text=st.booleans(), collective_in_text=st.booleans(), media_threat=st.booleans(),
    media_exposure=st.booleans(), legal_threat=st.booleans(), legal_action_filed=st.booleans(),
    regulator_threat=st.booleans(), injury=st.booleans(), extreme_action=st.booleans(),
    refund_requested=st.booleans(),
    days_since_incident=st.none() | st.integers(0, 1000),
    amount=st.none() | st.floats(0, 5000) | st.floats(0, 1e300),
    fault=st.sampled_from(["verified", "rejected", "unknown"]),
)
TRIGGERS = ["repeat_in_text", "collective_in_text", "media_threat", "media_exposure", "legal_threat",
            "legal_action_filed", "regulator_threat", "injury", "extreme_action"]


@pytest.fixture(scope="module")
def policy_decider():
    return PolicyDecider()


@pytest.mark.parametrize("confidence, amount", [(7.9e-06, None), (5e-324, 5e-324), (0.5, 1e20), (0.9, 1e300)])
def test_numbers_python_writes_with_an_exponent_are_accepted(confidence, amount):
    """durable_rules cannot parse 8e-06 or 1e+20 (error 204): the engine must never hand it such a number.
    Uncached, so every stage's fact reaches durable_rules' parser."""
    decider = PolicyDecider(cache=False)
    facts = Facts(category="billing", category_confidence=confidence, severity="medium", amount=amount,
                  language_supported=True)
    assert decider.decide(facts).department
    assert decider.engine.engine_calls == 3


@settings(max_examples=150, deadline=None)
@given(facts=FACTS)
def test_every_decision_has_a_department_and_a_level(policy_decider, facts):
    out = policy_decider.decide(facts)
    assert out.department
    assert 0 <= out.escalation.level <= 3
    assert out.refund.eligibility


@pytest.fixture(scope="module")
def uncached_decider():
    return PolicyDecider(cache=False)


@settings(max_examples=300, deadline=None)
@given(facts=FACTS, lang=st.sampled_from(["zh", "en"]))
def test_the_firing_cache_never_changes_a_decision(policy_decider, uncached_decider, facts, lang):
    """Cached answers are shared by facts the conditions cannot tell apart; the engine must agree on each."""
    assert policy_decider.decide(facts, lang) == uncached_decider.decide(facts, lang)


@pytest.mark.parametrize("facts, same", [
    (({"category_confidence": 0.30}, {"category_confidence": 0.44}), True),
    (({"category_confidence": 0.44}, {"category_confidence": 0.45}), False),
    (({"amount": 10.0}, {"amount": 200.0}), True),
    (({"amount": 200.0}, {"amount": 200.01}), False),
    (({"amount": 10.0}, {"amount": None}), False),
    (({"days_since_incident": 151}, {"days_since_incident": 700}), True),
    (({"category": "billing"}, {"category": "delivery"}), False),
    (({"subject_employee": "E1"}, {"subject_employee": "E2"}), True),
])
def test_firing_key_separates_exactly_what_the_conditions_test(policy_decider, facts, same):
    from complaint_triage.rules.engine import FiringKey

    rules = [r for r in policy_decider.policy.rules.values() if r.stage == "decision"]
    key = FiringKey(rules)
    assert key.usable
    base = {"category": "billing", "level": 1, "final_severity": "medium", "fault": "unknown"}
    a, b = ({**base, **f} for f in facts)
    assert (key(a) == key(b)) is same


@pytest.mark.parametrize("condition", [
    {"$lt": {"amount": "many"}},
    {"$matches": {"category": "bil.*"}},
    {"$or": {"category": "billing"}},
])
def test_a_condition_it_cannot_read_makes_the_stage_uncached(condition):
    from complaint_triage.rules.engine import FiringKey
    from complaint_triage.rules.policy import Rule

    rule = Rule(name="r", stage="decision", why="", pri=0, actions=(), condition={"all": [{"m": condition}]},
                file="x.json")
    assert FiringKey([rule]).usable is False


def test_repeated_cases_are_answered_from_the_cache():
    decider = PolicyDecider()
    facts = Facts(category="billing", category_confidence=0.8, severity="medium", language_supported=True)
    for _ in range(5):
        decider.decide(facts)
    assert decider.engine.cache_hits == 4 * 3


@settings(max_examples=150, deadline=None)
@given(facts=FACTS, trigger=st.sampled_from(TRIGGERS))
def test_adding_a_trigger_never_lowers_the_level(policy_decider, facts, trigger):
    before = policy_decider.decide(facts)
    after = policy_decider.decide(facts.model_copy(update={trigger: True}))
    assert after.escalation.level >= before.escalation.level
    order = ["low", "medium", "high", "critical"]
    assert order.index(after.final_severity) >= order.index(before.final_severity)


# ---------------------------------------------------------------- engine behaviour in a server
def base_facts(**kw):
    return Facts(**{"category": "billing", "category_confidence": 0.9, "severity": "medium",
                    "language_supported": True, **kw})


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


@pytest.mark.slow
def test_no_state_left_behind():
    """Flat memory: durable_rules keeps ~8 KB per fact never retracted, i.e. ~120 MB over these 15,000 facts.
    The cache is off and every fact differs, so each one is asserted and retracted in durable_rules itself.

    bench/rules_bench.py runs the same check over 100,000 decisions.
    """
    decider = PolicyDecider(cache=False)
    for i in range(1_000):
        decider.decide(base_facts(amount=float(i), prior_complaints=i % 3))
    before = rss_mb()
    for i in range(5_000):
        decider.decide(base_facts(amount=1_000.0 + i, prior_complaints=i % 3, severity=("low", "high")[i % 2]))
    assert decider.engine.engine_calls == 6_000 * 3
    assert rss_mb() - before < 8, (before, rss_mb())
    assert not decider.engine._fired


def test_concurrent_decisions_are_independent(policy_decider):
    """Threads share one uncached decider, so every decision runs through durable_rules while others do."""
    decider = PolicyDecider(cache=False)
    cases = [base_facts(severity=sev, amount=amt, prior_complaints=p)
             for sev in ("low", "medium", "high", "critical") for amt in (10.0, 500.0, 5000.0) for p in (0, 2)]
    expected = [policy_decider.decide(f).model_dump() for f in cases]
    work = cases * 40
    calls_before = decider.engine.engine_calls

    def run(i):
        return i % len(cases), decider.decide(work[i]).model_dump()

    with ThreadPoolExecutor(max_workers=8) as pool:
        for idx, got in pool.map(run, range(len(work))):
            assert got == expected[idx]
    assert decider.engine.engine_calls - calls_before == len(work) * 3
    assert threading.active_count() < 20


# ---------------------------------------------------------------- policy validation at load
def copy_policy(tmp_path: Path) -> Path:
    import shutil

    src = Path(load_policy().directory)
    dst = tmp_path / "policy"
    shutil.copytree(src / "rulesets", dst / "rulesets")
    shutil.copy(src / "policy.toml", dst)
    shutil.copy(src / "plan_text.toml", dst)
    return dst


def edit_rule(path: Path, stage: str, rule: str, change):
    doc = json.loads(path.read_text())
    change(doc[stage][rule])
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: (d / "rulesets" / "refund.json").write_text("{not json"), "refund.json"),
        (lambda d: edit_rule(d / "rulesets" / "refund.json", "decision", "refund_pre_refund",
                             lambda r: r["all"][0]["m"]["$and"].append({"amout": 3})), "unknown fact 'amout'"),
        (lambda d: edit_rule(d / "rulesets" / "routing.json", "decision", "route_billing",
                             lambda r: r.update(do=["department:accounts"])), "unknown department"),
        (lambda d: edit_rule(d / "rulesets" / "escalation.json", "escalation", "severity_high",
                             lambda r: r.update(do=["escalate:7"])), "level 0-3"),
        (lambda d: edit_rule(d / "rulesets" / "escalation.json", "escalation", "severity_high",
                             lambda r: r["all"][0]["m"].update({"$like": {"severity": "x"}})), "unknown operator"),
        (lambda d: edit_rule(d / "rulesets" / "refund.json", "decision", "refund_pre_refund",
                             lambda r: r["all"][0]["m"]["$and"].append({"$lte": {"amount": "$policy.refund.nope"}})),
         "refund.nope"),
        (lambda d: (d / "policy.toml").write_text((d / "policy.toml").read_text().replace(
            "pre_refund_limit = 200", 'pre_refund_limit = "two hundred"')), "pre_refund_limit"),
        (lambda d: (d / "policy.toml").write_text((d / "policy.toml").read_text().replace(
            "confidence_threshold = 0.45", "confidence_threshold = 4.5")), "confidence_threshold"),
    ],
    ids=["bad_json", "unknown_fact", "unknown_department", "bad_level", "bad_operator", "missing_threshold",
         "non_numeric_threshold", "threshold_out_of_range"],
)
def test_broken_policies_fail_at_load_naming_the_place(tmp_path, breakage, message):
    d = copy_policy(tmp_path)
    breakage(d)
    with pytest.raises(PolicyError, match=message):
        load_policy(d)


def test_a_changed_threshold_changes_decisions_and_version(tmp_path, shipped_triage):
    from complaint_triage.pipeline import Decider

    d = copy_policy(tmp_path)
    (d / "policy.toml").write_text((d / "policy.toml").read_text().replace("pre_refund_limit = 200",
                                                                           "pre_refund_limit = 500"))
    default = Decider(triage=shipped_triage)
    custom = Decider(triage=shipped_triage, policy_dir=d)
    c = Complaint(**case(severity="high", amount=400))
    assert default.decide(c).refund.eligibility == "needs_verification"
    assert custom.decide(c).refund.eligibility == "pre_refund"
    assert default.decide(c).versions.policy != custom.decide(c).versions.policy


def test_field_value_helper():
    assert field_value({"a": {"b": 1}}, "a.b") == 1
    assert field_value({"a": {}}, "a.b") is KeyError
