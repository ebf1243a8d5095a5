"""The HTTP API over the Decider and the Store (Flask application factory, one blueprint per resource).

Every accepted complaint and its decision are committed before the 2xx leaves, so an acknowledged complaint
survives a crash. Text is masked before it is stored or logged; the decision returned quotes it only masked.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import html
import json
import logging
import os
import re
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import Annotated, Any, Literal

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from spectree import Response as Responses
from spectree import SpecTree

from complaint_triage.contract import (
    CaseAction,
    CaseStatus,
    Category,
    Complaint,
    Decision,
    Department,
    Lang,
    RefundEligibility,
    Remedy,
    Severity,
)
from complaint_triage.masking import mask_identifier, mask_text
from complaint_triage.pipeline import Decider
from complaint_triage.service.cases import Cases, to_record
from complaint_triage.service.errors import (
    UNAVAILABLE,
    ApiError,
    from_validation,
    log_exception,
    register_error_handlers,
)
from complaint_triage.service.settings import Settings
from complaint_triage.service.store import Cursor, Filters, NotFound, Store

log = logging.getLogger("complaint_triage.service.api")

MAX_PAGE = 500
# Deeper pages go by `cursor`: an offset makes the database walk past every skipped row.
MAX_OFFSET = 10_000
# /v1/stats without a range counts the last STATS_DEFAULT_DAYS days, so a dashboard's default view does not
# scan the whole table.
STATS_DEFAULT_DAYS = 31
# JSON bodies: no request the API accepts nests deeper than 4; integers beyond 2^53 lose precision in most
# JSON clients and overflow database and rules-engine integers.
MAX_JSON_DEPTH = 32
MAX_JSON_INT = 2**53
# Dates a complaint or a filter can carry, as written (before any time-zone shift): years 1900-2199. Far enough
# out for any real complaint, near enough that date arithmetic (UTC conversion, deadlines, "three years ago")
# can never leave datetime's range.
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
_YEARS = range(EARLIEST.year, LATEST.year)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# ---------------------------------------------------------------- request / response models
class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    complaints: list[Complaint] = Field(min_length=1)


class BatchItem(BaseModel):
    created: bool
    decision: Decision


class BatchResponse(BaseModel):
    items: list[BatchItem]


class FeedbackIn(BaseModel):
    """An agent's correction: at least one corrected label, or a note saying why the decision was fine."""

    # The rule "at least one, not null" in the document too, so generated clients and fuzzers know it.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in ("category", "severity", "department", "note")]})
    category: Category | None = None
    severity: Severity | None = None
    department: Department | None = None
    note: str | None = Field(default=None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _something(self) -> FeedbackIn:
        if not any((self.category, self.severity, self.department, self.note)):
            raise ValueError("give at least one of category, severity, department, note")
        return self


def _parse_flag(value: Any) -> Any:
    """Query flags are JSON Schema booleans, as the document says: exactly `true` or `false`."""
    if isinstance(value, str):
        if value in ("true", "false"):
            return value == "true"
        raise ValueError("expected true or false")
    return value


Flag = Annotated[bool | None, BeforeValidator(_parse_flag)]


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: CaseStatus = Field(description="new → acknowledged → in_progress ⇄ waiting_customer → resolved → closed; "
                                           "closed or resolved → reopened → in_progress")
    note: str | None = Field(default=None, min_length=1, max_length=2000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(min_length=1, max_length=200,
                                 description="the agent's id; null unassigns. Never one of exclude_handlers (422)")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000, description="the reply sent to the customer")


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remedy: Remedy
    refund_amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    note: str | None = Field(default=None, min_length=1, max_length=2000)


class SatisfactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=1, le=5, description="the customer's satisfaction at the follow-up, 1-5")


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, min_length=1, max_length=2000)


class DryRunQuery(BaseModel):
    dry_run: Annotated[bool, BeforeValidator(_parse_flag)] = Field(
        default=False, description="decide and answer, but store nothing")


