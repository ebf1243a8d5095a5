"""The public contract (policy.md): one complaint in, one decision out, and every vocabulary they use.

Every layer imports its labels and shapes from here and nowhere else, so a label is written once and the
OpenAPI document shows each vocabulary as an enum. Field names and labels are the public API.
"""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import date, datetime, timezone
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# ---------------------------------------------------------------- vocabularies
Category = Literal[
    "product_quality", "delivery", "billing", "refund_return", "service_attitude", "account_security", "safety",
    "facilities", "other",
]
Severity = Literal["low", "medium", "high", "critical"]
Lang = Literal["zh", "en"]
Department = Literal[
    "quality", "logistics", "billing", "after_sales", "customer_service", "security", "safety", "facilities",
    "public_relations", "legal", "management",
]
EscalationName = Literal["frontline", "department", "major", "crisis"]
RefundEligibility = Literal[
    "not_requested", "not_accepted", "identity_check", "double_refund", "eligible", "pre_refund", "not_eligible",
    "needs_verification",
]
RefundKind = Literal["double", "full", "principal_only"]
SignalFlag = Literal[
    "refund_request", "media_threat", "media_exposure", "legal_threat", "legal_action_filed", "regulator_threat",
    "injury", "repeat", "collective", "extreme_action",
]
EvidenceKind = Literal[
    "refund_request", "media_threat", "media_exposure", "legal_threat", "legal_action_filed", "regulator_threat",
    "injury", "repeat", "collective", "extreme_action", "amount", "date",
]
Channel = Literal["phone", "email", "chat", "web", "in_person", "social", "letter"]
DisputeType = Literal["billing", "subscription", "other"]
Relation = Literal["account_holder", "family", "other"]
CategorySource = Literal["model", "override"]
# regulatory clocks (policy.md, "Deadlines as timestamps"); their numbers live in the policy config
Regime = Literal["cn_banking", "cn_telecom", "us_cfpb", "uk_fca"]

CATEGORIES: tuple[str, ...] = get_args(Category)
SEVERITIES: tuple[str, ...] = get_args(Severity)
LANGUAGES: tuple[str, ...] = get_args(Lang)
DEPARTMENTS: tuple[str, ...] = get_args(Department)
ESCALATION_NAMES: tuple[str, ...] = get_args(EscalationName)
REFUND_ELIGIBILITIES: tuple[str, ...] = get_args(RefundEligibility)
SIGNAL_FLAGS: tuple[str, ...] = get_args(SignalFlag)
REGIMES: tuple[str, ...] = get_args(Regime)

# the case (policy.md, "A complaint is a case"): its status, the remedy of its resolution, what its history records
CaseStatus = Literal["new", "acknowledged", "in_progress", "waiting_customer", "resolved", "closed", "reopened"]
Remedy = Literal["refund", "exchange", "repair", "compensation", "apology", "explanation", "none"]
CaseAction = Literal["created", "status", "assign", "note", "reply", "resolution", "satisfaction", "report",
                     "correction", "linked"]
CASE_STATUSES: tuple[str, ...] = get_args(CaseStatus)
REMEDIES: tuple[str, ...] = get_args(Remedy)
# new → acknowledged → in_progress ⇄ waiting_customer → resolved → closed; closed or resolved → reopened → in_progress
STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged",),
    "acknowledged": ("in_progress",),
    "in_progress": ("waiting_customer", "resolved"),
    "waiting_customer": ("in_progress", "resolved"),
    "resolved": ("closed", "reopened"),
    "closed": ("reopened",),
    "reopened": ("in_progress",),
}
assert set(get_args(EvidenceKind)) == set(SIGNAL_FLAGS) | {"amount", "date"}

MAX_TEXT = 20_000


def severity_rank(label: str) -> int:
    return SEVERITIES.index(label)


