"""Akismet-compatible API: existing Akismet clients score comments with spamguard.

Akismet's 1.1 API takes form-encoded fields and answers in plain text with HTTP 200, errors
included (the body says what, `X-akismet-debug-help` says why). Each comment goes through the
same parser and the same scoring path as POST /score, so it is stored, counted and idempotent
the same way; the id Akismet has no field for is derived from the comment's identifying fields,
so a submit-spam/submit-ham that resends the comment finds the stored decision.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Response, g, request
from werkzeug.datastructures import MultiDict

from spamguard.api import read_body, refuse_encoded_body, score_and_store, score_comment, state
from spamguard.comment import parse_record
from spamguard.errors import RateLimited
from spamguard.keys import KEY_PREFIX, ApiKey
from spamguard.policy import APPROVE, REJECT, Reason, Verdict

bp = Blueprint("akismet", __name__, url_prefix="/1.1")

THANKS = "Thanks for making the web a better place."
# Akismet's documented test values: this author or e-mail always gets "spam", this role "ham".
TEST_SPAM_AUTHOR = "viagra-test-123"
TEST_SPAM_EMAIL = "akismet-guaranteed-spam@example.com"
TRUSTED_ROLE = "administrator"
# Akismet answers "Missing required field" without these (user_ip or WordPress's alias).
REQUIRED = ("blog", "user_ip")

# Record field <- Akismet fields, first present wins (WordPress's aliases come second).
FIELDS: dict[str, tuple[str, ...]] = {
    "content": ("comment_content",),
    "author_name": ("comment_author",),
    "author_email": ("comment_author_email",),
    "author_url": ("comment_author_url",),
    "author_ip": ("user_ip", "comment_author_IP"),
    "user_agent": ("user_agent", "comment_agent"),
    "referrer": ("referrer",),
    "permalink": ("permalink",),
    "comment_type": ("comment_type", "content_type"),
    "created_at": ("comment_date_gmt",),
    "post_id": ("comment_post_ID",),
    "parent_id": ("comment_parent",),
}
# The fields that make two requests the same comment (not times, agents or referrers: WordPress
# resends a comment for submit-spam without them, or with different ones).
IDENTITY = ("content", "author_name", "author_email", "author_url", "author_ip", "permalink",
            "post_id", "parent_id", "comment_type")  # fmt: skip
# Form fields never read as a honeypot: the key must not end up stored in a comment record.
_NOT_HONEYPOT = {"api_key", "key"}


class AkismetAnswer(Exception):
    """An Akismet-style answer that ends a request early: HTTP 200, a body and a debug hint."""

    def __init__(self, body: str, help: str) -> None:
        super().__init__(help)
        self.body = body
        self.help = help


@bp.errorhandler(AkismetAnswer)
def _answer(exc: AkismetAnswer) -> Response:
    return _text(exc.body, {"X-akismet-debug-help": exc.help})


@bp.post("/verify-key")
def verify_key() -> Response:
    """Answer `valid` if the key is live and serves the `blog`, else `invalid`."""
    st = state()
    form = _form()
    key = _key(st, form)
    _site(key, form.get("blog", ""))
    return _text("valid")


@bp.post("/comment-check")
def comment_check() -> Response:
    """Score a comment: `false` (approve) or `true` (hold; reject adds `X-akismet-pro-tip: discard`)."""
    st = state()
    form = _form()
    key = _key(st, form)
    _limit(st, key)
    site = _site(key, _required(form)["blog"])
    record = to_record(form)
    comment = parse_record(record)
    guid = comment_id(record)
    adjust = _rules(form)
    if _is_test(form):
        # Scored like any other, but neither stored (no label, no queue) nor counted for the site.
        verdict = score_comment(st, comment)
        answer = (verdict if adjust is None else adjust(verdict)).to_dict()
    else:
        g.site = site
        answer = score_and_store(st, replace(comment, id=guid), site, adjust)
    headers = {
        "X-akismet-guid": guid,
        "X-Spamguard-Decision": answer["decision"],
        "X-Spamguard-Score": f"{answer['score']:.6f}",
    }
    if answer["model_version"]:
        headers["X-Spamguard-Model-Version"] = answer["model_version"]
    if answer["decision"] == REJECT:
        headers["X-akismet-pro-tip"] = "discard"
    # Hold answers "true" too: "false" would make the platform publish the comment.
    return _text("false" if answer["decision"] == APPROVE else "true", headers)


@bp.post("/submit-spam")
def submit_spam() -> Response:
    """Record that the platform found this comment to be spam."""
    return _feedback("spam")


@bp.post("/submit-ham")
def submit_ham() -> Response:
    """Record that the platform found this comment not to be spam."""
    return _feedback("ham")


def _feedback(label: str) -> Response:
    st = state()
    form = _form()
    key = _key(st, form)
    _limit(st, key)
    site = _site(key, _required(form)["blog"])
    if _is_test(form):
        return _text(THANKS)
    record = to_record(form)
    stored = None
    for candidate in (form.get("guid", "").strip(), comment_id(record)):
        # No stored id holds a NUL (parse_record refuses them), and PostgreSQL cannot even compare one.
        if candidate and "\x00" not in candidate and stored is None:
            stored = st.store.get_comment(site, candidate)
    if stored is not None:
        st.store.add_feedback(site, stored.comment_id, label, stored.record, "akismet")
    elif record.get("content"):
        # Kept as SPAMGUARD_PERSONAL_FIELDS says, like a scored comment (api.score_and_store).
        reported = st.privacy.apply(parse_record(record).to_record() | {"site": site})
        st.store.add_feedback(site, None, label, reported, "akismet")
    g.site = site
    return _text(THANKS)


# -- reading the request ------------------------------------------------------------------------


def _form() -> MultiDict[str, str]:
    """Return the form fields, decoded with the body's charset (WordPress sends its blog's).

    A url-encoded body is read whole by `read_body`, so one over the limit is a 413 however it is
    sent: werkzeug's form parser stops at the limit of a chunked body without saying so, and the
    comment's tail would go unscored.
    """
    refuse_encoded_body()
    if request.mimetype != "application/x-www-form-urlencoded":
        return request.form
    charset = request.mimetype_params.get("charset", "utf-8").strip().lower()
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    # Percent-decoding gives bytes, decoded with the charset; the body limit bounds the work.
    body = read_body(state().settings.max_body_bytes).decode("latin-1")
    return MultiDict(parse_qsl(body, keep_blank_values=True, encoding=charset, errors="replace"))


def _key(st: Any, form: Mapping[str, str]) -> ApiKey:
    """Return the live key, from `Authorization: Bearer`, `api_key`, `key` or the host name."""
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    # Akismet's oldest style puts the key in the host name: KEY.rest.akismet.com. The raw header:
    # Werkzeug's request.host refuses the '_' of spamguard's keys. It is only looked up, never used.
    label = request.headers.get("Host", "").partition(".")[0]
    candidates = (
        bearer.strip() if scheme.lower() == "bearer" else "",
        form.get("api_key", "").strip(),
        form.get("key", "").strip(),
        label if label.startswith(KEY_PREFIX) else "",
    )
    token = next((c for c in candidates if c), "")
    if not token:
        raise AkismetAnswer(
            "invalid", "no API key: send it as api_key (or key), or as 'Authorization: Bearer'"
        )
    key = st.keys.lookup(token)
    if key is None:
        raise AkismetAnswer("invalid", "unknown or revoked API key: see `spamguard keys list`")
    return key  # type: ignore[no-any-return]


def _limit(st: Any, key: ApiKey) -> None:
    wait = st.limiter.acquire(key.id)
    if wait:
        raise RateLimited(f"over {st.settings.rate_limit} requests per minute for this key",
                          headers={"Retry-After": str(wait)})  # fmt: skip


def _required(form: Mapping[str, str]) -> dict[str, str]:
    values = {
        "blog": form.get("blog", "").strip(),
        "user_ip": (form.get("user_ip") or form.get("comment_author_IP") or "").strip(),
    }
    for name in REQUIRED:
        if not values[name]:
            raise AkismetAnswer(f"Missing required field: {name}.", f'Empty "{name}" value')
    return values


def _site(key: ApiKey, blog: str) -> str:
    """Return the site of `blog`: one the key serves by that name or host, or the key's only site."""
    blog = blog.strip()
    try:
        host = urlsplit(blog if "://" in blog else f"http://{blog}").hostname or ""
    except ValueError:
        host = ""
    for name in (blog, host, host.removeprefix("www.")):
        if name and name in key.sites:
            return name
    if len(key.sites) == 1:
        return key.sites[0]
    raise AkismetAnswer(
        "invalid",
        f"this key serves several sites ({', '.join(key.sites)}) and blog {blog[:200]!r} is none of them",
    )