def _parse_when(value: Any) -> Any:
    """ISO date or date-time; a bare date stays a date so a range end can mean "through that day"."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 date or date-time") from None
    return value


# Years as written, 1900-2199 (see EARLIEST): in the document as a pattern, since JSON Schema has no date bounds.
YEARS_PATTERN = "^(19|20|21)[0-9]{2}-"
When = Annotated[datetime | date, BeforeValidator(_parse_when), WithJsonSchema(
    {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}], "pattern": YEARS_PATTERN})]


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category | None = None
    severity: Severity | None = None
    department: Department | None = None
    escalation_level: int | None = Field(default=None, ge=0, le=3)
    received_from: When | None = None
    received_to: When | None = None
    status: CaseStatus | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=200)
    needs_review: Flag = None
    language: Lang | None = None
    refund_eligibility: RefundEligibility | None = None
    overdue: Flag = Field(default=None, description="true: a deadline passed without its step (acknowledged, "
                                                    "reported, resolved); false: none did")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET,
                        description=f"rows to skip (after `cursor`, if given), at most {MAX_OFFSET:,}; page deeper "
                                    "with `cursor`")
    cursor: str | None = Field(default=None, min_length=1, max_length=400,
                               description="the `next` of the previous page: the page after it")


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: Literal["day", "week", "month"] = "day"
    received_from: When | None = Field(
        default=None, description=f"with neither end given, the window is the last {STATS_DEFAULT_DAYS} days")
    received_to: When | None = Field(default=None, description="a bare date includes that whole day")


class ErrorOut(BaseModel):
    error: str
    detail: str
    field: str | None


class FeedbackOut(BaseModel):
    id: int
    complaint_id: str
    category: Category | None
    severity: Severity | None
    department: Department | None
    note: str | None
    created_at: datetime
    decision: Decision | None = Field(default=None, description="the decision re-decided with the correction")


class HistoryEvent(BaseModel):
    id: int
    at: datetime
    actor: str
    action: CaseAction
    before: Any
    after: Any


class Note(BaseModel):
    at: datetime
    actor: str
    text: str


class Reply(BaseModel):
    text: str
    at: datetime
    actor: str


class CaseLinks(BaseModel):
    repeat_of: list[str] = Field(default=[], description="earlier complaints by the same customer or order")
    collective_with: list[str] = Field(default=[], description="the other complaints about the same location")


class StoredComplaint(BaseModel):
    id: str
    received_at: datetime
    text: str = Field(description="masked")
    language: Lang | None
    category: Category
    severity: Severity
    department: Department | None
    escalation_level: int | None
    refund_eligibility: RefundEligibility | None
    decision: Decision
    created_at: datetime
    status: CaseStatus
    assignee: str | None
    needs_review: bool
    overdue: bool = Field(description="a deadline passed without its step")
    acknowledge_by: datetime | None
    report_by: datetime | None
    resolve_by: datetime | None
    acknowledged_at: datetime | None
    reported_at: datetime | None
    resolved_at: datetime | None


class StoredComplaintWithFeedback(StoredComplaint):
    feedback: list[FeedbackOut]
    customer_id: str | None
    order_id: str | None
    location: str | None
    links: CaseLinks
    notes: list[Note]
    reply: Reply | None
    resolution: Resolution | None
    satisfaction: int | None = Field(ge=1, le=5)
    history: list[HistoryEvent] = Field(description="every change, oldest first; append-only")


class ComplaintPage(BaseModel):
    items: list[StoredComplaint]
    total: int = Field(description="rows matching the filters (all pages)")
    limit: int
    offset: int
    next: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class Sla(BaseModel):
    acknowledge_due: int = Field(description="cases acknowledged, or whose acknowledge_by has passed")
    acknowledged_on_time: int
    acknowledged_share: float | None = Field(description="on time / due; null when none is due")
    resolve_due: int
    resolved_on_time: int
    resolved_share: float | None


class StatsBucket(BaseModel):
    start: date
    total: int
    category: dict[str, int]
    severity: dict[str, int]
    department: dict[str, int]
    refund_eligibility: dict[str, int]
    sla: dict[str, Sla] = Field(description="per department: cases acknowledged / resolved by their deadlines")


class StatsOut(BaseModel):
    period: Literal["day", "week", "month"]
    received_from: datetime | None = Field(description="the window counted (from, inclusive)")
    received_to: datetime | None = Field(description="the window counted (to, exclusive)")
    buckets: list[StatsBucket]


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model: str


# ---------------------------------------------------------------- per-process Decider
_deciders: dict[tuple[int, str], Decider] = {}
_decider_lock = threading.Lock()


def process_decider(settings: Settings) -> Decider:
    """One loaded model per process: app factories called again (tests, reloads) reuse it; a forked worker
    (new pid) loads its own rather than sharing one built before the fork."""
    key = (os.getpid(), str(settings.model_dir or ""), str(settings.policy_dir or ""))
    with _decider_lock:
        if key not in _deciders:
            _deciders[key] = Decider(model_dir=settings.model_dir, policy_dir=settings.policy_dir)
        return _deciders[key]


# ---------------------------------------------------------------- helpers
def _store() -> Store:
    return current_app.extensions["triage_store"]


def _cases() -> Cases:
    return current_app.extensions["triage_cases"]


_ACTOR = re.compile(r"[A-Za-z0-9._@:+-]{1,200}")


def _actor() -> str:
    """Who made a change: the agent owning the API key when keys are configured (a key without an owner is
    recorded as `key-` + 8 hex digits of its hash), else the X-Actor header, else `anonymous`. Ids that are
    personal data are hashed like every stored id."""
    if g.get("actor"):
        return g.actor
    given = request.headers.get("X-Actor")
    if given is None:
        return "anonymous"
    if not _ACTOR.fullmatch(given):
        raise ApiError(422, "X-Actor must be 1-200 letters, digits or . _ @ : + -", "X-Actor")
    return mask_identifier(given, _id_key())


def _decider() -> Decider:
    return current_app.extensions["triage_decider"]


def _json_body() -> tuple[Any, bytes]:
    """The parsed body (checked by _check_tree) and its bytes, for _validate_body."""
    if not request.is_json:
        raise ApiError(415, "Content-Type must be application/json")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH raises 413
    try:
        data = json.loads(raw, parse_constant=_not_json)
    except RecursionError:
        raise ApiError(400, f"malformed JSON: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"malformed JSON: {e}") from None
    if _check_tree(data):
        raw = json.dumps(data, ensure_ascii=False).encode()
    return data, raw


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _validate_body(model: type[BaseModel], raw: bytes) -> Any:
    """Strict, as the document says: "true" is not a boolean, 1.0 not an integer, a bare date not a date-time."""
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as e:
        raise from_validation(e) from None


def _check_tree(data: Any) -> bool:
    """What JSON allows but no field of ours can hold, checked without recursion before any model sees it:
    nesting past MAX_JSON_DEPTH (400), and NUL characters, lone surrogates or integers past 2^53 (422, naming
    the field). A NUL is refused by PostgreSQL's text type and would be stored by SQLite: refusing it here
    gives one answer on both. A number with no fraction (3.0) is an integer in JSON Schema, so such floats
    become ints here (strict validation would refuse 3.0 for an integer field); True when any did."""
    changed = False
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise ApiError(400, f"malformed JSON: nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, str):
            _check_string(value, path)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, (dict, list)):
            keys = list(value) if isinstance(value, dict) else range(len(value))
            for k in keys:
                if isinstance(k, str):
                    _check_string(k, path + (k,))
                v = value[k]
                if isinstance(v, float) and v.is_integer() and abs(v) <= MAX_JSON_INT:
                    value[k] = int(v)
                    changed = True
                elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_JSON_INT:
                    # too big for an integer field (the document says so); a number field takes it as a float
                    try:
                        value[k] = float(v)
                    except OverflowError:
                        raise ApiError(422, "number out of range", _field(path + (k,))) from None
                    changed = True
                else:
                    stack.append((v, path + (k,)))
    return changed


def _check_string(value: str, path: tuple[Any, ...]) -> None:
    if "\x00" in value:
        raise ApiError(422, "contains a NUL character", _field(path))
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(422, "contains an unpaired surrogate (not UTF-8)", _field(path)) from None


def _field(path: tuple[Any, ...]) -> str | None:
    return ".".join(str(x) for x in path) or None


def _check_dates(complaint: Complaint, prefix: str = "") -> None:
    """received_at and incident_date in the years 1900-2199 (see EARLIEST), or 422 naming them."""
    for name in ("received_at", "incident_date"):
        value = getattr(complaint, name)
        if value is not None and value.year not in _YEARS:
            raise ApiError(422, f"{name} must lie in the years {_YEARS[0]}-{_YEARS[-1]}", prefix + name)


def _path_id(complaint_id: str) -> str:
    """An id no complaint can have (ids are 1-200 characters, without NUL) is unknown: 404 before the
    database is asked, the same on SQLite and PostgreSQL."""
    if len(complaint_id) > 200 or "\x00" in complaint_id:
        raise ApiError(404, "no complaint with that id", "id")
    return complaint_id


def _validate(model: type[BaseModel], data: Any, prefix: tuple[Any, ...] = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise from_validation(e, prefix) from None


def _dry_run() -> bool:
    return "dry_run" in request.args and _validate(DryRunQuery, {"dry_run": request.args["dry_run"]}).dry_run


def _utc(value: datetime | date | None, name: str, end: bool = False) -> datetime | None:
    """A bare date means the whole day: from its midnight, to the next midnight (exclusive). Out of
    [EARLIEST, LATEST] is a 422 naming the parameter."""
    if value is None:
        return None
    if value.year not in _YEARS:
        raise ApiError(422, f"{name} must lie in the years {_YEARS[0]}-{_YEARS[-1]}", name)
    if not isinstance(value, datetime):
        value = datetime.combine(value + timedelta(days=1) if end else value, dtime.min)
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


_FILTERS = ("category", "severity", "department", "escalation_level", "status", "needs_review", "language",
            "refund_eligibility", "overdue")


def _filters(q: ListQuery | StatsQuery) -> Filters:
    extra = {k: getattr(q, k) for k in _FILTERS if hasattr(q, k)}
    if getattr(q, "assignee", None) is not None:
        extra["assignee"] = mask_identifier(q.assignee, _id_key())
    return Filters(received_from=_utc(q.received_from, "received_from"),
                   received_to=_utc(q.received_to, "received_to", end=True), **extra)


def encode_cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["received_at"].isoformat(), row["id"]], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        at, cid = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        when = datetime.fromisoformat(at)
        if not isinstance(cid, str) or when.tzinfo is None or when.year not in _YEARS:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise ApiError(422, "not a cursor this API returned", "cursor") from None
    return Cursor(received_at=when, id=cid)


def _id_key() -> str:
    return current_app.config["TRIAGE_SETTINGS"].id_hash_key.get_secret_value()


def _stored_id(complaint_id: str) -> str:
    """The id a complaint is stored, looked up and logged under: an id that is personal data is hashed."""
    return mask_identifier(complaint_id, _id_key())


_INTERNAL = ("input", "pauses", "paused_since", "due_at", "customer_key", "updated_at", "links", "history",
             "feedback", "reply", "resolution", "satisfaction", "order_id", "location")


def _row_out(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the API shows it (a list item, or a feedback row)."""
    out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k not in _INTERNAL}
    if "status" in row:
        due = row.get("due_at")
        out["overdue"] = due is not None and due < datetime.now(timezone.utc)
    return out


