"""The facts the rules see, built from triage and the complaint's own fields.

Everything is coerced to plain bools, ints, floats and short strings before it reaches durable_rules, which
compares numeric strings inconsistently; unknown values are left out, since a missing field simply fails its
conditions. The field names here are the vocabulary a rule file may use; anything else is rejected at load.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Facts(BaseModel):
    category: str
    category_confidence: float
    alt_category_1: str | None = None
    alt_category_2: str | None = None
    severity: str
    language_supported: bool
    prior_complaints: int = 0
    repeat_in_text: bool = False
    affected_customers: int = 1
    collective_in_text: bool = False
    media_threat: bool = False
    media_exposure: bool = False
    legal_threat: bool = False
    legal_action_filed: bool = False
    regulator_threat: bool = False
    injury: bool = False
    extreme_action: bool = False
    refund_requested: bool = False
    dispute_type: str | None = None
    days_since_incident: int | None = None
    complainant_relation: str = "account_holder"
    fault: Literal["verified", "rejected", "unknown"] = "unknown"
    double_refund_promised: bool = False
    cause_undetermined_past_deadline: bool = False
    amount: float | None = None
    subject_employee: str | None = None
    # from the store (service.cases): an earlier complaint by the same customer or order within the repeat window,
    # and enough complaints about the same location within the collective window
    linked_repeat: bool = False
    linked_collective: bool = False
    department_override: str | None = None  # an agent's correction of the department


# Facts computed between stages: escalation → decision → plan.
DERIVED_FACTS = {"level": int, "final_severity": str, "refund": str, "approval_required": bool,
                 "needs_review": bool, "rid": str}
FACT_NAMES = frozenset(Facts.model_fields) | frozenset(DERIVED_FACTS)