# ---------------------------------------------------------------- input
class Complaint(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    id: str | None = Field(default=None, min_length=1, max_length=200)
    language: Lang | None = None
    channel: Channel | None = None
    received_at: datetime | None = None
    incident_date: date | None = None
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = Field(default=None, max_length=8)
    refund_requested: bool | None = None
    dispute_type: DisputeType | None = None
    prior_complaints: int = Field(default=0, ge=0)
    affected_customers: int = Field(default=1, ge=1)
    complainant_relation: Relation = "account_holder"
    company_fault_verified: bool | None = None
    double_refund_promised: bool = False
    cause_undetermined_past_deadline: bool = False
    subject_employee_id: str | None = Field(default=None, max_length=200)
    category: Category | None = None
    severity: Severity | None = None
    department: Department | None = Field(
        default=None, description="an agent's override of the responsible department (the policy's routing is not used)")
    customer_id: str | None = Field(default=None, min_length=1, max_length=200,
                                    description="links a repeat complaint by the same customer (hashed when personal data)")
    order_id: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="links a repeat complaint about the same order")
    location: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="links complaints about the same place into a collective one")
    regime: Regime | None = Field(
        default=None, description="the regulatory regime whose clock applies; the policy's default when absent")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is blank")
        return v

    def with_defaults(self) -> Complaint:
        """A copy with the generated id and the received time filled in, so a stored decision is reproducible."""
        received = self.received_at or datetime.now(timezone.utc)
        if received.tzinfo is None:
            received = received.replace(tzinfo=timezone.utc)
        return self.model_copy(update={"id": self.id or uuid.uuid4().hex, "received_at": received})


# ---------------------------------------------------------------- what the text revealed
class Amount(BaseModel):
    value: float
    currency: str | None
    text: str


class DateMention(BaseModel):
    text: str
    date: dt.date | None = Field(description="resolved against the complaint's received date; null when redacted")


class SignalHit(BaseModel):
    signal: EvidenceKind
    text: str
    start: int
    end: int


class Signals(BaseModel):
    """What the text revealed. Booleans are true when at least one non-negated cue matched."""

    amount: float | None = None
    currency: str | None = None
    amounts: list[Amount] = []
    dates: list[DateMention] = []
    incident_date: date | None = None
    refund_request: bool = False
    media_threat: bool = False
    media_exposure: bool = False
    legal_threat: bool = False
    legal_action_filed: bool = False
    regulator_threat: bool = False
    injury: bool = False
    repeat: bool = False
    collective: bool = False
    extreme_action: bool = False
    evidence: list[SignalHit] = []


# ---------------------------------------------------------------- decision
class Alternative(BaseModel):
    label: Category
    confidence: float


class CategoryOut(BaseModel):
    label: Category
    confidence: float
    source: CategorySource
    alternatives: list[Alternative] = Field(
        default=[], description="other problems the complaint raises: categories at least as probable as the "
                                "policy's secondary threshold, most likely first, at most two")


class SeverityOut(BaseModel):
    label: Severity = Field(description="final severity, after overrides and escalation floors")
    model_label: Severity
    confidence: float


class Escalation(BaseModel):
    level: int = Field(ge=0, le=3)
    name: EscalationName
    respond_within_hours: float
    report_within_hours: float | None


class Refund(BaseModel):
    eligibility: RefundEligibility
    kind: RefundKind | None
    reason: str
    verify_within_days: int | None
    approval_required: bool


class PlanStep(BaseModel):
    """Frozen: decisions share these (see PolicyDecider._memo)."""

    model_config = ConfigDict(frozen=True)

    action: str
    due_within_hours: float | None
    text: str


class FiredRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    stage: str
    why: str
    sets: tuple[str, ...]


class Deadlines(BaseModel):
    """Timestamps with the company's UTC offset, computed from received_at on its business calendar."""

    acknowledge_by: datetime
    report_by: datetime | None = Field(description="null when no management report is due")
    resolve_by: datetime
    follow_up_by: datetime = Field(description="the satisfaction check: resolve_by + the policy's follow-up days (7)")
    regulatory_by: datetime | None = Field(description="the earliest deadline of the regime; null when none applies")
    regime: Regime | None = None
    calendar_unconfirmed: bool = Field(
        default=False, description="a year the deadlines cross has no published make-up working days (CN 调休)")
    calendar_warnings: list[str] = []


class Versions(BaseModel):
    model: str
    policy: str


class Decision(BaseModel):
    id: str
    language: Lang | None
    category: CategoryOut
    severity: SeverityOut
    signals: Signals
    department: Department
    also_notify: list[Department]
    exclude_handlers: list[str]
    escalation: Escalation
    refund: Refund
    plan: list[PlanStep]
    needs_review: bool
    rules_fired: list[str]
    versions: Versions
    received_at: datetime | None = None
    deadlines: Deadlines | None = None
    explanation: list[FiredRule] | None = Field(
        default=None, exclude=True, description="asked for with explain=True; never serialized with the decision")


def describe_errors(e: ValidationError, whole: str = "input", most: int = 3) -> str:
    """One line naming each bad field and why, for a CLI message or an errors file."""
    parts = []
    for err in e.errors()[:most]:
        loc = ".".join(str(x) for x in err["loc"]) or whole
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