def _case_out(row: dict[str, Any]) -> dict[str, Any]:
    """The whole case: the row, its links, notes, reply, resolution, satisfaction and history."""
    out = _row_out(row)
    out["customer_id"] = row.get("customer_key")
    out["order_id"] = row.get("order_id")
    out["location"] = row.get("location")
    out["links"] = {"repeat_of": [], "collective_with": [], **(row.get("links") or {})}
    history = row.get("history")
    if history is None:
        history = _store().history(row["id"])
    out["history"] = [_row_out(e) for e in history]
    out["notes"] = [{"at": e["at"], "actor": e["actor"], "text": e["after"]["text"]}
                    for e in out["history"] if e["action"] == "note"]
    out["reply"] = row.get("reply")
    out["resolution"] = row.get("resolution")
    out["satisfaction"] = row.get("satisfaction")
    out["feedback"] = [_row_out(f) for f in (row.get("feedback") or [])]
    return out


def _respond(body: Any, status: int = 200) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    return resp


# ---------------------------------------------------------------- OpenAPI, generated from the routes below
# spectree reads each route's query/body/response models from its decorator and the paths from the app's URL map,
# so the document cannot drift from the code. Validation stays ours (skip_validation): one error shape, fields
# named the same way everywhere. openapi_spec() adds what depends on the app (security) and the links.
spec_tree = SpecTree("flask", mode="strict", annotations=False, title="complaint-triage", version="1",
                     description="Every error is JSON {error, detail, field}. No string (body, path or query) "
                                 "may contain U+0000; JSON nests at most 32 levels deep.",
                     validation_error_model=ErrorOut, naming_strategy=lambda model: model.__name__,
                     nested_naming_strategy=lambda _parent, child: child)
