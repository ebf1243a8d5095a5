"""Text → triage → rules → decision: the one place that joins the stages.

``Decider`` loads the model and the policy once and is reused for every complaint in the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from complaint_triage.contract import Alternative, CategoryOut, Complaint, Decision, SeverityOut, Versions
from complaint_triage.rules.calendar import DeadlineClock
from complaint_triage.rules.decide import PolicyDecider, PolicyOutcome
from complaint_triage.rules.facts import Facts
from complaint_triage.rules.policy import load_policy
from complaint_triage.triage.analyzer import Triage, TriageResult


def alternatives(c: Complaint, r: TriageResult, threshold: float, most: int) -> list[Alternative]:
    """The model's other likely categories (policy.md, "Secondary categories"); none when an agent set the
    category, since the agent has decided what the complaint is about."""
    if c.category is not None:
        return []
    ranked = sorted(r.category_probabilities.items(), key=lambda kv: -kv[1])
    return [Alternative(label=label, confidence=p) for label, p in ranked
            if label != r.category.label and p >= threshold
            and (label != "safety" or r.signals.injury)][:most]  # safety needs a sign, as the primary does


@dataclass(frozen=True)
class Links:
    """What the store knows about a complaint's neighbours (service.cases): an earlier complaint by the same
    customer or about the same order, and enough complaints about the same location to make a collective one."""

    repeat: bool = False
    collective: bool = False


def build_facts(c: Complaint, r: TriageResult, alts: list[Alternative] = (), links: Links = Links()) -> Facts:
    """The contract's input fields win over what the text suggests; the text fills in what they leave open."""
    s = r.signals
    category = c.category or r.category.label
    received = c.received_at.date()
    incident = c.incident_date or s.incident_date
    refund_requested = c.refund_requested if c.refund_requested is not None else s.refund_request
    fault = {True: "verified", False: "rejected", None: "unknown"}[c.company_fault_verified]
    return Facts(
        category=category,
        category_confidence=1.0 if c.category else r.category.confidence,
        alt_category_1=alts[0].label if len(alts) > 0 else None,
        alt_category_2=alts[1].label if len(alts) > 1 else None,
        severity=c.severity or r.severity.label,
        language_supported=r.language is not None,
        prior_complaints=c.prior_complaints,
        repeat_in_text=s.repeat,
        affected_customers=c.affected_customers,
        collective_in_text=s.collective,
        media_threat=s.media_threat,
        media_exposure=s.media_exposure,
        legal_threat=s.legal_threat,
        legal_action_filed=s.legal_action_filed,
        regulator_threat=s.regulator_threat,
        injury=s.injury,
        extreme_action=s.extreme_action,
        refund_requested=refund_requested,
        dispute_type=c.dispute_type or ("billing" if category == "billing" else None),
        days_since_incident=(received - incident).days if incident else None,
        complainant_relation=c.complainant_relation,
        fault=fault,
        double_refund_promised=c.double_refund_promised,
        cause_undetermined_past_deadline=c.cause_undetermined_past_deadline,
        amount=c.amount if c.amount is not None else s.amount,
        subject_employee=c.subject_employee_id,
        linked_repeat=links.repeat,
        linked_collective=links.collective,
        department_override=c.department,
    )


class Decider:
    """Holds the loaded model and policy for the life of the process; build one per process and reuse it."""

    def __init__(self, triage: Triage | None = None, policy: PolicyDecider | None = None,
                 model_dir: Path | None = None, policy_dir: Path | None = None):
        self.triage = triage or Triage(model_dir=model_dir)
        self.policy = policy or PolicyDecider(load_policy(policy_dir))
        self.clock = DeadlineClock.from_thresholds(self.policy.policy.thresholds)  # business calendar, regimes

    def decide(self, complaint: Complaint, explain: bool = False) -> Decision:
        return self.decide_many([complaint], explain)[0]

    def decide_many(self, complaints: list[Complaint], explain: bool = False,
                    links: list[Links] | None = None) -> list[Decision]:
        complaints = [c.with_defaults() for c in complaints]
        results = self.triage.analyze_many(
            [c.text for c in complaints],
            [c.language for c in complaints],
            [c.received_at.date() for c in complaints],
        )
        links = links or [Links()] * len(complaints)
        return [self._combine(c, r, explain, k) for c, r, k in zip(complaints, results, links)]

    def _combine(self, c: Complaint, r: TriageResult, explain: bool, links: Links = Links()) -> Decision:
        secondary = self.policy.policy.thresholds.get("secondary", {})
        alts = alternatives(c, r, float(secondary.get("threshold", 1.0)), int(secondary.get("max_alternatives", 0)))
        facts = build_facts(c, r, alts, links)
        out: PolicyOutcome = self.policy.decide(facts, r.language or "en")
        return Decision(
            id=c.id,
            language=r.language,
            category=CategoryOut(label=facts.category, confidence=facts.category_confidence,
                                 source="override" if c.category else "model", alternatives=alts),
            severity=SeverityOut(label=out.final_severity, model_label=r.severity.label,
                                 confidence=r.severity.confidence),
            signals=r.signals,
            department=out.department,
            also_notify=out.also_notify,
            exclude_handlers=out.exclude_handlers,
            escalation=out.escalation,
            refund=out.refund,
            plan=out.plan,
            needs_review=out.needs_review,
            rules_fired=out.rules_fired,
            versions=Versions(model=self.triage.model_version, policy=self.policy.version),
            received_at=c.received_at,
            deadlines=self.clock.for_escalation(c.received_at, out.escalation, c.regime),
            explanation=out.explanation if explain else None,
        )
