"""Every error leaves the service as the same small JSON object; clients never see HTML or a stack trace."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, jsonify
from pydantic import ValidationError
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
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "unavailable",
}


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
        log.error("unhandled ValidationError", extra={"traceback": mask_text(traceback.format_exc())})
        err = from_validation(e)
        return _respond(ApiError(500, "internal validation error", err.field))

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        code = e.code or 500
        resp = _respond(ApiError(code, e.description or e.name))
        if code == 405 and e.get_response().headers.get("Allow"):
            resp.headers["Allow"] = e.get_response().headers["Allow"]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        # Tracebacks can quote complaint text through exception messages: mask before logging.
        log.error("unhandled %s", type(e).__name__, extra={"traceback": mask_text(traceback.format_exc())})
        return _respond(ApiError(500, "internal server error"))