def _is_test(form: Mapping[str, str]) -> bool:
    return form.get("is_test", "").strip().lower() in ("1", "true", "yes", "on")


def to_record(form: Mapping[str, str]) -> dict[str, Any]:
    """Map Akismet's fields to a contract record (site and id are set by the caller)."""
    record: dict[str, Any] = {}
    for name, sources in FIELDS.items():
        value = next((form[s] for s in sources if form.get(s, "").strip()), None)
        if value is not None:
            record[name] = value
    record.setdefault("content", "")
    if record.get("parent_id", "").strip() == "0":  # WordPress: a top-level comment
        del record["parent_id"]
    language = form.get("blog_lang", "").split(",")[0].strip()[:2]
    if language.isascii() and language.isalpha():
        record["language"] = language.lower()
    honeypot_field = form.get("honeypot_field_name", "").strip()
    if honeypot_field and honeypot_field not in _NOT_HONEYPOT:
        record["honeypot"] = form.get(honeypot_field, "")
    elif form.get("POST_ak_hp_textarea", "").strip():  # WordPress's own hidden field
        record["honeypot"] = form["POST_ak_hp_textarea"]
    return record


def comment_id(record: Mapping[str, Any]) -> str:
    """Return the id Akismet requests get: a digest of the fields that identify a comment."""
    values = [str(record.get(name) or "").strip() for name in IDENTITY]
    if values[-1] == "":
        values[-1] = "comment"
    digest = hashlib.sha256(json.dumps(values).encode()).hexdigest()
    return f"akismet-{digest[:32]}"


