"""HTTP endpoints of the scoring service (contract section 5, scoring half)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import parse_options_header

from spamguard import screening
from spamguard.comment import Comment, has_lone_surrogate, parse_record
from spamguard.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    error_response,
)
from spamguard.keys import ApiKey
from spamguard.metrics import CONTENT_TYPE
from spamguard.policy import Verdict, unscored
from spamguard.store import StoreError

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__)

# After json.loads a lone \uD800-\uDFFF escape is a string no encoder accepts: replace it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def state() -> Any:
    """Return the app's shared State."""
    return current_app.extensions["spamguard"]


@bp.get("/healthz")
def healthz() -> Response:
    """Answer 200 while the process is alive."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Answer 200 when a model is loaded and the store answers, else 503 naming what is missing."""
    st = state()
    missing = []
    model = st.holder.model
    if model is None:
        missing.append(f"model: {st.holder.error or 'not loaded yet'}")
    degraded = None
    try:
        st.store.ping()  # reads and a write lock (or a writable session)
    except StoreError as exc:
        store_error: str | None = str(exc)
    else:
        # A write of this worker failed and none has succeeded since (spamguard/spool.py): down until
        # its drain writes again, whatever the probe saw a moment later.
        store_error = st.spool.error
    if store_error is not None:
        # Still ready while the spool takes the writes: a load balancer must keep sending comments
        # here (every replica shares the database, so none would be better), see docs/reliability.md.
        if model is not None and st.spool.writable():
            degraded = store_error
        else:
            missing.append(f"store: {store_error}")
    if missing:
        # A model loads or the database comes back within seconds: a balancer may ask again soon.
        return error_response(503, "not_ready", "; ".join(missing), missing=missing,
                              headers={"Retry-After": "5"})  # fmt: skip
    if degraded is not None:
        return jsonify({"status": "degraded", "model_version": model.version, "store": "degraded",
                        "store_error": degraded, "spool_records": st.spool.depth()})  # fmt: skip
    return jsonify({"status": "ready", "model_version": model.version, "store": "ok"})


