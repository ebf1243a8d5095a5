"""Facts → department, escalation, refund and plan, by running the policy's three rule stages.

Stage order is the policy's own dependency order: escalation decides the level and the final severity, the
decision stage needs them (management notice, pre-refund on high severity), and the plan stage needs the
refund outcome. How competing rules combine is fixed here and documented in the README: the highest
escalation level wins; for department and refund the rule with the lowest ``pri`` wins (refund rows are the
policy's ordered table); notices, plan steps and exclusions accumulate.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import BaseModel

from complaint_triage.contract import Escalation, FiredRule, PlanStep, Refund
from complaint_triage.rules.engine import RulesEngine
from complaint_triage.rules.facts import Facts
from complaint_triage.rules.policy import Policy, Rule, load_policy

SEVERITY_ORDER = ("low", "medium", "high", "critical")
LEVEL_FLOOR = {2: "high", 3: "critical"}
REFUND_KIND = {"double_refund": "double", "eligible": "full", "pre_refund": "principal_only"}
_call_ids = itertools.count()


class PolicyOutcome(BaseModel):
    department: str
    also_notify: list[str]
    exclude_handlers: list[str]
    escalation: Escalation
    final_severity: str
    refund: Refund
    plan: list[PlanStep]
    needs_review: bool
    rules_fired: list[str]
    explanation: list[FiredRule]


class PolicyDecider:
    def __init__(self, policy: Policy | None = None, cache: bool = True):
        self.policy = policy or load_policy()
        self.engine = RulesEngine(self.policy, cache=cache)
        # Plan steps and explanation entries depend on a handful of values each; built once, shared (frozen).
        self._memo: dict[tuple, Any] = {}

    @property
    def version(self) -> str:
        return self.policy.version

    def decide(self, facts: Facts, lang: Literal["zh", "en"] = "en") -> PolicyOutcome:
        rid = f"d{next(_call_ids)}"
        base = facts.model_dump()
        used: list[tuple[Rule, list[str]]] = []

        esc_rules = self.engine.fire("escalation", base, rid)
        level = max((int(a.arg) for r in esc_rules for a in r.actions if a.verb == "escalate"), default=0)
        for r in esc_rules:
            if any(int(a.arg) == level for a in r.actions):
                used.append((r, [f"escalation.level={level}"]))
        final = max(facts.severity, LEVEL_FLOOR.get(level, "low"), key=SEVERITY_ORDER.index)
        if final != facts.severity:
            used.append((_floor_rule(level), [f"severity.label={final}"]))

        dec_rules = self.engine.fire("decision", {**base, "level": level, "final_severity": final}, rid)
        department = _lowest_pri(dec_rules, "department")
        refund = _lowest_pri(dec_rules, "refund")
        notify: list[str] = []
        exclude: list[str] = []
        needs_review = approval = False
        for r in dec_rules:
            sets = []
            for a in r.actions:
                if a.verb == "department" and department and r is department[0]:
                    sets.append(f"department={a.arg}")
                elif a.verb == "refund" and refund and r is refund[0]:
                    sets.append(f"refund.eligibility={a.arg}")
                elif a.verb == "notify" and a.arg not in notify:
                    notify.append(a.arg)
                    sets.append(f"also_notify+={a.arg}")
                elif a.verb == "exclude" and facts.subject_employee:
                    exclude = [facts.subject_employee]
                    sets.append("exclude_handlers")
                elif a.verb == "review":
                    needs_review = True
                    sets.append("needs_review=true")
                elif a.verb == "approval":
                    approval = True
                    sets.append("refund.approval_required=true")
            if sets:
                used.append((r, sets))
        if department is None:
            raise RuntimeError(f"policy {self.policy.version} routed no department for category {facts.category!r}")
        eligibility = refund[1] if refund else "not_requested"
        dept = department[1]
        if dept in notify:
            notify.remove(dept)

        plan_rules = self.engine.fire(
            "plan", {"level": level, "refund": eligibility, "approval_required": approval,
                     "needs_review": needs_review}, rid)
        wanted = {a.arg for r in plan_rules for a in r.actions}
        for r in plan_rules:
            used.append((r, [f"plan+={a.arg}" for a in r.actions]))

        esc = self.policy.escalation_level(level)
        th = self.policy.thresholds
        verify_days = int(th["refund"]["pre_refund_verify_days"])
        return PolicyOutcome(
            department=dept,
            also_notify=notify,
            exclude_handlers=exclude,
            escalation=Escalation(level=level, name=esc["name"], respond_within_hours=esc["respond_within_hours"],
                                  report_within_hours=esc.get("report_within_hours")),
            final_severity=final,
            refund=Refund(
                eligibility=eligibility, kind=REFUND_KIND.get(eligibility),
                reason=refund[0].why if refund else "No refund rule applied.",
                verify_within_days=verify_days if eligibility == "pre_refund" else None,
                approval_required=approval,
            ),
            plan=self._plan_for(frozenset(wanted), level, lang),
            needs_review=needs_review,
            rules_fired=[r.name for r, _ in used],
            explanation=[self._fired_rule(r, s) for r, s in used],
        )

    def _fired_rule(self, rule: Rule, sets: list[str]) -> FiredRule:
        key = ("fired", rule.name, tuple(sets))
        fired = self._memo.get(key)
        if fired is None:
            fired = self._memo[key] = FiredRule(name=rule.name, stage=rule.stage, why=rule.why, sets=tuple(sets))
        return fired

    def _plan_for(self, wanted: frozenset[str | None], level: int, lang: str) -> list[PlanStep]:
        key = ("plan", wanted, level, lang)
        steps = self._memo.get(key)
        if steps is None:
            steps = self._memo[key] = tuple(self._plan(wanted, self.policy.escalation_level(level), lang))
        return list(steps)

    def _plan(self, wanted: frozenset[str | None], esc: dict, lang: str) -> list[PlanStep]:
        th = self.policy.thresholds
        due = {
            "respond": esc["respond_within_hours"],
            "report": esc.get("report_within_hours"),
            "verify": th["plan"]["verify_within_hours"],
            "pre_refund": th["refund"]["pre_refund_verify_days"] * 24,
            "follow_up": th["plan"]["follow_up_within_hours"],
        }
        values = {"respond": _num(esc["respond_within_hours"]), "report": _num(esc.get("report_within_hours")),
                  "verify_days": _num(th["refund"]["pre_refund_verify_days"]),
                  "follow_up_days": _num(th["plan"]["follow_up_within_hours"] / 24)}
        steps = []
        if "standard" not in wanted and not wanted:
            return steps
        for step in self.policy.plan_steps:
            if step.get("optional") and step["action"] not in wanted:
                continue
            if not step.get("optional") and "standard" not in wanted:
                continue
            text = step.get(lang) or step["en"]
            steps.append(PlanStep(action=step["action"], due_within_hours=due.get(step.get("due")),
                                  text=text.format(**values)))
        return steps


def _num(x):
    if x is None:
        return ""
    return int(x) if float(x).is_integer() else x


def _lowest_pri(rules: list[Rule], verb: str) -> tuple[Rule, str] | None:
    best = None
    for r in rules:
        for a in r.actions:
            if a.verb == verb and (best is None or r.pri < best[0].pri):
                best = (r, a.arg)
    return best


def _floor_rule(level: int) -> Rule:
    return Rule(name=f"severity_floor_level_{level}", stage="escalation",
                why=f"A level-{level} trigger raises the final severity to at least {LEVEL_FLOOR[level]}.",
                pri=0, actions=(), condition={}, file="rules/decide.py")
