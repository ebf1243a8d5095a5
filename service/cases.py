"""A complaint is a case (policy.md, "Contract, second part"): its status machine, assignee, notes, reply,
resolution, satisfaction, corrections that re-decide it, and the links between cases — each change one
transaction that also appends an event {at, actor, action, before, after} to the case's history.

The store holds the rows; the Decider re-decides. Refusals are ``ApiError``s with the status and a message that
says why: 409 for a change the case's state does not allow, 422 for a value the policy forbids.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from complaint_triage.contract import STATUS_TRANSITIONS, Complaint, Decision
from complaint_triage.masking import mask_decision, mask_identifier, mask_text
from complaint_triage.pipeline import Decider, Links
from complaint_triage.service.errors import ApiError
from complaint_triage.service.store import CaseChange, Event, NotFound, Record, Store

# Steps of the case that stand in for the deadlines they guard (store.CLOCKS).
_STEP_OF_STATUS = {"acknowledged": "acknowledged_at", "resolved": "resolved_at"}
_CLOSED = ("closed",)


def stored_input(complaint: Complaint, id_key: str | None) -> dict[str, Any]:
    """The complaint's fields as stored for re-deciding it later: no text (the masked text is its own column),
    ids that are personal data hashed, the masked id."""
    out = complaint.model_dump(mode="json", exclude={"text"}, exclude_none=True)
    for name in ("id", "customer_id", "order_id", "subject_employee_id"):
        if out.get(name) is not None:
            out[name] = mask_identifier(out[name], id_key)
    if out.get("location") is not None:
        out["location"] = mask_text(out["location"])
    return out


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def to_record(complaint: Complaint, decision: Decision, id_key: str | None = None) -> Record:
    """The stored and returned form: the decision with its evidence re-quoted from the masked text, and ids
    that are personal data hashed under ``id_key`` (the settings' ``id_hash_key``)."""
    dumped, masked = mask_decision(decision.model_dump(mode="json"), complaint.text, id_key=id_key)
    deadlines = dumped.get("deadlines") or {}
    inp = stored_input(complaint, id_key)
    return Record(
        id=dumped["id"],
        received_at=complaint.received_at,
        text=masked,
        language=decision.language,
        category=decision.category.label,
        severity=decision.severity.label,
        department=decision.department,
        escalation_level=decision.escalation.level,
        refund_eligibility=decision.refund.eligibility,
        decision=dumped,
        needs_review=decision.needs_review,
        customer_key=inp.get("customer_id"),
        order_id=inp.get("order_id"),
        location=inp.get("location"),
        input=inp,
        acknowledge_by=_when(deadlines.get("acknowledge_by")),
        report_by=_when(deadlines.get("report_by")),
        resolve_by=_when(deadlines.get("resolve_by")),
    )


def _decision_columns(r: Record) -> dict[str, Any]:
    return {"category": r.category, "severity": r.severity, "department": r.department,
            "escalation_level": r.escalation_level, "refund_eligibility": r.refund_eligibility,
            "needs_review": r.needs_review, "decision": r.decision, "input": r.input,
            "acknowledge_by": r.acknowledge_by, "report_by": r.report_by, "resolve_by": r.resolve_by}


class Cases:
    """The case operations of one app: its store, its Decider, the key ids are hashed under."""

    def __init__(self, store: Store, decider: Decider, id_key: str | None = None):
        self.store = store
        self.decider = decider
        self.id_key = id_key
        policy = getattr(decider, "policy", None)  # tests stub the Decider
        linking = policy.policy.thresholds.get("linking", {}) if policy is not None else {}
        self.repeat_window = timedelta(days=float(linking.get("repeat_window_days", 90)))
        self.collective_min = int(linking.get("collective_min_cases", 3))
        self.collective_window = timedelta(hours=float(linking.get("collective_window_hours", 72)))

    def _change(self, complaint_id: str, change: Any) -> dict[str, Any]:
        try:
            return self.store.change_case(complaint_id, change)
        except NotFound:
            raise ApiError(404, f"no complaint with id {complaint_id!r}", "id") from None

    # ------------------------------------------------------------ status
    def set_status(self, complaint_id: str, to: str, actor: str, note: str | None = None) -> dict[str, Any]:
        def change(row: dict[str, Any], now: datetime) -> CaseChange:
            current = row["status"]
            allowed = STATUS_TRANSITIONS.get(current, ())
            if to not in allowed:
                if to == current:
                    why = f"the case is already {current}"
                else:
                    why = (f"a case that is {current} can move only to "
                           f"{' or '.join(allowed) if allowed else 'nothing'}, not to {to}")
                raise ApiError(409, f"illegal transition {current} -> {to}: {why}", "status", "conflict")
            values: dict[str, Any] = {"status": to}
            if to in _STEP_OF_STATUS and row[_STEP_OF_STATUS[to]] is None:
                values[_STEP_OF_STATUS[to]] = now
            if to == "reopened":
                values["resolved_at"] = None
            if to == "waiting_customer":
                values["paused_since"] = now
            if current == "waiting_customer":
                values.update(self._resume(row, now))
            after = {"status": to, **({"note": note} if note else {})}
            return CaseChange(values, [Event(actor, "status", {"status": current}, after)])

        return self._change(complaint_id, change)

    def _resume(self, row: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Leaving waiting_customer: the pause is recorded and the open deadlines move by the time the clocks
        stood still (business time, or clock time for a crisis; the policy's calendar)."""
        since = row["paused_since"] or now
        pauses = [*(row["pauses"] or []), [since.isoformat(), now.isoformat()]]
        values: dict[str, Any] = {"paused_since": None, "pauses": pauses}
        values.update(self._paused_deadlines(row, [(since, now)], now))
        return values

    def _paused_deadlines(self, row: dict[str, Any], pauses: list[tuple[datetime, datetime]],
                          now: datetime) -> dict[str, Any]:
        clock = getattr(self.decider, "clock", None)
        crisis = (row.get("escalation_level") or 0) >= 3
        out: dict[str, Any] = {}
        for by, done in (("acknowledge_by", "acknowledged_at"), ("report_by", "reported_at"),
                         ("resolve_by", "resolved_at")):
            deadline = row.get(by)
            if deadline is None or row.get(done) is not None or not pauses:
                continue
            if clock is not None:
                out[by] = clock.calendar.extend_for_pauses(deadline, pauses, now, around_the_clock=crisis)
            else:
                out[by] = deadline + sum(((e - s) for s, e in pauses if s < deadline), timedelta())
        return out

    # ------------------------------------------------------------ assignee, notes, reply, result
    def assign(self, complaint_id: str, assignee: str | None, actor: str) -> dict[str, Any]:
        stored = mask_identifier(assignee, self.id_key) if assignee is not None else None

        def change(row: dict[str, Any], now: datetime) -> CaseChange:
            self._not_closed(row, "assign it")
            excluded = set(row["decision"].get("exclude_handlers") or [])
            if stored is not None and (stored in excluded or assignee in excluded):
                raise ApiError(422, f"{assignee!r} is excluded from this case (exclude_handlers): the complaint "
                                    "is about them, so they may not handle it", "assignee")
            if stored == row["assignee"]:
                raise ApiError(409, f"the case is already assigned to {assignee!r}", "assignee", "conflict")
            return CaseChange({"assignee": stored},
                              [Event(actor, "assign", {"assignee": row["assignee"]}, {"assignee": stored})])

        return self._change(complaint_id, change)

    def note(self, complaint_id: str, text: str, actor: str) -> dict[str, Any]:
        return self._change(complaint_id, lambda row, now: CaseChange(
            {}, [Event(actor, "note", None, {"text": mask_text(text)})]))

    def reply(self, complaint_id: str, text: str, actor: str) -> dict[str, Any]:
        def change(row: dict[str, Any], now: datetime) -> CaseChange:
            self._not_closed(row, "reply")
            reply = {"text": mask_text(text), "at": now.isoformat(), "actor": actor}
            return CaseChange({"reply": reply}, [Event(actor, "reply", row["reply"], reply)])

        return self._change(complaint_id, change)

    def resolution(self, complaint_id: str, resolution: dict[str, Any], actor: str) -> dict[str, Any]:
        if resolution.get("note"):
            resolution = {**resolution, "note": mask_text(resolution["note"])}

        def change(row: dict[str, Any], now: datetime) -> CaseChange:
            self._not_closed(row, "change its resolution")
            return CaseChange({"resolution": resolution},
                              [Event(actor, "resolution", row["resolution"], resolution)])

        return self._change(complaint_id, change)

    def satisfaction(self, complaint_id: str, score: int, actor: str) -> dict[str, Any]:
        def change(row: dict[str, Any], now: datetime) -> CaseChange:
            if row["status"] not in ("resolved", "closed"):
                raise ApiError(409, f"satisfaction is the follow-up of a resolved case; this one is {row['status']}",
                               "satisfaction", "conflict")
            return CaseChange({"satisfaction": score}, [Event(actor, "satisfaction", row["satisfaction"], score)])

        return self._change(complaint_id, change)

    def report(self, complaint_id: str, note: str | None, actor: str) -> dict[str, Any]:
        """The case was reported to management (the step report_by guards)."""
        def change(row: dict[str, Any], now: datetime) -> CaseChange:
            if row["reported_at"] is not None:
                raise ApiError(409, f"the case was already reported to management at {row['reported_at'].isoformat()}",
                               None, "conflict")
            after = {"reported_at": now.isoformat(), **({"note": mask_text(note)} if note else {})}
            return CaseChange({"reported_at": now}, [Event(actor, "report", None, after)])

        return self._change(complaint_id, change)

    @staticmethod
    def _not_closed(row: dict[str, Any], what: str) -> None:
        if row["status"] in _CLOSED:
            raise ApiError(409, f"the case is closed: reopen it (status reopened) to {what}", "status", "conflict")

    # ------------------------------------------------------------ re-deciding
    def _redecide(self, row: dict[str, Any], overrides: dict[str, Any], links: Links) -> Record:
        inp = dict(row.get("input") or {})
        if not inp:  # a 0.1 row: only what its columns and decision say
            inp = {"id": row["id"], "received_at": row["received_at"].isoformat()}
            if row.get("language"):
                inp["language"] = row["language"]
        inp.update({k: v for k, v in overrides.items() if v is not None})
        complaint = Complaint.model_validate({**inp, "id": row["id"], "text": row["text"]})
        decision = self.decider.decide_many([complaint], links=[links])[0]
        return to_record(complaint, decision, self.id_key)

    def _apply(self, row: dict[str, Any], record: Record, now: datetime) -> dict[str, Any]:
        values = _decision_columns(record)
        pauses = [(_when(s), _when(e)) for s, e in (row.get("pauses") or [])]
        if row.get("paused_since") is not None:
            pauses.append((row["paused_since"], now))
        if pauses:
            values.update(self._paused_deadlines({**row, **values}, pauses, now))
        return values

    @staticmethod
    def _links_of(row: dict[str, Any]) -> Links:
        stored = row.get("links") or {}
        return Links(repeat=bool(stored.get("repeat_of")), collective=bool(stored.get("collective_with")))

    def correct(self, complaint_id: str, corrections: dict[str, Any], actor: str) -> dict[str, Any]:
        """An agent's correction of category, severity and/or department: the policy runs again with the
        correction as an override; the new decision is stored and the old one kept in the history."""
        corrections = {k: v for k, v in corrections.items() if v is not None}

        def change(row: dict[str, Any], now: datetime) -> CaseChange:
            record = self._redecide(row, corrections, self._links_of(row))
            values = self._apply(row, record, now)
            return CaseChange(values, [Event(actor, "correction", {"decision": row["decision"]},
                                             {"correction": corrections, "decision": record.decision})])

        return self._change(complaint_id, change)

    # ------------------------------------------------------------ linking
    def settle_links(self, complaint_ids: list[str], actor: str) -> None:
        """After new complaints are stored: link each to earlier cases of the same customer or order (repeat)
        and to the complaints about the same location that make it collective, and re-decide every case whose
        links change what the policy sees (an earlier case joins a collective when the last one arrives)."""
        todo: dict[str, dict[str, list[str]]] = {}
        for cid in complaint_ids:
            row = self.store.get_row(cid)
            if row is None:
                continue
            at = row["received_at"]
            repeat: set[str] = set()
            for key in ("customer_key", "order_id"):
                if row[key] is not None:
                    repeat |= {n["id"] for n in self.store.neighbours(key, row[key], at - self.repeat_window, at)
                               if n["received_at"] < at}
            group: set[str] = set()
            if row["location"] is not None:
                near = self.store.neighbours("location", row["location"], at - self.collective_window,
                                             at + self.collective_window)
                times = sorted((n["received_at"], n["id"]) for n in near)
                # every window of collective_window that holds this case and enough others
                for start, _ in times:
                    if start > at:
                        break
                    inside = {i for t, i in times if start <= t <= start + self.collective_window}
                    if cid in inside and len(inside) >= self.collective_min:
                        group |= inside
            if repeat:
                todo.setdefault(cid, {}).setdefault("repeat_of", [])
                todo[cid]["repeat_of"] = sorted(repeat)
            for member in group:
                todo.setdefault(member, {}).setdefault("collective_with", [])
                todo[member]["collective_with"] = sorted(set(todo[member]["collective_with"]) | (group - {member}))
        for cid, found in todo.items():
            self._link(cid, found, actor)

    def _link(self, complaint_id: str, found: dict[str, list[str]], actor: str) -> None:
        def change(row: dict[str, Any], now: datetime) -> CaseChange:
            old = row.get("links") or {}
            new = {k: sorted(set(old.get(k, [])) | set(found.get(k, []))) for k in ("repeat_of", "collective_with")}
            new = {k: v for k, v in new.items() if v}
            if new == old:
                return CaseChange()
            values: dict[str, Any] = {"links": new}
            before_links = self._links_of(row)
            after_links = self._links_of({"links": new})
            after: dict[str, Any] = {"links": new}
            if after_links != before_links:
                record = self._redecide(row, {}, after_links)
                values.update(self._apply(row, record, now))
                after["decision"] = record.decision
            return CaseChange(values, [Event(actor, "linked", {"links": old or None,
                                                               **({"decision": row["decision"]} if "decision" in after
                                                                  else {})}, after)])

        self._change(complaint_id, change)