_ERRORS = {400: "malformed JSON", 401: "missing or wrong X-API-Key", 404: "unknown id",
           409: "the case's state does not allow it (the detail says why)", 413: "too large",
           415: "not application/json", 422: "invalid field (named in `field`)", 503: "database unavailable"}


def _responses(ok: dict[int, type[BaseModel]], *errors: int) -> Responses:
    return Responses(**{f"HTTP_{k}": v for k, v in ok.items()}, **{f"HTTP_{k}": ErrorOut for k in errors})


def documented(query: type[BaseModel] | None = None, json_body: type[BaseModel] | None = None,
               ok: dict[int, type[BaseModel]] | None = None, errors: tuple[int, ...] = (), **kw: Any) -> Any:
    return spec_tree.validate(query=query, json=json_body, resp=_responses(ok or {}, *errors),
                              skip_validation=True, **kw)


_V1_GET = (401, 422, 503)
_V1_POST = (400, 401, 409, 413, 415, 422, 503)

# ---------------------------------------------------------------- blueprints
v1 = Blueprint("v1", __name__, url_prefix="/v1")
ops = Blueprint("ops", __name__)


@v1.before_request
def _check_api_key() -> None:
    owners: dict[str, str | None] = current_app.config["TRIAGE_SETTINGS"].key_owners
    if owners:
        given = request.headers.get("X-API-Key", "")
        matched = [k for k in owners if hmac.compare_digest(given.encode(), k.encode())]
        if not matched:
            raise ApiError(401, "missing or wrong X-API-Key header", "X-API-Key")
        owner = owners[matched[0]]
        g.actor = (mask_identifier(owner, _id_key()) if owner
                   else "key-" + hashlib.sha256(matched[0].encode()).hexdigest()[:8])
    _store().ensure_schema_once()


@v1.post("/triage")
@documented(query=DryRunQuery, json_body=Complaint, ok={201: Decision, 200: Decision}, errors=_V1_POST,
            operation_id="triage")
