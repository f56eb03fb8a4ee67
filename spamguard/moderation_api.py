"""HTTP endpoints of moderation (contract section 5): the queue, verdicts, a comment's status, feedback.

Moderation endpoints take a moderator token (`Authorization: Bearer sgm_…`) or a logged-in moderator
session (the web UI's); a site key gets 403 there. The platform's endpoints (`GET /comments/<id>`,
`POST /feedback`) take a site key, and a moderator token gets 401 there, as on /score.
A session may only POST JSON (`Content-Type: application/json`), which a cross-site form cannot send.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request, session
from werkzeug.routing import PathConverter

from spamguard import campaigns, moderators, webhooks
from spamguard import moderation_store as ms
from spamguard.api import authenticate, read_json, state
from spamguard.errors import ApiError, BadRequest, Forbidden, RateLimited, Unauthorized
from spamguard.keys import ApiKey

bp = Blueprint("moderation_api", __name__)


class CommentIdConverter(PathConverter):
    """The `<id>` of GET /comments/<id>: any id /score accepts, slashes, a leading one and newlines too
    (werkzeug's `path` stops at a newline and cannot start with a slash)."""

    regex = r"[\s\S]+"
    part_isolating = False  # werkzeug would set it from the regex, which names no "/"


@bp.record_once
def _register_converter(setup: Any) -> None:
    setup.app.url_map.converters["comment_id"] = CommentIdConverter


DEFAULT_PAGE = 50


class NotFoundError(ApiError):
    """No such comment."""

    status, code = 404, "not_found"


def current_moderator(st: Any) -> moderators.Moderator:
    """Return the moderator of this request (token or session), or raise 401/403."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        if moderators.is_token(token):
            found = moderators.lookup_token(st.store, token)
            if found is None:
                raise Unauthorized("unknown or revoked moderator token",
                                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
            return found
        if st.keys.lookup(token) is not None:
            raise Forbidden("a site key cannot moderate: use a token from `spamguard moderators token NAME`")
        raise Unauthorized("unknown token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    found = moderators.session_moderator(st.store, session)
    if found is not None:
        return found
    raise Unauthorized(
        "send 'Authorization: Bearer <moderator token>' (`spamguard moderators token NAME`) or log in",
        headers={"WWW-Authenticate": 'Bearer realm="spamguard-moderation"'},
    )


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer from {low} to {high}", name) from None
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be an integer from {low} to {high}", name)
    return value


def item(comment: ms.ModeratedComment) -> dict[str, Any]:
    """Return a comment as a moderation API item."""
    return {
        "pk": comment.pk, "id": comment.comment_id, "site": comment.site, "status": comment.status,
        "decision": comment.decision, "score": comment.score, "reasons": comment.reasons,
        "model_version": comment.model_version, "created_at": comment.created_at,
        "verdict": comment.verdict, "decided_by": comment.decided_by, "decided_at": comment.decided_at,
        "record": comment.record,
    }  # fmt: skip


@bp.get("/moderation/queue")
def moderation_queue() -> Response:
    """List held comments, oldest first, a page at a time."""
    st = state()
    current_moderator(st)
    limit = _int_arg("limit", DEFAULT_PAGE, 1, ms.MAX_PAGE)
    args = request.args
    filters = {"site": args.get("site"), "reason": args.get("reason"), "search": args.get("q")}
    try:
        items, cursor = ms.queue(
            st.store, **{k: v or None for k, v in filters.items()}, limit=limit, cursor=args.get("cursor")
        )
    except ValueError as exc:
        raise BadRequest(str(exc), "cursor") from None
    return jsonify({"items": [item(c) for c in items], "next_cursor": cursor})


def _decision(st: Any) -> tuple[moderators.Moderator, dict[str, Any], str]:
    """Return the moderator, the JSON body and its verdict of a decision request, or raise 4xx."""
    moderator = current_moderator(st)
    body = read_json(st.settings.max_body_bytes)
    verdict = body.get("verdict")
    if not isinstance(verdict, str) or verdict not in ms.VERDICTS:  # a list or object is unhashable
        raise BadRequest('\'verdict\' must be "ham" or "spam"', "verdict")
    return moderator, body, verdict


@bp.post("/moderation/<int:pk>")
def moderation_decide(pk: int) -> Response:
    """Decide one comment: ham (approved) or spam (rejected); 409 if someone decided it first."""
    st = state()
    moderator, body, verdict = _decision(st)
    expected = body.get("expected_status", "held")
    if not isinstance(expected, str) or expected not in ("held", "approved", "rejected"):
        raise BadRequest("'expected_status' must be held, approved or rejected", "expected_status")
    if pk > ms.MAX_PK:
        raise NotFoundError(f"no comment {pk}")
    try:
        comment = ms.decide(st.store, pk, verdict, moderator.name, expected_status=expected)
    except ms.NotFound:
        raise NotFoundError(f"no comment {pk}") from None
    except ms.Conflict as exc:
        now = exc.current
        conflict = {"code": "conflict", "message": str(exc), "field": "verdict", "verdict": now.verdict,
                    "status": now.status, "decided_by": now.decided_by,
                    "decided_at": now.decided_at}  # fmt: skip
        response = jsonify({"error": conflict})
        response.status_code = 409
        return response
    g.site = comment.site
    webhooks.wake()
    return jsonify(item(comment))


def _campaign(c: campaigns.Campaign) -> dict[str, Any]:
    return {"id": c.id, "site": c.representative.site, "count": len(c.members), "members": list(c.members),
            "authors": list(c.authors), "author_count": c.author_count,
            "representative": item(c.representative)}  # fmt: skip


@bp.get("/moderation/campaigns")
def moderation_campaigns() -> Response:
    """List campaigns: held comments that are near-duplicates of each other, oldest first."""
    st = state()
    current_moderator(st)
    limit = _int_arg("limit", DEFAULT_PAGE, 1, ms.MAX_PAGE)
    found = campaigns.campaigns(st.store, request.args.get("site") or None)
    return jsonify({"campaigns": [_campaign(c) for c in found[:limit]], "more": len(found) > limit})


@bp.post("/moderation/campaigns/<int:pk>")
def moderation_decide_campaign(pk: int) -> Response:
    """Decide every held member of the campaign of comment `pk`; 409 if none was left to decide."""
    st = state()
    moderator, body, verdict = _decision(st)
    members = body.get("members")
    if members is not None and (
        not isinstance(members, list) or len(members) > ms.MAX_PAGE
        or not all(isinstance(m, int) and not isinstance(m, bool) and 0 <= m <= ms.MAX_PK for m in members)
    ):  # fmt: skip
        raise BadRequest(f"'members' must be a list of at most {ms.MAX_PAGE} comment pks", "members")
    if pk > ms.MAX_PK:
        raise NotFoundError(f"no comment {pk}")
    try:
        outcome = campaigns.decide(st.store, pk, verdict, moderator.name, members)
    except ms.NotFound:
        raise NotFoundError(f"no comment {pk}") from None
    except campaigns.NoSketch as exc:
        raise BadRequest(str(exc), "pk") from None
    conflicts = [{"pk": c.pk, "status": c.status, "verdict": c.verdict, "decided_by": c.decided_by,
                  "decided_at": c.decided_at} for c in outcome.conflicts]  # fmt: skip
    if not outcome.decided:
        error = {"code": "conflict", "field": "verdict", "conflicts": conflicts, "skipped": outcome.skipped,
                 "message": f"nothing left to decide in the campaign of comment {pk}: its members were "
                 "decided by someone else first, or are no longer held"}  # fmt: skip
        if outcome.more:  # a bound, not another moderator: say which
            error |= {"code": "search_bound", "more": True, "message": (
                f"nothing decided in the campaign of comment {pk}: its near-duplicates are looked for among"
                f" at most {campaigns.MAX_CANDIDATES} held comments per band of its sketch and the first"
                f" {campaigns.MAX_UNSKETCHED} held without a history row, and none read was near it; send"
                " the members to decide, or decide them one by one")}  # fmt: skip
        response = jsonify({"error": error})
        response.status_code = 409
        return response
    g.site = outcome.decided[0].site
    webhooks.wake()
    return jsonify({"campaign": pk, "verdict": verdict, "decided": [item(c) for c in outcome.decided],
                    "conflicts": conflicts, "skipped": outcome.skipped, "more": outcome.more})  # fmt: skip


def _site_key(st: Any) -> ApiKey:
    key = authenticate(st)
    wait = st.limiter.acquire(key.id)
    if wait:
        raise RateLimited(f"over {st.settings.rate_limit} requests per minute for this key",
                          headers={"Retry-After": str(wait)})  # fmt: skip
    return key


def _site(key: ApiKey, site: Any) -> str:
    if site is None or site == "":
        if len(key.sites) != 1:
            raise BadRequest(f"this key serves several sites: say which in 'site' ({', '.join(key.sites)})",
                             "site")  # fmt: skip
        return key.sites[0]
    if not isinstance(site, str) or site not in key.sites:
        raise Forbidden(f"this key does not serve site {site!r}", "site")
    return site


# merge_slashes off: "/comments//lead" is the id "/lead", not a redirect to another comment.
@bp.get("/comments/<comment_id:comment_id>", merge_slashes=False)
def comment_status(comment_id: str) -> Response:
    """Answer a comment's status (approved, held, rejected) and the moderator's verdict, if any."""
    st = state()
    site = _site(_site_key(st), request.args.get("site"))
    g.site = site
    # Read as /score read it: parse_record strips white space around an id.
    comment = ms.get_by_id(st.store, site, comment_id.strip())
    if comment is None:
        raise NotFoundError(f"no comment {comment_id!r} for site {site!r}")
    return jsonify({
        "id": comment.comment_id, "site": comment.site, "status": comment.status,
        "decision": comment.decision, "score": comment.score, "verdict": comment.verdict,
        "decided_at": comment.decided_at,
    })  # fmt: skip


@bp.post("/feedback")
def post_feedback() -> Response:
    """Record the platform's label for a stored comment (missed spam, false alarm): a training label."""
    st = state()
    key = _site_key(st)
    body = read_json(st.settings.max_body_bytes)
    site = _site(key, body.get("site"))
    g.site = site
    comment_id, label = body.get("id"), body.get("label")
    if isinstance(comment_id, int | float) and not isinstance(comment_id, bool):
        comment_id = str(comment_id)
    if not isinstance(comment_id, str) or not comment_id or "\x00" in comment_id:
        raise BadRequest("'id' must be the id of a scored comment", "id")
    if label not in ("spam", "ham"):
        raise BadRequest('\'label\' must be "spam" or "ham"', "label")
    try:
        comment = ms.feedback(st.store, site, comment_id, label)
    except ms.NotFound:
        raise NotFoundError(f"no comment {comment_id!r} for site {site!r}") from None
    return jsonify({"id": comment.comment_id, "site": site, "label": label, "status": comment.status})


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI 3 path items of the moderation and platform-status endpoints."""

    def ref(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    def error(description: str) -> dict[str, Any]:
        return answer(description, ref("Error"))

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    def decision_body(**extra: dict[str, Any]) -> dict[str, Any]:
        """The body `_decision` reads (a verdict), with the endpoint's own optional fields."""
        verdict = {"type": "string", "enum": ["ham", "spam"]}
        return body({"type": "object", "required": ["verdict"], "properties": {"verdict": verdict, **extra}})

    common = {
        "401": error("no token, or an unknown or revoked one"),
        "429": error("the key is over SPAMGUARD_RATE_LIMIT requests per minute"),
        "503": error("the database cannot be reached right now; retry"),
    }
    moderation = {
        "401": common["401"],
        "403": error("a site key was sent: moderation needs a moderator token"),
        "503": common["503"],
    }
    # What read_json refuses, on every endpoint that takes a body.
    json_body = {
        "413": error("the body is over SPAMGUARD_MAX_BODY_BYTES"),
        "415": error("the body is not JSON"),
    }
    pk = {"name": "pk", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
    item_schema: dict[str, Any] = {
        "type": "object",
        "required": ["pk", "id", "site", "status", "decision", "score", "reasons", "record"],
        "properties": {
            "pk": {"type": "integer", "description": "the store's id of the comment: POST /moderation/{pk}"},
            "id": {"type": "string"}, "site": {"type": "string"},
            "status": {"type": "string", "enum": ["approved", "held", "rejected"]},
            "decision": {"type": "string", "enum": ["approve", "hold", "reject"]},
            "score": {"type": "number"}, "reasons": {"type": "array", "items": ref("Reason")},
            "model_version": {"type": "string", "nullable": True}, "created_at": {"type": "string"},
            "verdict": {"type": "string", "enum": ["ham", "spam"], "nullable": True},
            "decided_by": {"type": "string", "nullable": True},
            "decided_at": {"type": "string", "nullable": True},
            "record": {"type": "object", "description": "the comment record as scored"},
        },
    }  # fmt: skip
    page = {"type": "object", "required": ["items", "next_cursor"],
            "properties": {"items": {"type": "array", "items": item_schema},
                           "next_cursor": {"type": "string", "nullable": True}}}  # fmt: skip

    campaign_schema = {
        "type": "object", "required": ["id", "site", "count", "members", "authors", "representative"],
        "properties": {
            "id": {"type": "integer", "description": "the representative's pk"},
            "site": {"type": "string"}, "count": {"type": "integer"},
            "members": {"type": "array", "items": {"type": "integer"}},
            "authors": {"type": "array", "items": {"type": "string"}}, "author_count": {"type": "integer"},
            "representative": item_schema,
        },
    }  # fmt: skip

    def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description,
                "schema": schema or {"type": "string"}}  # fmt: skip

    return {
        "/moderation/queue": {
            "get": {
                "operationId": "moderation_queue",
                "summary": "Held comments, oldest first, with score and reasons (cursor paging)",
                "security": [{"moderatorToken": []}],
                "parameters": [
                    query("site", "only this site"),
                    query("reason", "only comments with a reason whose signal starts with this"),
                    query(
                        "q",
                        "only comments whose content, author name, e-mail or URL contains this text (any "
                        "case, literally); a search reads at most "
                        f"{ms.MAX_SEARCH_SCAN} held comments a page",
                    ),
                    query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": ms.MAX_PAGE}),
                    query(
                        "cursor",
                        "next_cursor of the previous page",
                        {"type": "string", "pattern": "^[0-9]{0,18}$"},
                    ),
                ],
                "responses": {
                    "200": answer("a page of held comments", page),
                    "400": error("a bad limit or cursor"),
                    **moderation,
                },  # fmt: skip
            }
        },
        "/moderation/{pk}": {
            "post": {
                "operationId": "moderation_decide",
                "summary": "Decide a held comment: ham (approved) or spam (rejected)",
                "description": "Of two moderators deciding at once, one gets 200 and the other 409 with "
                "the winner's verdict. To correct a decided comment, send its status as expected_status.",
                "security": [{"moderatorToken": []}],
                "parameters": [pk],
                "requestBody": decision_body(
                    expected_status={"type": "string", "enum": ["held", "approved", "rejected"]}
                ),
                "responses": {
                    "200": answer("the comment as decided", item_schema),
                    "400": error("no verdict, or not ham/spam; a body that is not JSON"),
                    "404": error("no such comment"),
                    "409": error("decided by someone else first: `verdict`, `status`, `decided_by` say how"),
                    **json_body,
                    **moderation,
                },
            }
        },
        "/moderation/campaigns": {
            "get": {
                "operationId": "moderation_campaigns",
                "summary": "Campaigns: held near-duplicates (SimHash within 3 bits), oldest first",
                "description": f"Grouped from the oldest {campaigns.MAX_SCAN} held comments; each member is "
                "a near-duplicate of the representative.",
                "security": [{"moderatorToken": []}],
                "parameters": [
                    query("site", "only this site"),
                    query(
                        "limit",
                        "campaigns to list",
                        {"type": "integer", "minimum": 1, "maximum": ms.MAX_PAGE},
                    ),
                ],
                "responses": {
                    "200": answer(
                        "the campaigns",
                        {
                            "type": "object",
                            "required": ["campaigns", "more"],
                            "properties": {
                                "campaigns": {"type": "array", "items": campaign_schema},
                                "more": {"type": "boolean"},
                            },
                        },
                    ),
                    "400": error("a bad limit"),
                    **moderation,
                },
            }  # fmt: skip
        },
        "/moderation/campaigns/{pk}": {
            "post": {
                "operationId": "moderation_decide_campaign",
                "summary": "Decide a campaign: every held near-duplicate of comment pk, each as one verdict",
                "description": "Each member gets its own verdict, audit entry, webhook delivery and label. "
                "With `members` (the pks shown), only those still near the representative are decided. "
                "Members someone else decided first are listed in `conflicts`; if nothing was left to "
                f"decide, the answer is 409. Without `members`, at most {ms.MAX_PAGE} are decided per call, "
                "oldest first; `more` says a bound was reached and more may be held: call again.",
                "security": [{"moderatorToken": []}],
                "parameters": [pk],
                "requestBody": decision_body(
                    members={
                        "type": "array",
                        "maxItems": ms.MAX_PAGE,
                        "items": {"type": "integer", "minimum": 0, "maximum": ms.MAX_PK},
                    }
                ),
                "responses": {
                    "200": answer(
                        "what was decided",
                        {
                            "type": "object",
                            "required": ["campaign", "verdict", "decided", "conflicts", "skipped"],
                            "properties": {
                                "campaign": {"type": "integer"},
                                "verdict": {"type": "string"},
                                "decided": {"type": "array", "items": item_schema},
                                "conflicts": {"type": "array", "items": {"type": "object"}},
                                "skipped": {"type": "array", "items": {"type": "integer"}},
                                "more": {"type": "boolean"},
                            },
                        },
                    ),
                    "400": error("no verdict, or not ham/spam; bad members; a comment too short to compare"),
                    "404": error("no such comment"),
                    "409": error(
                        "nothing left to decide: `conflicts` says who decided the members (code"
                        " `search_bound`: a bound stopped the search before a held near-duplicate)"
                    ),
                    **json_body,
                    **moderation,
                },
            }  # fmt: skip
        },
        "/comments/{comment_id}": {
            "get": {
                "operationId": "comment_status",
                "summary": "A comment's status (approved, held, rejected) and the moderator's verdict",
                "security": [{"siteKey": []}],
                "parameters": [
                    {"name": "comment_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    query("site", "the comment's site, if the key serves several"),
                ],
                "responses": {
                    "200": answer(
                        "the comment's status",
                        {
                            "type": "object",
                            "required": ["id", "site", "status", "verdict"],
                            "properties": {
                                "id": {"type": "string"},
                                "site": {"type": "string"},
                                "status": {"type": "string", "enum": ["approved", "held", "rejected"]},
                                "decision": {"type": "string"},
                                "score": {"type": "number"},
                                "verdict": {"type": "string", "enum": ["ham", "spam"], "nullable": True},
                                "decided_at": {"type": "string", "nullable": True},
                            },
                        },
                    ),  # fmt: skip
                    "400": error("a key for several sites and no site"),
                    "403": error("the key does not serve that site"),
                    "404": error("no such comment for the site"),
                    **common,
                },
            }
        },
        "/feedback": {
            "post": {
                "operationId": "feedback",
                "summary": "Report a mistake the platform saw (missed spam, false alarm): a training label",
                "security": [{"siteKey": []}],
                "requestBody": body(
                    {
                        "type": "object",
                        "required": ["id", "label"],
                        "properties": {
                            "id": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "number"}]},
                            "label": {"type": "string", "enum": ["spam", "ham"]},
                            "site": {"type": "string"},
                        },
                    }
                ),  # fmt: skip
                "responses": {
                    "200": answer(
                        "recorded",
                        {
                            "type": "object",
                            "required": ["id", "site", "label", "status"],
                            "properties": {
                                "id": {"type": "string"},
                                "site": {"type": "string"},
                                "label": {"type": "string"},
                                "status": {"type": "string"},
                            },
                        },
                    ),  # fmt: skip
                    "400": error("no id or label, or not spam/ham"),
                    "403": error("the key does not serve that site"),
                    "404": error("no such comment for the site"),
                    **json_body,
                    **common,
                },
            }
        },
    }
