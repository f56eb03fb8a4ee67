"""API errors: small named exceptions and the one handler that turns them into contract JSON."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from spamguard.comment import RecordError
from spamguard.store import StoreError, StoreValueError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the service will not answer with a result; carries the status and a code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.code
        self.headers = headers or {}


class BadRequest(ApiError):
    """The body cannot be read as a comment record."""


class Unauthorized(ApiError):
    """No key, or a key that is unknown or revoked."""

    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    """A valid key used for a site it does not serve."""

    status, code = 403, "forbidden"


class PayloadTooLarge(ApiError):
    """A body over SPAMGUARD_MAX_BODY_BYTES."""

    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    """A body that is not JSON."""

    status, code = 415, "unsupported_media_type"


class RateLimited(ApiError):
    """A key over its requests per minute."""

    status, code = 429, "rate_limited"


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """Return the contract's JSON error as a value."""
    return {"error": {"code": code, "message": message, "field": field, **extra}}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> Response:  # fmt: skip
    """Return the contract's JSON error."""
    response = jsonify(error_body(code, message, field, **extra))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _http_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def register(app: Flask) -> None:
    """Install the handlers that make every error a JSON error."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.errorhandler(RecordError)
    def record_error(exc: RecordError) -> Response:
        return error_response(400, "invalid_record", exc.message, exc.field)

    @app.errorhandler(StoreValueError)
    def store_value_error(exc: StoreValueError) -> Response:
        log.warning("refused a value the database cannot hold: %s", exc)
        return error_response(400, "invalid_value", "a value in the request cannot be stored (NUL byte?)")

    @app.errorhandler(StoreError)
    def store_error(exc: StoreError) -> Response:
        log.error("store unavailable: %s", exc)
        return error_response(503, "store_unavailable", "the database cannot be written; retry shortly",
                              headers={"Retry-After": "1"})  # fmt: skip

    @app.errorhandler(BlockingIOError)
    def stalled_body(exc: BlockingIOError) -> Response:
        # The body stopped arriving for SPAMGUARD_READ_TIMEOUT_S (SO_RCVTIMEO, server.py).
        return error_response(408, "request_timeout", "the request body stopped arriving: send it whole",
                              headers={"Connection": "close"})  # fmt: skip

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if isinstance(exc, InternalServerError):
            # A bug, not something the client sent: log it whole, answer without details.
            log.error("internal error", exc_info=exc.original_exception or exc)
            return error_response(500, "internal_error", "the service failed; this is a bug, see its log")
        if exc.code == PayloadTooLarge.status and current_app.config.get("MAX_CONTENT_LENGTH"):
            # Werkzeug's 413 of a form body, said as read_body says it; the limit is one byte under
            # MAX_CONTENT_LENGTH (app.py).
            limit = current_app.config["MAX_CONTENT_LENGTH"] - 1
            return api_error(PayloadTooLarge(f"the body is over {limit} bytes"))
        headers = dict(exc.get_headers())
        headers.pop("Content-Type", None)
        message = exc.description or exc.name
        return error_response(exc.code or 500, _http_code(exc), message, headers=headers)