def triage_one() -> Response:
    """Decide one complaint and store it (idempotent on id)

    201 with the decision when new; 200 with the stored decision when the id was seen before.
    """
    dry_run = _dry_run()
    _, raw = _json_body()
    complaint: Complaint = _validate_body(Complaint, raw)
    _check_dates(complaint)
    complaint = complaint.with_defaults()
    g.complaint_ids = [_stored_id(complaint.id)]
    if not dry_run and (stored := _store().get_row(g.complaint_ids[0])) is not None:
        _check_same_overrides(complaint, stored)
        return _respond(stored["decision"], 200)
    record = to_record(complaint, _decider().decide(complaint), _id_key())
    if dry_run:
        return _respond(record.decision, 200)
    decision, created = _store().insert(record, _actor())
    if created and _linkable(record):
        _cases().settle_links([record.id], _actor())
        decision = _store().get_decision(record.id)
    return _respond(decision, 201 if created else 200)


_OVERRIDES = ("category", "severity", "department")


def _check_same_overrides(complaint: Complaint, stored: dict[str, Any], prefix: str = "") -> None:
    """A complaint posted again under a stored id with other overrides would otherwise get the old decision
    back silently: 409, pointing at the correction endpoint (which re-decides and keeps the history)."""
    had = stored.get("input") or {}
    for name in _OVERRIDES:
        given = getattr(complaint, name)
        if given is not None and given != had.get(name):
            raise ApiError(409, f"complaint {complaint.id!r} is already stored, decided with {name}="
                                f"{had.get(name) or 'none (the model)'}; to correct it, POST "
                                f"/v1/complaints/{{id}}/feedback with {{\"{name}\": \"{given}\"}} (it re-decides "
                                "and keeps the old decision in the history)", prefix + name, "conflict")


def _linkable(record: Any) -> bool:
    return any(v is not None for v in (record.customer_key, record.order_id, record.location))


@v1.post("/triage/batch")
@documented(query=DryRunQuery, json_body=BatchRequest, ok={201: BatchResponse, 200: BatchResponse},
            errors=_V1_POST, operation_id="triageBatch")
def triage_batch() -> Response:
    """Decide up to max_batch complaints (and max_batch_chars characters of text) in one transaction

    All or nothing: one invalid item stores none. 201 when any item is new.
    """
    dry_run = _dry_run()
    body, raw = _json_body()
    settings: Settings = current_app.config["TRIAGE_SETTINGS"]
    if isinstance(body, dict) and isinstance(body.get("complaints"), list):
        items = body["complaints"]
        if len(items) > settings.max_batch:
            raise ApiError(422, f"at most {settings.max_batch} complaints per batch", "complaints")
        chars = sum(len(c["text"]) for c in items if isinstance(c, dict) and isinstance(c.get("text"), str))
        if chars > settings.max_batch_chars:
            raise ApiError(413, f"the batch's texts hold {chars:,} characters; at most {settings.max_batch_chars:,} "
                           "per request (split it into smaller batches)", "complaints")
    batch: BatchRequest = _validate_body(BatchRequest, raw)
    for i, c in enumerate(batch.complaints):
        _check_dates(c, f"complaints.{i}.")
    complaints = [c.with_defaults() for c in batch.complaints]
    g.complaint_ids = [_stored_id(c.id) for c in complaints]
    stored: dict[str, dict[str, Any]] = {}
    if not dry_run:
        for i, c in enumerate(complaints):
            if c.id not in stored and (row := _store().get_row(_stored_id(c.id))) is not None:
                _check_same_overrides(c, row, f"complaints.{i}.")
                stored[c.id] = row["decision"]
    todo = [c for c in complaints if c.id not in stored]
    records = {c.id: to_record(c, d, _id_key()) for c, d in zip(todo, _decider().decide_many(todo))}
    if dry_run:
        return _respond({"items": [{"created": False, "decision": records[c.id].decision} for c in complaints]})
    results = iter(_store().insert_many([records[c.id] for c in todo], _actor()))
    linked = [r.id for r in records.values() if _linkable(r)]
    items = []
    for c in complaints:
        if c.id in stored:
            items.append({"created": False, "decision": stored[c.id]})
        else:
            decision, created = next(results)
            items.append({"created": created, "decision": decision})
    if linked:
        _cases().settle_links(linked, _actor())
        fresh = {i: _store().get_decision(i) for i in linked}
        for item in items:
            if item["created"] and item["decision"]["id"] in fresh:
                item["decision"] = fresh[item["decision"]["id"]]
    return _respond({"items": items}, 201 if any(i["created"] for i in items) else 200)


@v1.get("/complaints/<complaint_id>")
@documented(ok={200: StoredComplaintWithFeedback}, errors=(401, 404, 503), operation_id="getComplaint")
def get_complaint(complaint_id: str) -> Response:
    """One stored complaint (masked text): its decision, its case and history, links and feedback"""
    row = _store().get(_stored_id(_path_id(complaint_id)))
    if row is None:
        raise ApiError(404, f"no complaint with id {complaint_id!r}", "id")
    return _respond(_case_out(row))


