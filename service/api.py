"""The HTTP API over the Decider and the Store (Flask application factory, one blueprint per resource).

Every accepted complaint and its decision are committed before the 2xx leaves, so an acknowledged complaint
survives a crash. Text is masked before it is stored or logged; the decision returned quotes it only masked.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import os
import threading
import time
import uuid
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Annotated, Any, Literal

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import models_json_schema

from complaint_triage.service.errors import ApiError, from_validation, register_error_handlers
from complaint_triage.masking import mask_decision, mask_text
from complaint_triage.pipeline import Decider
from complaint_triage.service.settings import Settings
from complaint_triage.service.store import Filters, NotFound, Record, Store
from complaint_triage.contract import Category, Complaint, Decision, Department, Severity

log = logging.getLogger("complaint_triage.service.api")

MAX_PAGE = 500


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

    model_config = ConfigDict(extra="forbid")
    category: Category | None = None
    severity: Severity | None = None
    department: Department | None = None
    note: str | None = Field(default=None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _something(self) -> "FeedbackIn":
        if not any((self.category, self.severity, self.department, self.note)):
            raise ValueError("give at least one of category, severity, department, note")
        return self


def _parse_when(value: Any) -> Any:
    """ISO date or date-time; a bare date stays a date so a range end can mean "through that day"."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 date or date-time") from None
    return value


When = Annotated[datetime | date, BeforeValidator(_parse_when)]


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category | None = None
    severity: Severity | None = None
    department: Department | None = None
    escalation_level: int | None = Field(default=None, ge=0, le=3)
    received_from: When | None = None
    received_to: When | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0)


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: Literal["day", "week", "month"] = "day"
    received_from: When | None = None
    received_to: When | None = None


class ErrorOut(BaseModel):
    error: str
    detail: str
    field: str | None


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


def _decider() -> Decider:
    return current_app.extensions["triage_decider"]


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "Content-Type must be application/json")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH raises 413
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"malformed JSON: {e}") from None


