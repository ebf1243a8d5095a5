"""Text → triage → decision: the one place that joins the stages."""

from __future__ import annotations

from pydantic import BaseModel

from rules.schema import CategoryOut, Complaint, SeverityOut
from triage.analyzer import Triage
from triage.signals import Signals


class Versions(BaseModel):
    model: str


class Decision(BaseModel):
    id: str
    language: str | None
    category: CategoryOut
    severity: SeverityOut
    signals: Signals
    needs_review: bool
    versions: Versions


class Decider:
    """Holds the loaded model for the life of the process; build one per process and reuse it."""

    def __init__(self, triage: Triage | None = None, model_dir=None):
        self.triage = triage or Triage(model_dir=model_dir)

    def decide(self, complaint: Complaint) -> Decision:
        return self.decide_many([complaint])[0]

    def decide_many(self, complaints: list[Complaint]) -> list[Decision]:
        complaints = [c.with_defaults() for c in complaints]
        results = self.triage.analyze_many(
            [c.text for c in complaints],
            [c.language for c in complaints],
            [c.received_at.date() for c in complaints],
        )
        out = []
        for c, r in zip(complaints, results):
            cat = CategoryOut(
                label=c.category or r.category.label,
                confidence=1.0 if c.category else r.category.confidence,
                source="override" if c.category else "model",
            )
            sev = SeverityOut(
                label=c.severity or r.severity.label, model_label=r.severity.label, confidence=r.severity.confidence
            )
            out.append(
                Decision(
                    id=c.id, language=r.language, category=cat, severity=sev, signals=r.signals,
                    needs_review=r.language is None, versions=Versions(model=self.triage.model_version),
                )
            )
        return out