@v1.get("/complaints")
@documented(query=ListQuery, ok={200: ComplaintPage}, errors=_V1_GET, operation_id="listComplaints")
def list_complaints() -> Response:
    """Stored complaints, newest first, filtered and paged

    Page by `cursor` (each page's `next`); `offset` works up to a cap.
    """
    q: ListQuery = _validate(ListQuery, request.args.to_dict())
    after = decode_cursor(q.cursor) if q.cursor is not None else None
    rows, total = _store().list(_filters(q), limit=q.limit, offset=q.offset, after=after)
    following = encode_cursor(rows[-1]) if len(rows) == q.limit else None
    return _respond({"items": [_row_out(r) for r in rows], "total": total, "limit": q.limit, "offset": q.offset,
                     "next": following})


@v1.post("/complaints/<complaint_id>/feedback")
@documented(json_body=FeedbackIn, ok={201: FeedbackOut}, errors=(400, 401, 404, 413, 415, 422, 503),
            operation_id="addFeedback")
def add_feedback(complaint_id: str) -> Response:
    """An agent's correction of category/severity/department, or a note"""
    _path_id(complaint_id)
    fb: FeedbackIn = _validate_body(FeedbackIn, _json_body()[1])
    try:
        saved = _store().add_feedback(_stored_id(complaint_id), fb.category, fb.severity, fb.department,
                                      mask_text(fb.note) if fb.note else None)
    except NotFound:
        raise ApiError(404, f"no complaint with id {complaint_id!r}", "id") from None
    saved = _row_out(saved)
    if fb.category or fb.severity or fb.department:
        row = _cases().correct(_stored_id(complaint_id), {"category": fb.category, "severity": fb.severity,
                                                          "department": fb.department}, _actor())
        saved["decision"] = row["decision"]
    return _respond(saved, 201)


_CASE_ERRORS = (400, 401, 404, 409, 413, 415, 422, 503)


def _case_change(complaint_id: str, model: type[BaseModel]) -> tuple[str, Any]:
    _path_id(complaint_id)
    body = _validate_body(model, _json_body()[1])
    return _stored_id(complaint_id), body


@v1.post("/complaints/<complaint_id>/status")
@documented(json_body=StatusIn, ok={200: StoredComplaintWithFeedback}, errors=_CASE_ERRORS,
            operation_id="setStatus")
def set_status(complaint_id: str) -> Response:
    """Move the case to another status (409 when the status machine does not allow it)"""
    cid, body = _case_change(complaint_id, StatusIn)
    return _respond(_case_out(_cases().set_status(cid, body.status, _actor(), body.note and mask_text(body.note))))


@v1.post("/complaints/<complaint_id>/assign")
@documented(json_body=AssignIn, ok={200: StoredComplaintWithFeedback}, errors=_CASE_ERRORS,
            operation_id="assign")
def assign(complaint_id: str) -> Response:
    """Assign the case to an agent (422 when the agent is one of the decision's exclude_handlers)"""
    cid, body = _case_change(complaint_id, AssignIn)
    return _respond(_case_out(_cases().assign(cid, body.assignee, _actor())))


@v1.post("/complaints/<complaint_id>/notes")
@documented(json_body=NoteIn, ok={200: StoredComplaintWithFeedback}, errors=_CASE_ERRORS, operation_id="addNote")
def add_note(complaint_id: str) -> Response:
    """Add a note to the case's history"""
    cid, body = _case_change(complaint_id, NoteIn)
    return _respond(_case_out(_cases().note(cid, body.text, _actor())))


@v1.post("/complaints/<complaint_id>/reply")
@documented(json_body=ReplyIn, ok={200: StoredComplaintWithFeedback}, errors=_CASE_ERRORS, operation_id="reply")
def reply(complaint_id: str) -> Response:
    """Record the reply sent to the customer"""
    cid, body = _case_change(complaint_id, ReplyIn)
    return _respond(_case_out(_cases().reply(cid, body.text, _actor())))


@v1.post("/complaints/<complaint_id>/resolution")
@documented(json_body=Resolution, ok={200: StoredComplaintWithFeedback}, errors=_CASE_ERRORS,
            operation_id="setResolution")
def set_resolution(complaint_id: str) -> Response:
    """Record the resolution: remedy, refund amount, note"""
    cid, body = _case_change(complaint_id, Resolution)
    return _respond(_case_out(_cases().resolution(cid, body.model_dump(), _actor())))


@v1.post("/complaints/<complaint_id>/satisfaction")
@documented(json_body=SatisfactionIn, ok={200: StoredComplaintWithFeedback}, errors=_CASE_ERRORS,
            operation_id="setSatisfaction")
def set_satisfaction(complaint_id: str) -> Response:
    """Record the customer's satisfaction (1-5) from the follow-up of a resolved case"""
    cid, body = _case_change(complaint_id, SatisfactionIn)
    return _respond(_case_out(_cases().satisfaction(cid, body.score, _actor())))


