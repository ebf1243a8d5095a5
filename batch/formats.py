"""How one decision is written: a JSON line (the full contract) or a flat CSV row for spreadsheets.

Both are masked (policy.md, Confidentiality): an output file is something stored, like the service's database.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Literal

from complaint_triage.contract import Decision
from complaint_triage.masking import identifiers_need_masking, mask_decision, mask_text

OutputFormat = Literal["jsonl", "csv"]

DEADLINE_COLUMNS = ("acknowledge_by", "report_by", "resolve_by", "follow_up_by", "regulatory_by", "regime",
                    "calendar_unconfirmed")
CSV_COLUMNS = (
    "id", "received_at", "language", "category", "category_confidence", "category_source", "severity",
    "model_severity", "severity_confidence", "department", "also_notify", "exclude_handlers", "escalation_level",
    "escalation_name", "respond_within_hours", "report_within_hours", "refund_eligibility", "refund_kind",
    "refund_reason", "verify_within_days", "approval_required", "amount", "currency", "signals", "needs_review",
    "rules_fired", "plan", "model_version", "policy_version",
    # the deadlines (policy.md, "Deadlines as timestamps"), ISO 8601 with the company's UTC offset
    *DEADLINE_COLUMNS,
)
_SIGNAL_FLAGS = ("refund_request", "media_threat", "media_exposure", "legal_threat", "legal_action_filed",
                 "regulator_threat", "injury", "repeat", "collective", "extreme_action")


def output_format(path: str, given: OutputFormat | None) -> OutputFormat:
    if given:
        return given
    return "csv" if Path(path).suffix.lower() in (".csv", ".tsv") else "jsonl"


def format_decision(decision: Decision, raw_text: str, fmt: OutputFormat) -> str:
    masked = mask_text(raw_text)
    if fmt == "jsonl" and masked == raw_text and not identifiers_need_masking(decision.id, *decision.exclude_handlers):
        # Nothing to mask (most complaints): pydantic's own serializer, several times faster than a dict round trip.
        return decision.model_dump_json() + "\n"
    d, _ = mask_decision(decision.model_dump(mode="json"), raw_text, masked)
    if fmt == "jsonl":
        return json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n"
    return csv_line(flatten(d))


def flatten(d: dict[str, Any]) -> dict[str, Any]:
    """Lists become ``;``-joined cells; the plan stays JSON because its steps carry free text."""
    s = d["signals"]
    return {
        "id": d["id"], "received_at": d.get("received_at"), "language": d["language"],
        "category": d["category"]["label"], "category_confidence": d["category"]["confidence"],
        "category_source": d["category"]["source"], "severity": d["severity"]["label"],
        "model_severity": d["severity"]["model_label"], "severity_confidence": d["severity"]["confidence"],
        "department": d["department"], "also_notify": ";".join(d["also_notify"]),
        "exclude_handlers": ";".join(d["exclude_handlers"]), "escalation_level": d["escalation"]["level"],
        "escalation_name": d["escalation"]["name"],
        "respond_within_hours": d["escalation"]["respond_within_hours"],
        "report_within_hours": d["escalation"]["report_within_hours"],
        "refund_eligibility": d["refund"]["eligibility"], "refund_kind": d["refund"]["kind"],
        "refund_reason": d["refund"]["reason"], "verify_within_days": d["refund"]["verify_within_days"],
        "approval_required": d["refund"]["approval_required"], "amount": s.get("amount"),
        "currency": s.get("currency"), "signals": ";".join(f for f in _SIGNAL_FLAGS if s.get(f)),
        "needs_review": d["needs_review"], "rules_fired": ";".join(d["rules_fired"]),
        "plan": json.dumps(d["plan"], ensure_ascii=False), "model_version": d["versions"]["model"],
        "policy_version": d["versions"]["policy"],
        **{c: (d.get("deadlines") or {}).get(c) for c in DEADLINE_COLUMNS},
    }


def csv_line(row: dict[str, Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return buf.getvalue()


def csv_header() -> str:
    return csv_line({c: c for c in CSV_COLUMNS})
