"""The unit of work a batch worker runs: validate a chunk of records, decide them, serialize the results.

Workers (local processes or Dask workers) receive plain data and return plain strings, so the parent only
reads and writes; the model and the policy are loaded once per worker process and kept in ``_DECIDERS``.

A record is rejected only when it has no usable text or id. A bad optional field (an unparseable
``incident_date``, a negative ``amount``, an unknown ``language``) is dropped and a text over the contract's
20,000 characters is cut; the complaint is decided with ``needs_review`` set, and a ``"level": "warning"``
entry in the errors file says what was dropped.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from complaint_triage.batch.formats import OutputFormat, format_decision
from complaint_triage.contract import MAX_TEXT, Complaint, Decision, describe_errors
from complaint_triage.masking import mask_identifier
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
    """One line of the errors file: a record that is not in the output (``error``), or one that is, decided
    without what ``dropped`` names (``warning``)."""

    row: int
    line: int
    reason: str
    id: str | None = None
    level: Literal["error", "warning"] = "error"
    dropped: tuple[str, ...] = ()

    def to_json(self) -> str:
        body: dict[str, Any] = {"level": self.level, "row": self.row, "line": self.line,
                                **({"id": self.id} if self.id is not None else {}), "reason": self.reason}
        if self.dropped:
            body["dropped"] = list(self.dropped)
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
    review: set[int] = set()  # positions in ``good`` decided without something of theirs
    for item in chunk.items:
        if item.error is not None:
            errors.append(Rejected(item.row, item.line, item.error))
            continue
        fields = item.fields or {}
        if type(fields.get("id")) is int:
            fields = {**fields, "id": str(fields["id"])}
        try:
            complaint = Complaint.model_validate(fields)
            dropped: tuple[str, ...] = ()
        except ValidationError as e:
            salvaged = _salvage(fields, e)
            if salvaged is None:
                errors.append(Rejected(item.row, item.line, describe_errors(e, whole="record"),
                                       _masked_id(fields.get("id"))))
                continue
            complaint, dropped, notes = salvaged
        if complaint.id is None:
            complaint = complaint.model_copy(update={"id": f"line-{item.line}"})
        if dropped:
            review.add(len(good))
            errors.append(Rejected(item.row, item.line, f"decided with needs_review: {notes}",
                                   _masked_id(complaint.id), "warning", dropped))
        good.append((item, complaint.with_defaults()))
    decided = _decide(decider, good, errors)
    lines = [format_decision(d.model_copy(update={"needs_review": True}) if i in review else d, c.text,
                             spec.out_format) for i, c, d in decided]
    errors.sort(key=lambda e: e.row)
    return ChunkResult(chunk.seq, chunk.items[-1].row, lines, errors)


# Never dropped: without a text there is nothing to decide, and the id is how the row is found again.
_KEPT = frozenset({"text", "id"})


def _salvage(fields: dict[str, Any], e: ValidationError) -> tuple[Complaint, tuple[str, ...], str] | None:
    """The complaint without its bad optional fields and with its text cut to ``MAX_TEXT`` characters, what
    was dropped, and why; None when the text or the id is what is wrong (the record is rejected)."""
    fixed = dict(fields)
    dropped: list[str] = []
    notes: list[str] = []
    for err in e.errors():
        name = str(err["loc"][0]) if err["loc"] else ""
        text = fields.get("text")
        if name == "text" and err["type"] == "string_too_long" and isinstance(text, str):
            fixed["text"] = text[:MAX_TEXT]
            dropped.append(f"text[{MAX_TEXT}:]")
            notes.append(f"text: {len(text):,} characters, cut to the first {MAX_TEXT:,}")
        elif name in _KEPT or name not in fields:
            return None
        elif name not in dropped:
            del fixed[name]
            dropped.append(name)
            notes.append(f"{name} dropped ({err['msg']})")
    try:
        complaint = Complaint.model_validate(fixed)
    except ValidationError:
        return None
    return complaint, tuple(dropped), "; ".join(notes)


def _decide(decider: Decider, good: list[tuple[Item, Complaint]],
            errors: list[Rejected]) -> list[tuple[int, Complaint, Decision]]:
    """A failure inside the model or the rules costs the one record that caused it, not its whole chunk.
    Each result keeps its position in ``good``."""
    complaints = [c for _, c in good]
    try:
        decisions = decider.decide_many(complaints)
    except Exception:  # noqa: BLE001 - retried one by one below, each failure reported with its row
        decisions = None
    if decisions is not None:
        return [(i, c, d) for i, (c, d) in enumerate(zip(complaints, decisions))]
    out = []
    for i, (item, c) in enumerate(good):
        try:
            out.append((i, c, decider.decide(c)))
        except Exception as e:  # noqa: BLE001 - reported in the errors file, the run goes on
            errors.append(Rejected(item.row, item.line, f"internal error: {type(e).__name__}: {e}"[:300],
                                   _masked_id(c.id)))
    return out


def _masked_id(value: object) -> str | None:
    """Ids are sometimes phone numbers or e-mail addresses; the errors file names them as the output does
    (the same keyed hash), so a rejected row can be matched to the output without revealing the number."""
    return None if value is None else mask_identifier(str(value)[:200])
