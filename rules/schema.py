"""The public contract (policy.md): one complaint in, one decision out.

These models are the only shapes that cross the service edge; field names and labels are the public API.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage.labels import Category, Lang, Severity

Channel = Literal["phone", "email", "chat", "web", "in_person", "social", "letter"]
DisputeType = Literal["billing", "subscription", "other"]
Relation = Literal["account_holder", "family", "other"]
MAX_TEXT = 20_000


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

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is blank")
        return v

    def with_defaults(self) -> "Complaint":
        """A copy with the generated id and the received time filled in, so a stored decision is reproducible."""
        received = self.received_at or datetime.now(timezone.utc)
        if received.tzinfo is None:
            received = received.replace(tzinfo=timezone.utc)
        return self.model_copy(update={"id": self.id or uuid.uuid4().hex, "received_at": received})


class CategoryOut(BaseModel):
    label: Category
    confidence: float
    source: Literal["model", "override"]


class SeverityOut(BaseModel):
    label: Severity = Field(description="final severity, after overrides and escalation floors")
    model_label: Severity
    confidence: float


def describe_errors(e: ValidationError, whole: str = "input", most: int = 3) -> str:
    """One line naming each bad field and why, for a CLI message or an errors file."""
    parts = []
    for err in e.errors()[:most]:
        loc = ".".join(str(x) for x in err["loc"]) or whole
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