@v1.post("/complaints/<complaint_id>/report")
@documented(json_body=ReportIn, ok={200: StoredComplaintWithFeedback}, errors=_CASE_ERRORS,
            operation_id="reportToManagement")
def report(complaint_id: str) -> Response:
    """Record that the case was reported to management (the step report_by guards)"""
    cid, body = _case_change(complaint_id, ReportIn)
    return _respond(_case_out(_cases().report(cid, body.note, _actor())))


@v1.get("/stats")
@documented(query=StatsQuery, ok={200: StatsOut}, errors=_V1_GET, operation_id="stats")
def stats() -> Response:
    """Counts per day/week/month by category, severity, department, refund eligibility

    Without received_from and received_to, the last 31 days.
    """
    q: StatsQuery = _validate(StatsQuery, request.args.to_dict())
    f = _filters(q)
    if f.received_from is None and f.received_to is None:
        f = Filters(received_from=datetime.now(timezone.utc) - timedelta(days=STATS_DEFAULT_DAYS))
    return _respond({"period": q.period, "received_from": _iso(f.received_from), "received_to": _iso(f.received_to),
                     "buckets": _store().stats(q.period, f)})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@ops.get("/healthz")
@documented(ok={200: Health}, operation_id="healthz")
def healthz() -> Response:
    """The process is up (never touches the database)"""
    return _respond({"status": "ok"})


@ops.get("/readyz")
@documented(ok={200: Ready}, errors=(503,), operation_id="readyz")
def readyz() -> Response:
    """The model is loaded and the database answers"""
    try:
        _store().ping()
    except Exception as e:  # noqa: BLE001 - any database failure means "not ready", never a 500
        raise ApiError(503, f"database unavailable: {type(e).__name__}") from None
    return _respond({"status": "ready", "model": _decider().triage.model_version})


@ops.get("/openapi.json")
def openapi() -> Response:
    return _respond(openapi_spec())


@ops.get("/docs")
def docs() -> Response:
    return Response(docs_html(openapi_spec()), mimetype="text/html")


