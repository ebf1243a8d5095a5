"""Loading and validating a policy directory: policy.toml, plan_text.toml and rulesets/*.json.

All checks happen here, at start-up: a malformed file, an unknown fact, an unknown action or a threshold that
is missing or not a number is a ``PolicyError`` naming the file and the rule, never a surprise at request time.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from complaint_triage.contract import DEPARTMENTS, REFUND_ELIGIBILITIES
from complaint_triage.rules.calendar import CalendarConfigError, DeadlinePolicy
from complaint_triage.rules.facts import FACT_NAMES

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent
STAGES = ("escalation", "decision", "plan")
_OPERATORS = {"$and", "$or", "$gt", "$gte", "$lt", "$lte", "$neq", "$ex", "$nex"}
_RULE_KEYS = {"why", "all", "do", "pri"}
_STAGE_ACTIONS = {
    "escalation": {"escalate"},
    "decision": {"department", "notify", "review", "exclude", "refund", "approval"},
    "plan": {"plan"},
}


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Action:
    verb: str
    arg: str | None


@dataclass(frozen=True)
class Rule:
    name: str
    stage: str
    why: str
    pri: int
    actions: tuple[Action, ...]
    condition: dict
    file: str


@dataclass
class Policy:
    directory: Path
    thresholds: dict
    rules: dict[str, Rule]
    plan_steps: list[dict]
    version: str
    files: list[str] = field(default_factory=list)

    def threshold(self, dotted: str):
        node = self.thresholds
        for part in dotted.split("."):
            node = node[part]
        return node

    def escalation_level(self, level: int) -> dict:
        return self.thresholds["escalation"][str(level)]


def _fail(file: str, rule: str | None, msg: str) -> PolicyError:
    where = f"{file}, rule {rule!r}" if rule else file
    return PolicyError(f"policy error in {where}: {msg}")


def _check_condition(node, file: str, rule: str, thresholds: dict):
    """Validates names and operators, and substitutes "$policy.x.y" references with numbers."""
    if isinstance(node, list):
        return [_check_condition(n, file, rule, thresholds) for n in node]
    if not isinstance(node, dict):
        raise _fail(file, rule, f"expected an object in the condition, got {node!r}")
    out = {}
    for key, value in node.items():
        if key.startswith("$"):
            if key not in _OPERATORS:
                raise _fail(file, rule, f"unknown operator {key!r}")
            out[key] = _check_condition(value, file, rule, thresholds)
            continue
        if key not in FACT_NAMES:
            raise _fail(file, rule, f"unknown fact {key!r}; known facts: {', '.join(sorted(FACT_NAMES))}")
        if isinstance(value, str) and value.startswith("$policy."):
            node_ = thresholds
            for part in value[len("$policy."):].split("."):
                if not isinstance(node_, dict) or part not in node_:
                    raise _fail(file, rule, f"{value} is not set in policy.toml")
                node_ = node_[part]
            if isinstance(node_, bool) or not isinstance(node_, (int, float)):
                raise _fail(file, rule, f"{value} must be a number, got {node_!r}")
            value = node_
        elif isinstance(value, (dict, list)):
            raise _fail(file, rule, f"fact {key!r} must be compared with a value, not {value!r}")
        out[key] = value
    return out


def _parse_action(text: str, stage: str, file: str, rule: str) -> Action:
    verb, _, arg = text.partition(":")
    if verb not in _STAGE_ACTIONS[stage]:
        raise _fail(file, rule, f"action {text!r} is not allowed in the {stage} stage "
                                f"(allowed: {', '.join(sorted(_STAGE_ACTIONS[stage]))})")
    arg = arg or None
    if verb == "escalate" and arg not in {"0", "1", "2", "3"}:
        raise _fail(file, rule, f"escalate needs a level 0-3, got {arg!r}")
    if verb in {"department", "notify"} and arg not in DEPARTMENTS:
        raise _fail(file, rule, f"unknown department {arg!r}")
    if verb == "refund" and arg not in REFUND_ELIGIBILITIES:
        raise _fail(file, rule, f"unknown refund eligibility {arg!r}")
    return Action(verb, arg)


def _check_thresholds(t: dict, path: Path) -> None:
    need = ["review.confidence_threshold", "collective.major_customers", "collective.crisis_customers",
            "refund.billing_window_days", "refund.subscription_window_days", "refund.pre_refund_limit",
            "refund.pre_refund_verify_days", "refund.approval_threshold", "plan.verify_within_hours",
            "plan.follow_up_within_hours"]
    for dotted in need:
        node = t
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise _fail(path.name, None, f"{dotted} is missing")
            node = node[part]
        if isinstance(node, bool) or not isinstance(node, (int, float)) or node < 0:
            raise _fail(path.name, None, f"{dotted} must be a number ≥ 0, got {node!r}")
    if not 0 <= t["review"]["confidence_threshold"] <= 1:
        raise _fail(path.name, None, "review.confidence_threshold must be between 0 and 1")
    for level in ("0", "1", "2", "3"):
        spec = t.get("escalation", {}).get(level)
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not isinstance(
            spec.get("respond_within_hours"), (int, float)
        ):
            raise _fail(path.name, None, f"escalation.{level} needs a name and respond_within_hours")
    try:  # [calendar] and [regimes]: parsed by the calendar module, so the loader and the clock agree
        DeadlinePolicy.from_thresholds(t)
    except CalendarConfigError as e:
        raise _fail(path.name, None, str(e)) from e


def load_policy(directory: Path | str | None = None) -> Policy:
    directory = Path(directory or DEFAULT_POLICY_DIR)
    policy_path = directory / "policy.toml"
    plan_path = directory / "plan_text.toml"
    rules_dir = directory / "rulesets"
    for p in (policy_path, plan_path):
        if not p.is_file():
            raise PolicyError(f"policy error: {p} is missing")
    files = sorted(rules_dir.glob("*.json"))
    if not files:
        raise PolicyError(f"policy error: no rule files in {rules_dir}")
    digest = hashlib.sha256()
    try:
        thresholds = tomllib.loads(policy_path.read_text(encoding="utf-8"))
        plan = tomllib.loads(plan_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"policy error: {e}") from e
    _check_thresholds(thresholds, policy_path)
    steps = plan.get("step", [])
    if not steps or any(not {"action", "en", "zh"} <= set(s) for s in steps):
        raise _fail(plan_path.name, None, "every [[step]] needs action, en and zh")

    rules: dict[str, Rule] = {}
    for path in [policy_path, plan_path, *files]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for path in files:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise _fail(path.name, None, f"invalid JSON at line {e.lineno}: {e.msg}") from e
        if not isinstance(doc, dict):
            raise _fail(path.name, None, "expected an object {stage: {rule: ...}}")
        for stage, stage_rules in doc.items():
            if stage not in STAGES:
                raise _fail(path.name, None, f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
            for name, spec in stage_rules.items():
                if name in rules:
                    raise _fail(path.name, name, f"rule name already used in {rules[name].file}")
                if not isinstance(spec, dict) or set(spec) - _RULE_KEYS or "all" not in spec or "do" not in spec:
                    raise _fail(path.name, name, f"a rule has keys all, do and optionally why, pri; got {spec!r}")
                if not isinstance(spec["all"], list) or not all(isinstance(x, dict) and set(x) == {"m"}
                                                                for x in spec["all"]):
                    raise _fail(path.name, name, 'all must be a list of {"m": condition}')
                condition = [{"m": _check_condition(x["m"], path.name, name, thresholds)} for x in spec["all"]]
                actions = tuple(_parse_action(a, stage, path.name, name) for a in spec["do"])
                pri = spec.get("pri", 10)
                if not isinstance(pri, int):
                    raise _fail(path.name, name, "pri must be an integer")
                rules[name] = Rule(name, stage, spec.get("why", ""), pri, actions, {"all": condition}, path.name)
    return Policy(directory, thresholds, rules, steps, f"policy-{digest.hexdigest()[:10]}", [f.name for f in files])