def _rules(form: Mapping[str, str]) -> Callable[[Verdict], Verdict] | None:
    """Return Akismet's fixed answers for its test author and trusted role, as a verdict change."""
    roles = {r.strip().lower() for r in form.get("user_role", "").split(",")}
    if TRUSTED_ROLE in roles:
        reason = Reason("rule:trusted_role", -10.0, "user_role administrator: always ham, as on Akismet")
        decision = APPROVE
    elif form.get("comment_author", "").strip() == TEST_SPAM_AUTHOR or \
            form.get("comment_author_email", "").strip().lower() == TEST_SPAM_EMAIL:  # fmt: skip
        reason = Reason("rule:akismet_test_spam", 10.0, "Akismet's test author: always spam")
        decision = REJECT
    else:
        return None
    return lambda v: replace(v, decision=decision, reasons=[reason, *v.reasons])


def _text(body: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, mimetype="text/plain", headers=dict(headers or {}))


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI 3 path items of the Akismet-compatible endpoints."""
    other = ("api_key", "key", "blog", "user_role", "is_test", "recheck_reason", "blog_lang",
             "honeypot_field_name", "guid")  # fmt: skip
    fields = sorted({*other, *(s for sources in FIELDS.values() for s in sources)})
    form = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {name: {"type": "string"} for name in fields},
                    "additionalProperties": True,
                }
            }
        },
    }

    def text(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}

    def error(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    def operation(op_id: str, summary: str, answer: str) -> dict[str, Any]:
        return {
            "post": {
                "operationId": op_id,
                "summary": summary,
                "description": "Akismet 1.1 compatible; see docs/akismet.md. The key is the api_key or key "
                "field or 'Authorization: Bearer'. Akismet-style errors (bad key, missing field) are "
                "200 with a text body and X-akismet-debug-help.",
                "tags": ["akismet"],
                "security": [{}, {"siteKey": []}],
                "requestBody": form,
                "responses": {
                    "200": text(answer),
                    "400": error("a field has a value spamguard cannot store (e.g. an over-long comment)"),
                    "413": error("the body is over SPAMGUARD_MAX_BODY_BYTES"),
                    "415": error("the body is compressed (Content-Encoding): send it as it is"),
                    "429": error("the key is over SPAMGUARD_RATE_LIMIT requests per minute"),
                    "503": error("the database cannot be written right now; retry"),
                },
            }
        }

    return {
        "/1.1/verify-key": operation("akismet_verify_key", "Akismet verify-key", "valid or invalid"),
        "/1.1/comment-check": operation(
            "akismet_comment_check",
            "Akismet comment-check: score and store one comment",
            "false (approve) or true (hold or reject; reject adds X-akismet-pro-tip: discard)",
        ),  # fmt: skip
        "/1.1/submit-spam": operation("akismet_submit_spam", "Akismet submit-spam: report a spam", THANKS),
        "/1.1/submit-ham": operation(
            "akismet_submit_ham", "Akismet submit-ham: report a false alarm", THANKS
        ),
    }
