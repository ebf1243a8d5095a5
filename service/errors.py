"""Every error leaves the service as the same small JSON object; clients never see HTML or a stack trace.

Logs never carry complaint text: an unexpected exception is logged as its type and the stack's frames (file,
line, code), never its message or arguments, because messages quote values (a database error's parameters, a
KeyError's key, psycopg's ``invalid input syntax ... "<value>"``).
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from flask import Flask, jsonify
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from complaint_triage.masking import mask_text

log = logging.getLogger("complaint_triage.service.errors")

# Machine-readable codes, stable across wording changes of the detail.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "validation_error",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
    504: "timeout",
}
# The database cannot be reached (down, restarting, out of connections, SQLite locked past the busy timeout):
# the client may retry, so 503, not 500.
UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


class ApiError(Exception):
    """Raised anywhere in a request to answer the client with a status, a code, a reason and the field at fault."""

    def __init__(self, status_code: int, detail: str, field: str | None = None, error: str | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.field = field
        self.error = error or _CODES.get(status_code, "error")

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail, "field": self.field}


def field_path(loc: tuple[Any, ...]) -> str | None:
    return ".".join(str(x) for x in loc) or None


def from_validation(e: ValidationError, prefix: tuple[Any, ...] = ()) -> ApiError:
    """The first error names the field; the input value is left out because it may hold personal data."""
    errs = e.errors(include_input=False, include_url=False)
    first = errs[0] if errs else {"loc": (), "msg": "invalid"}
    detail = "; ".join(f"{field_path(prefix + tuple(x['loc'])) or 'body'}: {x['msg']}" for x in errs[:5])
    return ApiError(422, detail, field_path(prefix + tuple(first["loc"])))


def error_body(status_code: int, detail: str, field: str | None = None) -> bytes:
    """The error object as bytes, for writers outside Flask (gunicorn's own error pages)."""
    return json.dumps(ApiError(status_code, detail, field).to_dict(), ensure_ascii=False).encode()


def log_exception(message: str, e: BaseException) -> None:
    """The exception's type (and SQLSTATE) and the frames of its stack: never its message or parameters."""
    kind = type(e).__name__
    orig = e.orig if isinstance(e, DBAPIError) else None
    extra = f" from {type(orig).__name__}" if orig is not None else ""
    sqlstate = getattr(orig, "sqlstate", None)
    frames = "".join(traceback.format_tb(e.__traceback__))
    log.error("%s %s%s%s", message, kind, extra, f" (SQLSTATE {sqlstate})" if sqlstate else "",
              extra={"traceback": mask_text(frames)})


def _respond(err: ApiError):
    resp = jsonify(err.to_dict())
    resp.status_code = err.status_code
    if err.status_code == 401:
        resp.headers["WWW-Authenticate"] = "ApiKey"
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return _respond(e)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError):
        # Client input is validated at the edge and raised as ApiError(422); a ValidationError reaching here
        # came from our own code building a model, so it is a server fault and must not blame the client.
        log_exception("unhandled", e)
        err = from_validation(e)
        return _respond(ApiError(500, "internal validation error", err.field))

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        code = e.code or 500
        resp = _respond(ApiError(code, e.description or e.name))
        if code == 405 and e.get_response().headers.get("Allow"):
            resp.headers["Allow"] = e.get_response().headers["Allow"]
        return resp

    @app.errorhandler(SQLAlchemyError)
    def _database(e: SQLAlchemyError):
        if isinstance(e, UNAVAILABLE):
            log_exception("database unavailable:", e)
            return _respond(ApiError(503, "database unavailable, retry later"))
        log_exception("database error:", e)
        return _respond(ApiError(500, "internal server error"))

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log_exception("unhandled", e)
        return _respond(ApiError(500, "internal server error"))