@bp.get("/metrics")
def metrics() -> Response:
    """Return the Prometheus metrics of every worker."""
    return Response(state().metrics.render(), content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3 document of this API."""
    from spamguard.openapi import document

    return jsonify(document())


@bp.post("/score")
def score() -> Response:
    """Score one comment record, store it, and answer the decision with its reasons."""
    st = state()
    key = authenticate(st)
    wait = st.limiter.acquire(key.id)
    if wait:
        raise RateLimited(f"over {st.settings.rate_limit} requests per minute for this key",
                          headers={"Retry-After": str(wait)})  # fmt: skip
    comment = parse_record(read_json(st.settings.max_body_bytes))
    site = site_of(comment, key)
    g.site = site
    return json_response(score_and_store(st, comment, site))


def json_response(value: dict[str, Any]) -> Response:
    """Return what `jsonify` would (compact ASCII JSON and a newline), without its provider's overhead.

    For plain JSON values only (no dates or dataclasses); saves ~8 µs of every /score.
    """
    body = json.dumps(value, separators=(",", ":")) + "\n"
    return current_app.response_class(body, mimetype="application/json")


def score_and_store(
    st: Any, comment: Comment, site: str, adjust: Callable[[Verdict], Verdict] | None = None
) -> dict[str, Any]:
    """Score a comment, store it under (site, id) and return the answer with elapsed_ms.

    Posting the same (site, id) again answers the stored decision. `adjust` may change the
    verdict before it is stored (the Akismet API's fixed test authors and trusted roles).
    """
    started = g.get("started") or time.perf_counter()
    comment_id = comment.id or uuid.uuid4().hex
    verdict = score_comment(st, comment)
    # The history record is written with the comment, in one transaction (Store.insert_comment).
    verdict, also = screening.plan(st.store, site, comment_id, comment, verdict, model=st.holder.model)
    if adjust is not None:
        verdict = adjust(verdict)
    record = comment.to_record()
    record["id"], record["site"] = comment_id, site
    record = st.privacy.apply(record)  # SPAMGUARD_PERSONAL_FIELDS: stored (and spooled) as it says
    answer = st.spool.pending_answer(site, comment_id)  # spooled by this worker, store down: same answer
    if answer is not None:
        answer = dict(answer)
    else:
        t = time.perf_counter()
        # The store, or while it is down the spool (spamguard/spool.py); StoreError if neither.
        fresh = st.spool.insert_comment(site, comment_id, record, verdict, also=also)
        st.metrics.store_write.observe(time.perf_counter() - t)
        stored = None if fresh else st.store.get_comment(site, comment_id)
        if stored is None:
            if not fresh:  # deleted between the two statements (a purge): store this one
                st.store.insert_comment(site, comment_id, record, verdict, also=also)
            answer = verdict.to_dict() | {"id": comment_id}
        else:
            answer = stored.answer()
    screening.annotate(answer)
    g.decision = answer["decision"]
    elapsed = time.perf_counter() - started
    if elapsed * 1000 > st.settings.latency_budget_ms:
        st.metrics.over_budget.inc()
    answer["elapsed_ms"] = round(elapsed * 1000, 3)
    return answer


def authenticate(st: Any) -> ApiKey:
    """Return the request's live API key, or raise Unauthorized."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "send 'Authorization: Bearer <key>'; create a key with `spamguard keys create --site NAME`",
            headers={"WWW-Authenticate": 'Bearer realm="spamguard"'},
        )
    key = st.keys.lookup(token)
    if key is None:
        raise Unauthorized(
            "unknown or revoked API key", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return key


def refuse_encoded_body() -> None:
    """Refuse a compressed body (Content-Encoding: gzip and the like): it is read as it is, never inflated."""
    encoding = request.environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported: send the body uncompressed"
        )


def read_body(max_bytes: int) -> bytes:
    """Return the request body whole, or raise 413 if it is over `max_bytes`, streamed (chunked) too."""
    environ = request.environ
    refuse_encoded_body()
    length = environ.get("CONTENT_LENGTH", "")
    if length.isascii() and length.isdigit() and "HTTP_TRANSFER_ENCODING" not in environ:
        # The usual request, read straight from the server's stream: werkzeug's wrapped stream and
        # request properties cost ~30 µs of each /score here.
        if int(length) > max_bytes:
            raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
        data: bytes = environ["wsgi.input"].read(int(length))
        if len(data) < int(length):
            raise ClientDisconnected()  # as werkzeug's stream would
        return data
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
    # A streamed body is cut off at MAX_CONTENT_LENGTH, one byte over the limit: never read short.
    try:
        data = request.get_data(cache=False)
    except ClientDisconnected as exc:
        if isinstance(exc.__context__, BlockingIOError):  # werkzeug's name for a read that timed out
            raise exc.__context__ from None
        raise
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
    return data


def read_json(max_bytes: int) -> Any:
    """Return the parsed JSON body, or raise the error that says what is wrong with it."""
    environ = request.environ
    mimetype, params = parse_options_header(environ.get("CONTENT_TYPE", ""))
    mimetype = mimetype.lower()
    if not (
        mimetype == "application/json" or mimetype.startswith("application/") and mimetype.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"send the record as JSON with 'Content-Type: application/json', not {mimetype!r}"
        )
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"JSON must be UTF-8, not {charset!r}")
    data = read_body(max_bytes)
    if not data.strip():
        raise BadRequest("the body is empty: send a JSON comment record", code="empty_body")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not valid UTF-8 (byte {exc.start})", code="invalid_utf8") from None
    try:
        value = json.loads(text.removeprefix("\ufeff"), parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest("the JSON is nested too deeply", code="too_deep") from None
    except ValueError as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from None
    if not isinstance(value, dict):
        raise BadRequest(
            f"a comment record must be a JSON object, not {_json_type(value)}", code="not_an_object"
        )
    if _SURROGATE_ESCAPE.search(text):
        # A lone surrogate is no character: in text it becomes "?", but two ids that differ only
        # there would then name one comment, so an identifier holding one is refused.
        for name in ("id", "site"):
            if isinstance(value.get(name), str) and has_lone_surrogate(value[name]):
                message = (
                    f"'{name}' holds a lone UTF-16 surrogate (an escape like \\udc00): send valid Unicode"
                )
                raise BadRequest(message, name, code="invalid_record")
        value = {
            k: v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v
            for k, v in value.items()
        }
    return value


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def site_of(comment: Comment, key: ApiKey) -> str:
    """Return the comment's site: its own if the key serves it, else the key's only site."""
    if comment.site is not None:
        if comment.site not in key.sites:
            raise Forbidden(f"this key does not serve site {comment.site!r}", "site")
        return comment.site
    if len(key.sites) != 1:
        raise BadRequest(
            f"this key serves several sites: say which in 'site' ({', '.join(key.sites)})", "site"
        )
    return key.sites[0]


def score_comment(st: Any, comment: Comment) -> Verdict:
    """Score with the current model; never raises, never approves what was not scored."""
    model = st.holder.model
    if model is None:
        st.metrics.unscored.labels("no_model").inc()
        return unscored(comment, "no model is loaded, so a moderator must decide")
    t = time.perf_counter()
    try:
        verdict: Verdict = model.score(comment)
    except Exception:  # a model bug must neither fail open nor answer 500: hold the comment, log, count
        log.exception("scoring failed with model %s", model.version)
        st.metrics.unscored.labels("score_error").inc()
        return unscored(
            comment, "the model failed on this comment, so a moderator must decide", model.version
        )
    st.metrics.score_time.observe(time.perf_counter() - t)
    return verdict
