"""The OpenAPI 3 document of the HTTP API, kept true by tests/test_openapi_fuzz.py."""

from __future__ import annotations

from typing import Any

from spamguard import __version__
from spamguard.comment import TEXT_FIELDS

_FIELD_HELP = {
    "id": "the platform's id for the comment; idempotency key within a site (numbers are read as text)",
    "site": "site the comment belongs to; defaults to the key's site when the key serves one",
    "author_ip": "IPv4 or IPv6 of the commenter (alias `ip`); anything else is treated as unknown",
    "author_email": "as typed; an address that does not parse is treated as unknown",
    "author_url": "as typed; a URL without a readable host is treated as unknown",
    "created_at": "RFC 3339; an unreadable time is treated as unknown",
    "honeypot": "value of the form's hidden honeypot field; filled in means a bot",
    "comment_type": "comment (default), reply, trackback, pingback, contact-form, signup, forum-post, …",
    "language": "site language hint, ISO 639-1",
}


_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        out["headers"] = headers
    return out


def _record_schema() -> dict[str, Any]:
    props: dict[str, Any] = {"content": {"type": "string", "description": "comment text, may contain HTML"}}
    for name in TEXT_FIELDS:
        schema: dict[str, Any] = {"type": "string", "nullable": True}
        if name in ("id", "post_id", "parent_id"):
            schema = {"oneOf": [{"type": "string"}, {"type": "number"}], "nullable": True}
        if name in _FIELD_HELP:
            schema["description"] = _FIELD_HELP[name]
        props[name] = schema
    # No type: the alias is read (and must then be a string) only when author_ip is absent.
    props["ip"] = {"description": "alias of author_ip, read only when author_ip is absent"}
    # Any scalar is accepted: a value that is not a whole number of milliseconds is unknown.
    props["time_on_page_ms"] = {
        "anyOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}], "nullable": True,
        "description": "milliseconds from form render to submit; odd values are treated as unknown",
    }  # fmt: skip
    return {
        "type": "object",
        "required": ["content"],
        "properties": props,
        "additionalProperties": True,
        "description": "A comment record (contract section 1). Unknown fields are accepted and ignored.",
    }


def document() -> dict[str, Any]:
    """Return the OpenAPI 3 document of every endpoint."""
    from spamguard.akismet import openapi_paths
    from spamguard.moderation_api import openapi_paths as moderation_paths

    unauthorized = _error(
        "no key, or an unknown or revoked one",
        {"WWW-Authenticate": {"schema": {"type": "string"}}},
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "spamguard",
            "version": __version__,
            "description": "Self-hosted comment-spam filter: score comments as they are posted.",
        },
        "paths": {
            "/score": {
                "post": {
                    "operationId": "score",
                    "summary": "Score one comment, store it and answer approve, hold or reject",
                    "description": "Posting the same (site, id) again returns the stored decision. A comment "
                    "that cannot be scored (no model, model failure) is held, never approved.",
                    "security": [{"siteKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Comment"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "the decision, with the reasons that pushed the score",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Verdict"}}
                            },
                        },
                        "400": _error(
                            "the body is not a valid comment record (malformed JSON, wrong types, …)"
                        ),
                        "401": unauthorized,
                        "403": _error("the key does not serve the record's site"),
                        "408": _error("the body stopped arriving for SPAMGUARD_READ_TIMEOUT_S"),
                        "413": _error("the body is over SPAMGUARD_MAX_BODY_BYTES"),
                        "415": _error(
                            "the body is not JSON (Content-Type), not UTF-8, or compressed (Content-Encoding)"
                        ),
                        "429": _error(
                            "the key is over SPAMGUARD_RATE_LIMIT requests per minute",
                            _RETRY_AFTER,
                        ),
                        "503": _error(
                            "overloaded, or the database cannot be written right now; retry",
                            _RETRY_AFTER,
                        ),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness: 200 while the process answers",
                    "security": [],
                    "responses": {"200": _json("alive", {"$ref": "#/components/schemas/Status"})},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness: a model is loaded and the store answers",
                    "security": [],
                    "responses": {
                        "200": _json("ready", {"$ref": "#/components/schemas/Status"}),
                        "503": _error(
                            "not ready; the message and `missing` say what is missing",
                            _RETRY_AFTER,
                        ),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics, added up over every worker",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json("the OpenAPI 3 document", {"type": "object"})},
                }
            },
            **openapi_paths(),
            **moderation_paths(),
        },
        "components": {
            "securitySchemes": {
                "siteKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a site API key from `spamguard keys create --site NAME`",
                },
                "moderatorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a moderator token from `spamguard moderators token NAME`",
                },
            },
            "schemas": {
                "Comment": _record_schema(),
                "Reason": {
                    "type": "object",
                    "required": ["signal", "weight", "detail"],
                    "properties": {
                        "signal": {"type": "string", "example": "link:shortener"},
                        "weight": {"type": "number", "description": "positive pushes towards spam"},
                        "detail": {"type": "string"},
                    },
                },
                "Verdict": {
                    "type": "object",
                    "required": ["id", "decision", "score", "reasons", "model_version", "elapsed_ms"],
                    "properties": {
                        "id": {
                            "type": "string",
                            "description": "the record's id, or one made up when it had none",
                        },
                        "decision": {"type": "string", "enum": ["approve", "hold", "reject"]},
                        "score": {
                            "type": "number",
                            "minimum": 0,
                            "maximum": 1,
                            "description": "calibrated probability that the comment is spam",
                        },  # fmt: skip
                        "reasons": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Reason"},
                            "description": "ranked contributions, most spam-ward first",
                        },  # fmt: skip
                        "model_version": {"type": "string", "nullable": True},
                        "elapsed_ms": {"type": "number"},
                        "shadow_decision": {
                            "type": "string",
                            "enum": ["approve", "hold", "reject"],
                            "description": "shadow mode only (docs/signals.md): what enforce mode would have"
                            " decided; `decision` is then approve",
                        },
                    },
                },
                "Status": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string"}, "model_version": {"type": "string"}},
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "field"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string", "nullable": True},
                                "missing": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    },
                },
            },
        },
        "security": [{"siteKey": []}],
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