def _validate(model: type[BaseModel], data: Any, prefix: tuple[Any, ...] = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise from_validation(e, prefix) from None


def _flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise ApiError(422, f"{name} must be true or false", name)


def _utc(value: datetime | date | None, end: bool = False) -> datetime | None:
    """A bare date means the whole day: from its midnight, to the next midnight (exclusive)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value + timedelta(days=1) if end else value, dtime.min)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _filters(q: ListQuery | StatsQuery) -> Filters:
    extra = {k: getattr(q, k) for k in ("category", "severity", "department", "escalation_level") if hasattr(q, k)}
    return Filters(received_from=_utc(q.received_from), received_to=_utc(q.received_to, end=True), **extra)


def to_record(complaint: Complaint, decision: Decision) -> Record:
    """The stored and returned form: the decision with its evidence re-quoted from the masked text."""
    dumped, masked = mask_decision(decision.model_dump(mode="json"), complaint.text)
    return Record(
        id=decision.id,
        received_at=complaint.received_at,
        text=masked,
        language=decision.language,
        category=decision.category.label,
        severity=decision.severity.label,
        department=decision.department,
        escalation_level=decision.escalation.level,
        refund_eligibility=decision.refund.eligibility,
        decision=dumped,
    )


def _row_out(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in ("received_at", "created_at"):
        if isinstance(out.get(k), datetime):
            out[k] = out[k].isoformat()
    if "feedback" in out:
        out["feedback"] = [_row_out(f) for f in out["feedback"]]
    return out


def _respond(body: Any, status: int = 200) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    return resp


# ---------------------------------------------------------------- blueprints
v1 = Blueprint("v1", __name__, url_prefix="/v1")
ops = Blueprint("ops", __name__)


@v1.before_request
def _check_api_key() -> None:
    keys: frozenset[str] = current_app.config["TRIAGE_SETTINGS"].key_set
    if not keys:
        return
    given = request.headers.get("X-API-Key", "")
    if not any(hmac.compare_digest(given.encode(), k.encode()) for k in keys):
        raise ApiError(401, "missing or wrong X-API-Key header", "X-API-Key")


@v1.post("/triage")
def triage_one() -> Response:
    dry_run = _flag("dry_run")
    complaint: Complaint = _validate(Complaint, _json_body()).with_defaults()
    g.complaint_ids = [complaint.id]
    if not dry_run and (stored := _store().get_decision(complaint.id)) is not None:
        return _respond(stored, 200)
    record = to_record(complaint, _decider().decide(complaint))
    if dry_run:
        return _respond(record.decision, 200)
    decision, created = _store().insert(record)
    return _respond(decision, 201 if created else 200)


@v1.post("/triage/batch")
def triage_batch() -> Response:
    dry_run = _flag("dry_run")
    body = _json_body()
    limit = current_app.config["TRIAGE_SETTINGS"].max_batch
    if isinstance(body, dict) and isinstance(body.get("complaints"), list) and len(body["complaints"]) > limit:
        raise ApiError(422, f"at most {limit} complaints per batch", "complaints")
    batch: BatchRequest = _validate(BatchRequest, body)
    complaints = [c.with_defaults() for c in batch.complaints]
    g.complaint_ids = [c.id for c in complaints]
    stored: dict[str, dict[str, Any]] = {}
    if not dry_run:
        for c in complaints:
            if c.id not in stored and (d := _store().get_decision(c.id)) is not None:
                stored[c.id] = d
    todo = [c for c in complaints if c.id not in stored]
    records = {r.id: r for r in (to_record(c, d) for c, d in zip(todo, _decider().decide_many(todo)))}
    if dry_run:
        return _respond({"items": [{"created": False, "decision": records[c.id].decision} for c in complaints]})
    results = iter(_store().insert_many([records[c.id] for c in todo]))
    items = []
    for c in complaints:
        if c.id in stored:
            items.append({"created": False, "decision": stored[c.id]})
        else:
            decision, created = next(results)
            items.append({"created": created, "decision": decision})
    return _respond({"items": items}, 201 if any(i["created"] for i in items) else 200)


@v1.get("/complaints/<complaint_id>")
def get_complaint(complaint_id: str) -> Response:
    row = _store().get(complaint_id)
    if row is None:
        raise ApiError(404, f"no complaint with id {complaint_id!r}", "id")
    return _respond(_row_out(row))


@v1.get("/complaints")
def list_complaints() -> Response:
    q: ListQuery = _validate(ListQuery, request.args.to_dict())
    rows, total = _store().list(_filters(q), limit=q.limit, offset=q.offset)
    return _respond({"items": [_row_out(r) for r in rows], "total": total, "limit": q.limit, "offset": q.offset})


@v1.post("/complaints/<complaint_id>/feedback")
def add_feedback(complaint_id: str) -> Response:
    fb: FeedbackIn = _validate(FeedbackIn, _json_body())
    try:
        saved = _store().add_feedback(complaint_id, fb.category, fb.severity, fb.department,
                                      mask_text(fb.note) if fb.note else None)
    except NotFound:
        raise ApiError(404, f"no complaint with id {complaint_id!r}", "id") from None
    return _respond(_row_out(saved), 201)


@v1.get("/stats")
def stats() -> Response:
    q: StatsQuery = _validate(StatsQuery, request.args.to_dict())
    return _respond({"period": q.period, "buckets": _store().stats(q.period, _filters(q))})


@ops.get("/healthz")
def healthz() -> Response:
    return _respond({"status": "ok"})


@ops.get("/readyz")
def readyz() -> Response:
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


# ---------------------------------------------------------------- OpenAPI from the pydantic models
_ROUTES: list[tuple[str, str, str, str | None, dict[str, str], list[str]]] = [
    # path, method, summary, request schema, {status: response schema}, query params
    ("/v1/triage", "post", "Decide one complaint and store it (idempotent on id)", "Complaint",
     {"201": "Decision", "200": "Decision"}, ["dry_run"]),
    ("/v1/triage/batch", "post", "Decide up to max_batch complaints in one transaction", "BatchRequest",
     {"201": "BatchResponse", "200": "BatchResponse"}, ["dry_run"]),
    ("/v1/complaints/{id}", "get", "One stored complaint (masked text), its decision and feedback", None,
     {"200": ""}, []),
    ("/v1/complaints", "get", "Stored complaints, newest first, filtered and paged", None, {"200": ""},
     list(ListQuery.model_fields)),
    ("/v1/complaints/{id}/feedback", "post", "An agent's correction of category/severity/department", "FeedbackIn",
     {"201": ""}, []),
    ("/v1/stats", "get", "Counts per day/week/month by category, severity, department, refund eligibility", None,
     {"200": ""}, list(StatsQuery.model_fields)),
    ("/healthz", "get", "The process is up", None, {"200": ""}, []),
    ("/readyz", "get", "The model is loaded and the database answers", None, {"200": "", "503": "ErrorOut"}, []),
]
_ERRORS = {"400": "malformed JSON", "401": "missing or wrong X-API-Key", "404": "unknown id",
           "413": "body too large", "415": "not application/json", "422": "invalid field"}


def openapi_spec() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation" if m in (Complaint, BatchRequest, FeedbackIn) else "serialization")
         for m in (Complaint, Decision, BatchRequest, BatchResponse, FeedbackIn, ErrorOut)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, summary, req, responses, params in _ROUTES:
        op: dict[str, Any] = {"summary": summary, "responses": {}}
        if req:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{req}"}}}}
        op["parameters"] = [{"name": p, "in": "query", "schema": {"type": "string"}} for p in params]
        if "{id}" in path:
            op["parameters"].append({"name": "id", "in": "path", "required": True, "schema": {"type": "string"}})
        for status, schema in responses.items():
            content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}} if schema else {}
            op["responses"][status] = {"description": "OK" if status < "300" else "error",
                                       **({"content": content} if content else {})}
        if path.startswith("/v1"):
            for status, why in _ERRORS.items():
                op["responses"].setdefault(status, {"description": why, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}})
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "complaint-triage", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
        "security": [{"ApiKey": []}],
    }


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
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex

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
def create_app(settings: Settings | None = None, decider: Decider | None = None) -> Flask:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config.update(TRIAGE_SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = Store(settings.database_url)
    store.create_schema()
    app.extensions["triage_store"] = store
    app.extensions["triage_decider"] = decider or process_decider(settings)
    register_error_handlers(app)
    _register_request_log(app)
    app.register_blueprint(v1)
    app.register_blueprint(ops)
    return app