# Links for a client (and schemathesis' stateful phase): where a created complaint's id goes next.
_ID_LINKS = {
    "GetComplaint": {"operationId": "getComplaint", "parameters": {"complaint_id": "$response.body#/id"}},
    "AddFeedback": {"operationId": "addFeedback", "parameters": {"complaint_id": "$response.body#/id"}},
    "SetStatus": {"operationId": "setStatus", "parameters": {"complaint_id": "$response.body#/id"}},
    "Assign": {"operationId": "assign", "parameters": {"complaint_id": "$response.body#/id"}},
    "AddNote": {"operationId": "addNote", "parameters": {"complaint_id": "$response.body#/id"}},
}
_LINKS = {
    ("/v1/triage", "post"): {"201": _ID_LINKS, "200": _ID_LINKS},
    ("/v1/triage/batch", "post"): {code: {
        "GetFirstComplaint": {"operationId": "getComplaint",
                              "parameters": {"complaint_id": "$response.body#/items/0/decision/id"}},
    } for code in ("201", "200")},
    ("/v1/complaints/{complaint_id}/feedback", "post"): {"201": {
        "GetComplaint": {"operationId": "getComplaint",
                         "parameters": {"complaint_id": "$response.body#/complaint_id"}},
    }},
}
_base_spec: dict[str, Any] | None = None
_base_lock = threading.Lock()


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: `anyOf [X, null]` from an optional model field becomes X."""
    alts = schema.get("anyOf")
    if isinstance(alts, list):
        kept = [a for a in alts if a.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}
    return schema


def openapi_spec() -> dict[str, Any]:
    """spectree's document for the routes (built once per process: every app has the same routes), plus
    security when, and only where, this app checks keys, and the links."""
    global _base_spec
    with _base_lock:
        if _base_spec is None:
            _base_spec = json.loads(json.dumps(spec_tree.spec))
        spec = copy.deepcopy(_base_spec)
    spec.pop("security", None)
    spec.pop("tags", None)
    keys = bool(current_app.config["TRIAGE_SETTINGS"].key_set)
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            op.pop("tags", None)
            op["parameters"] = [{**p, "schema": _strip_null(p["schema"])} if p["in"] == "query" else p
                                for p in op.get("parameters", [])]
            if "requestBody" not in op and not any(p["in"] == "query" for p in op["parameters"]):
                op["responses"].pop("422", None)  # spectree lists it everywhere; nothing here can be invalid
            for status, why in _ERRORS.items():
                if str(status) in op["responses"]:
                    op["responses"][str(status)]["description"] = why
            if not path.startswith("/v1"):
                continue
            if keys:
                op["security"] = [{"ApiKey": []}]
            else:
                op["responses"].pop("401", None)
                if method == "post" and path.startswith("/v1/complaints/"):
                    op["parameters"].append({
                        "name": "X-Actor", "in": "header", "required": False,
                        "description": "the agent making the change (without API keys; default `anonymous`)",
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._@:+-]{1,200}$"}})
            for status, links in _LINKS.get((path, method), {}).items():
                op["responses"][status]["links"] = links
    if keys:
        spec["components"]["securitySchemes"] = {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    _document_body_checks(spec["components"]["schemas"])
    # this app's limit (a setting); the characters budget (TRIAGE_MAX_BATCH_CHARS) is the documented 413
    spec["components"]["schemas"]["BatchRequest"]["properties"]["complaints"]["maxItems"] = \
        current_app.config["TRIAGE_SETTINGS"].max_batch
    return spec


# Python's str.isspace() (the contract's "not blank") in ECMA regex terms: \s, plus the separators U+001C-U+001F
# and U+0085 that \s lacks, minus U+FEFF that \s has.
_NOT_BLANK = r"[^\s\u001c-\u001f\u0085]|\ufeff"


def _document_body_checks(schemas: dict[str, Any]) -> None:
    """What the API checks beyond the contract's models (_check_tree, _check_dates, the text's "not blank"),
    written into their schemas so the document promises exactly what is accepted."""
    complaint = schemas["Complaint"]["properties"]
    complaint["text"]["pattern"] = _NOT_BLANK
    for name in ("received_at", "incident_date"):
        for alt in complaint[name].get("anyOf", [complaint[name]]):
            if alt.get("type") == "string":
                alt["pattern"] = YEARS_PATTERN
    stack: list[Any] = list(schemas.values())
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "integer":
                node.setdefault("maximum", MAX_JSON_INT)
                node.setdefault("minimum", -MAX_JSON_INT)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def docs_html(spec: dict[str, Any]) -> str:
    """A self-contained listing: works offline and behind strict CSPs, unlike a CDN-hosted Swagger UI."""
    e = html.escape
    rows = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "").rsplit("/", 1)[-1]
            link = f'<a href="#{e(ref)}">{e(ref)}</a>' if ref else ""
            rows.append(f"<tr><td><code>{e(method.upper())}</code></td><td><code>{e(path)}</code></td>"
                        f"<td>{e(op['summary'])}</td><td>{e(params)}</td>"
                        f"<td>{link}</td>"
                        f"<td>{e(', '.join(op['responses']))}</td></tr>")
    schemas = "".join(f'<h3 id="{e(n)}">{e(n)}</h3><pre>{e(json.dumps(s, indent=2, ensure_ascii=False))}</pre>'
                      for n, s in spec["components"]["schemas"].items())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>complaint-triage API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px}"
        "table{border-collapse:collapse}pre{background:#f6f6f6;padding:8px}</style></head><body>"
        "<h1>complaint-triage API</h1><p>Machine-readable spec: <a href='/openapi.json'>/openapi.json</a>. "
        "When API keys are configured, send <code>X-API-Key</code> on every <code>/v1</code> request.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>query</th><th>body</th><th>statuses</th></tr>"
        + "".join(rows) + "</table><h2>Schemas</h2>" + schemas + "</body></html>"
    )


# ---------------------------------------------------------------- structured logs
class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        for key in ("request_id", "method", "path", "status", "duration_ms", "complaint_ids", "traceback", "pid"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        return mask_text(json.dumps(out, ensure_ascii=False, default=str))


def configure_logging(level: str) -> None:
    logger = logging.getLogger("complaint_triage.service")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def _register_request_log(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.t0 = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def _log(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        log.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method, "path": request.path,
            "status": resp.status_code, "pid": os.getpid(),
            "duration_ms": round((time.perf_counter() - g.get("t0", time.perf_counter())) * 1000, 2),
            "complaint_ids": g.get("complaint_ids", []),
        })
        return resp


# ---------------------------------------------------------------- factory
def create_app(settings: Settings | None = None, decider: Decider | None = None,
               store: Store | None = None) -> Flask:
    """``store`` replaces the one settings.database_url names (tests pass one with its own table prefix)."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config.update(TRIAGE_SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = store or Store(settings.database_url)
    try:
        store.create_schema()
    except UNAVAILABLE as e:  # the database may come up after the service: /v1 answers 503 until it does
        log_exception("database unavailable at start:", e)
    else:
        store.schema_ready = True
    app.extensions["triage_store"] = store
    app.extensions["triage_decider"] = decider or process_decider(settings)
    app.extensions["triage_cases"] = Cases(store, app.extensions["triage_decider"],
                                           settings.id_hash_key.get_secret_value())
    register_error_handlers(app)
    _register_request_log(app)
    app.register_blueprint(v1)
    app.register_blueprint(ops)
    from complaint_triage.service.console import init_console  # the agent console and dashboard, /console

    init_console(app)
    return app
