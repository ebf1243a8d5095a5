"""The unit of work a batch worker runs: validate a chunk of records, decide them, serialize the results.

Workers (local processes or Dask workers) receive plain data and return plain strings, so the parent only
reads and writes; the model and the policy are loaded once per worker process and kept in ``_DECIDERS``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from complaint_triage.batch.formats import OutputFormat, format_decision
from complaint_triage.contract import Complaint, describe_errors
from complaint_triage.masking import mask_text
from complaint_triage.contract import Decision
from complaint_triage.pipeline import Decider


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build its own decider; paths must be readable on the worker's machine."""

    model_dir: str | None = None
    policy_dir: str | None = None
    out_format: OutputFormat = "jsonl"


@dataclass(frozen=True)
class Item:
    row: int
    line: int
    fields: dict | None
    error: str | None = None


@dataclass(frozen=True)
class Chunk:
    seq: int
    items: list[Item]


@dataclass(frozen=True)
class Rejected:
    """A record that is not in the output, and why; one line of the errors file."""

    row: int
    line: int
    reason: str
    id: str | None = None

    def to_json(self) -> str:
        body = {"row": self.row, "line": self.line, **({"id": self.id} if self.id is not None else {}),
                "reason": self.reason}
        return json.dumps(body, ensure_ascii=False) + "\n"


@dataclass
class ChunkResult:
    seq: int
    last_row: int
    lines: list[str]
    errors: list[Rejected]


_DECIDERS: dict[WorkerSpec, Decider] = {}
_LOCK = threading.Lock()


def decider_for(spec: WorkerSpec) -> Decider:
    with _LOCK:
        decider = _DECIDERS.get(spec)
        if decider is None:
            decider = Decider(model_dir=Path(spec.model_dir) if spec.model_dir else None,
                              policy_dir=Path(spec.policy_dir) if spec.policy_dir else None)
            _DECIDERS[spec] = decider
        return decider


def warm_up(spec: WorkerSpec) -> None:
    decider_for(spec)


def run_chunk(spec: WorkerSpec, chunk: Chunk) -> ChunkResult:
    """Rows without an id get ``line-N`` (their line in the input), so every output row can be traced back."""
    decider = decider_for(spec)
    errors: list[Rejected] = []
    good: list[tuple[Item, Complaint]] = []
    for item in chunk.items:
        if item.error is not None:
            errors.append(Rejected(item.row, item.line, item.error))
            continue
        fields = item.fields or {}
        if type(fields.get("id")) is int:
            fields = {**fields, "id": str(fields["id"])}
        try:
            complaint = Complaint.model_validate(fields)
        except ValidationError as e:
            errors.append(Rejected(item.row, item.line, describe_errors(e, whole="record"),
                                   _masked_id(fields.get("id"))))
            continue
        if complaint.id is None:
            complaint = complaint.model_copy(update={"id": f"line-{item.line}"})
        good.append((item, complaint.with_defaults()))
    lines = [format_decision(d, c.text, spec.out_format) for c, d in _decide(decider, good, errors)]
    errors.sort(key=lambda e: e.row)
    return ChunkResult(chunk.seq, chunk.items[-1].row, lines, errors)


def _decide(decider: Decider, good: list[tuple[Item, Complaint]],
            errors: list[Rejected]) -> list[tuple[Complaint, Decision]]:
    """A failure inside the model or the rules costs the one record that caused it, not its whole chunk."""
    complaints = [c for _, c in good]
    try:
        decisions = decider.decide_many(complaints)
    except Exception:  # noqa: BLE001 - retried one by one below, each failure reported with its row
        decisions = None
    if decisions is not None:
        return list(zip(complaints, decisions))
    out = []
    for item, c in good:
        try:
            out.append((c, decider.decide(c)))
        except Exception as e:  # noqa: BLE001 - reported in the errors file, the run goes on
            errors.append(Rejected(item.row, item.line, f"internal error: {type(e).__name__}: {e}"[:300],
                                   _masked_id(c.id)))
    return out


def _masked_id(value: object) -> str | None:
    """Ids are sometimes phone numbers or e-mail addresses; the errors file is stored like the output."""
    return None if value is None else mask_text(str(value)[:200])
