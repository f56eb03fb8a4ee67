"""The moderation web UI under /moderate: server-rendered pages over moderation_store and moderators.

Comments are hostile input. Jinja autoescapes every field, links are shown defanged as plain text,
and every /moderate response carries a Content-Security-Policy that allows only the service's own
CSS and JS files: markup that slipped through escaping could still neither run nor load anything.

Forms carry Flask-WTF's CSRF token (a random value kept in the session, sent signed in a hidden
field) and every POST is refused with 400 without it. The session is Flask's signed cookie:
HttpOnly, SameSite=Lax, Secure over HTTPS or when SPAMGUARD_SECURE_COOKIES says TLS is in front,
and it ends SPAMGUARD_SESSION_LIFETIME_S after login, or at once when the moderator is removed,
added again or given a new password (the session holds the moderator's id and a fingerprint of the
stored password hash, see moderators.session_moderator).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_wtf.csrf import generate_csrf, validate_csrf
from werkzeug.wrappers import Response as BaseResponse
from wtforms import ValidationError

from spamguard import campaigns
from spamguard import moderation_store as ms
from spamguard.moderators import SESSION_KEY, session_moderator, start_session, verify_password
from spamguard.normalize import normalize

bp = Blueprint("moderate", __name__, url_prefix="/moderate")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Session key holding the time of login (seconds since the epoch), for the absolute lifetime.
LOGIN_AT = "login_at"
# A queue page shows this many comments unless ?limit= asks for more (up to the store's MAX_PAGE).
PAGE = 100
RECENT_PAGE = 50
AUDIT_PAGE = 100
# Content longer than this is cut on the page (a moderator sees enough; a 1 MB comment stays cheap).
SHOWN_CHARS = 4000
SHOWN_LINKS = 20
_VERDICT_WORD = {"ham": "approved", "spam": "marked spam"}
_STATUSES = ("held", "approved", "rejected")
# Bidirectional overrides and isolates can make text read differently from what it is: show them.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,30}):")
# What a page to go back to may not hold, raw or percent-decoded: control characters (a CR or LF
# cannot go into the Location header) and backslashes (browsers read them as slashes).
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


class CsrfFailure(Exception):
    """A POST without a valid CSRF token for this session."""


class BadInput(Exception):
    """A parameter or form field the pages never send (a hand-made or stale request)."""


# -- app set-up ----------------------------------------------------------------------------------


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with Secure set on any HTTPS request as well.

    An API call carries no session cookie and never touches the session: for it, opening and saving
    skip building the signer and reading the cookie settings (~20 µs of every POST /score).
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if session.accessed or session.modified or session:
            super().save_session(app, session, response)


@bp.record_once
def _configure(state: Any) -> None:
    app: Flask = state.app
    settings = app.extensions["spamguard"].settings
    app.session_interface = _SessionInterface()
    lifetime = settings.session_lifetime_s
    app.permanent_session_lifetime = timedelta(seconds=lifetime)
    app.config.update(
        SESSION_COOKIE_NAME="spamguard_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # The cookie is sent again only when the session changes: its lifetime counts from login.
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=int(lifetime),
    )
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["visible"] = visible


@bp.after_app_request
def _security_headers(response: Response) -> Response:
    """Send the CSP and its friends on every /moderate response (errors too) and our static files."""
    if request.path.startswith("/moderate") or request.endpoint == "static":
        response.headers.update(SECURITY_HEADERS)
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
    return response


# -- sessions and CSRF ---------------------------------------------------------------------------


def _store() -> Any:
    return current_app.extensions["spamguard"].store


def current_moderator() -> str | None:
    """Return the logged-in moderator's name, or None (ending a session that expired)."""
    name = session.get(SESSION_KEY)
    login_at = session.get(LOGIN_AT)
    if not isinstance(name, str) or not isinstance(login_at, (int, float)):
        return None
    lifetime = current_app.extensions["spamguard"].settings.session_lifetime_s
    moderator = session_moderator(_store(), session) if 0 <= time.time() - login_at < lifetime else None
    if moderator is None:
        session.clear()
        return None
    return moderator.name


@bp.before_request
def _guard() -> BaseResponse | None:
    """Check the CSRF token of every POST, and send anyone not logged in to the login page."""
    if request.endpoint == "moderate.login":
        if request.method == "POST":
            _check_csrf()
        return None
    had_session = SESSION_KEY in session
    g.moderator = current_moderator()
    if g.moderator is None:
        if had_session or request.method == "POST":
            flash("Your session has ended: log in again.", "warning")
        target = request.full_path if request.method == "GET" else url_for("moderate.queue")
        return redirect(url_for("moderate.login", next=target))
    if request.method == "POST":
        _check_csrf()
    return None


def _check_csrf() -> None:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        raise CsrfFailure(str(exc)) from None


@bp.errorhandler(CsrfFailure)
def _csrf_failure(exc: CsrfFailure) -> tuple[str, int]:
    message = f"{exc} Reload the page and try again."
    return _error_page(400, "This form has expired or did not come from this site", message)


@bp.errorhandler(BadInput)
def _bad_input(exc: BadInput) -> tuple[str, int]:
    return _error_page(400, "Bad request", str(exc))


def _error_page(status: int, title: str, message: str) -> tuple[str, int]:
    moderator = g.get("moderator")
    html = render_template("moderate/error.html", status=status, title=title, message=message,
                           moderator=moderator, total_held=None, page="error")  # fmt: skip
    return html, status


def _safe_next(target: str | None) -> str:
    """Return the /moderate page to go to after login or a decision, else the held queue.

    Kept only if it is exactly /moderate or starts /moderate/ or /moderate?, and has no control
    character, backslash or `..` path segment, as sent or percent-decoded (browsers resolve %2e%2e).
    """
    if target and (target == "/moderate" or target.startswith(("/moderate/", "/moderate?"))):
        path = target.partition("?")[0].partition("#")[0]
        decoded = unquote(path)
        if (
            not _UNSAFE_IN_NEXT.search(target)
            and not _UNSAFE_IN_NEXT.search(unquote(target))
            and ".." not in path.split("/")
            and ".." not in decoded.split("/")
        ):
            return target
    return url_for("moderate.queue")


# -- pages ---------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int]:
    """Show the login form; log a moderator in with name and password."""
    target = _safe_next(request.values.get("next"))
    name = ""
    if request.method == "POST":
        name = request.form.get("name", "")[:200]
        moderator = verify_password(_store(), name, request.form.get("password", ""))
        if moderator is not None:
            # A fresh session (new CSRF token too): nothing from before login carries over.
            session.clear()
            session.permanent = True
            start_session(session, moderator)
            session[LOGIN_AT] = time.time()
            return redirect(target)
        flash("Wrong name or password.", "error")
    elif current_moderator() is not None:
        return redirect(target)
    status = 401 if request.method == "POST" else 200
    html = render_template("moderate/login.html", next=target, name=name, moderator=None, page="login")
    return html, status


@bp.post("/logout")
def logout() -> BaseResponse:
    """End the session."""
    session.clear()
    flash("Logged out.", "info")
    return redirect(url_for("moderate.login"))


@bp.get("/")
def queue() -> str:
    """The held queue, oldest first, filtered by site, reason and search, with counts per site."""
    store = _store()
    site = request.args.get("site", "").strip()[:200]
    reason = request.args.get("reason", "").strip()[:200]
    q = request.args.get("q", "").strip()[:200]
    limit = _int_arg("limit", PAGE)
    wanted = request.args.get("campaign")
    cursor = request.args.get("cursor")
    if wanted:
        # One campaign, found around its comment as the API decides it (not only among the groups
        # listed from the oldest held comments).
        chosen = _campaign_of(store, wanted)
        items, next_cursor = (list(chosen.comments) if chosen else []), None
        groups, grouped = ([chosen] if chosen else []), set()
    else:
        # Campaigns are shown as groups, their members left out of the list (a plain list when filtering).
        groups = [] if reason or q else campaigns.campaigns(store, site or None)
        grouped = {pk for group in groups for pk in group.members}
        try:
            items, next_cursor = ms.queue(store, site=site or None, reason=reason or None, search=q or None,
                                          limit=limit, cursor=cursor)  # fmt: skip
        except ValueError as exc:  # a cursor the pages never made
            raise BadInput(str(exc)) from None
        if q and not items and next_cursor:  # the search stopped at its bound (ms.MAX_SEARCH_SCAN)
            flash(
                f"No match in the {ms.MAX_SEARCH_SCAN:,} held comments searched, and more are held after"
                f" comment {next_cursor}: narrow the search (a site, a reason), or search on with Next page.",
                "warning",
            )
    counts = [(name, c["held"]) for name, c in ms.counts_by_site(store).items() if c["held"] or name == site]
    views = [view(c) for c in items if c.pk not in grouped]
    known = sorted({r[1] for v in views for r in v.reasons})
    return render_template(
        "moderate/queue.html", page="queue", moderator=g.moderator, items=views, counts=counts,
        total_held=sum(n for _, n in counts), site=site, reason=reason, q=q, next_cursor=next_cursor,
        known_reasons=known, back=request.full_path, limit=limit if limit != PAGE else None,
        groups=[group_view(group) for group in groups] if not cursor else [], campaign=wanted,
    )  # fmt: skip


def _campaign_of(store: Any, wanted: str) -> campaigns.Campaign | None:
    """Return the campaign of the comment a `?campaign=` names, or None (no such campaign now)."""
    pk = ms.parse_pk(wanted)
    if pk is None:
        return None
    try:
        found, whole = campaigns.campaign_of(store, pk)
    except (ms.NotFound, campaigns.NoSketch):
        return None
    if found is not None and not whole:
        flash(
            f"This campaign may have more held members than the {len(found.members)} shown: decide these,"
            " then open it again for the rest.",
            "warning",
        )
    return found


@bp.get("/recent")
def recent() -> str:
    """Recently approved and rejected comments (by the model or a moderator), newest first."""
    store = _store()
    site = request.args.get("site", "").strip()[:200]
    before = request.args.get("before")
    items = ms.decided(store, limit=RECENT_PAGE, site=site or None,
                       before=_int_value(before, "before") if before else None)  # fmt: skip
    counts = [(name, c["held"]) for name, c in ms.counts_by_site(store).items()]
    return render_template(
        "moderate/recent.html", page="recent", moderator=g.moderator, items=[view(c) for c in items],
        counts=counts, total_held=sum(n for _, n in counts), site=site, back=request.full_path,
        next_before=items[-1].pk if len(items) == RECENT_PAGE else None,
    )  # fmt: skip


@bp.get("/audit")
def audit() -> str:
    """Who decided what, when: every verdict, newest first."""
    store = _store()
    before = request.args.get("before")
    entries = ms.audit(store, limit=AUDIT_PAGE, before=_int_value(before, "before") if before else None)
    return render_template(
        "moderate/audit.html", page="audit", moderator=g.moderator, entries=entries,
        total_held=ms.held_count(store),
        next_before=entries[-1].id if len(entries) == AUDIT_PAGE else None,
    )  # fmt: skip


@bp.post("/decide")
def decide() -> BaseResponse:
    """Decide one comment (its button) or every ticked one (a bulk button), then go back."""
    form = request.form
    # Where to go back to is settled before anything is decided: nothing after the verdicts can fail.
    back = _safe_next(form.get("back"))
    following = form.get("next", "")
    anchor = f"#c-{following}" if following.isascii() and following.isdigit() else ""
    if form.get("one"):
        pk, verdict, expected = _parse_one(form["one"])
        decisions = [(pk, verdict, expected)]
    elif form.get("bulk") in ms.VERDICTS:
        pks = [_int_value(v, "ids") for v in form.getlist("ids")[: ms.MAX_PAGE]]
        decisions = [(pk, form["bulk"], "held") for pk in pks]
        if not decisions:
            flash("Select comments first (tick them, or press x), then choose a bulk action.", "warning")
    else:
        raise BadInput("say which comment to decide, and how")
    done = {"ham": 0, "spam": 0}
    for pk, verdict, expected in decisions:
        try:
            ms.decide(_store(), pk, verdict, g.moderator, expected_status=expected)
        except ms.Conflict as exc:
            flash(_conflict_message(exc.current), "warning")
        except ms.NotFound:
            flash(f"Comment {pk} no longer exists.", "warning")
        else:
            done[verdict] += 1
    for verdict, n in done.items():
        if n:
            flash(f"{_VERDICT_WORD[verdict].capitalize()} {n} comment{'s' if n != 1 else ''}.", "info")
    return redirect(back + anchor)


@bp.post("/campaign")
def decide_campaign() -> BaseResponse:
    """Decide every comment of a campaign as shown (each one its own verdict), then go back."""
    form = request.form
    back = _safe_next(form.get("back"))
    verdict = form.get("verdict", "")
    if verdict not in ms.VERDICTS:
        raise BadInput("say how to decide the campaign: ham or spam")
    pk = _int_value(form.get("campaign", ""), "campaign")
    members = [_int_value(v, "members") for v in form.getlist("members")[: ms.MAX_PAGE]]
    try:
        outcome = campaigns.decide(_store(), pk, verdict, g.moderator, members)
    except ms.NotFound:
        flash(f"Comment {pk} no longer exists.", "warning")
        outcome = campaigns.Outcome()
    except campaigns.NoSketch as exc:
        raise BadInput(str(exc)) from None
    for current in outcome.conflicts:
        flash(_conflict_message(current), "warning")
    if outcome.skipped:
        flash(
            f"{len(outcome.skipped)} comments were left as they are: they are no longer part of it.",
            "warning",
        )
    n = len(outcome.decided)
    if n:
        flash(
            f"{_VERDICT_WORD[verdict].capitalize()} {n} comment{'s' if n != 1 else ''} of the campaign.",
            "info",
        )
    return redirect(re.sub(r"([?&])campaign=\d+&?", r"\1", back).rstrip("?&"))


def _parse_one(value: str) -> tuple[int, str, str]:
    parts = value.split(":")
    if len(parts) not in (2, 3) or parts[1] not in ms.VERDICTS:
        raise BadInput(f"not a decision: {value[:100]!r}")
    expected = parts[2] if len(parts) == 3 else "held"
    if expected not in _STATUSES:
        raise BadInput(f"not a status: {expected[:100]!r}")
    return _int_value(parts[0], "comment"), parts[1], expected


def _conflict_message(current: ms.ModeratedComment) -> str:
    where = f"comment {_visible(current.comment_id)} on {_visible(current.site)}"
    if current.verdict and current.decided_by:
        verdict = _VERDICT_WORD[current.verdict] if current.verdict in _VERDICT_WORD else current.verdict
        return (
            f"Someone was quicker: {current.decided_by} {verdict} {where} at {when(current.decided_at)}."
            " Their verdict stands; correct it under Recently decided."
        )
    return f"Someone was quicker: {where} is {current.status} now; correct it under Recently decided."


def _int_arg(name: str, default: int) -> int:
    value = request.args.get(name)
    return default if value in (None, "") else _int_value(value, name)


def _int_value(value: str, name: str) -> int:
    # ASCII digits only ("²".isdigit() is true, int("²") fails); 18 digits stay below 2**63.
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise BadInput(f"{name} must be a whole number, not {value[:40]!r}")
    return int(value)


# -- what a page shows of a comment --------------------------------------------------------------


@dataclass(slots=True)
class ItemView:
    """What a page shows of a comment, every text ready to print (attributes: Jinja reads them fast).

    Except `site`, which links use as it is: the templates print it through the `visible` filter.
    """

    key: int
    site: str
    comment_id: str
    created_at: str
    created: str
    score: str
    band: str
    status: str
    verdict: str | None
    decided_by: str | None
    decided: str
    author_name: str
    author_email: str
    author_url: str
    author_ip: str
    comment_type: str
    content: str
    more: int
    links: list[tuple[str, str]]
    reasons: list[tuple[str, str, str, str]]


def view(c: ms.ModeratedComment) -> ItemView:
    """Return what a page shows of a comment: text fields, links defanged, reasons with a direction."""
    record = c.record
    content = _text(record.get("content"))
    links: list[tuple[str, str]] = []
    seen = set()
    for link in normalize(content).links if content else ():
        shown = link.anchor if link.anchor and link.anchor != link.url else ""
        if (link.url, shown) not in seen and len(links) < SHOWN_LINKS:
            seen.add((link.url, shown))
            links.append((defang(link.url), _visible(shown[:200])))
    # (class, signal, detail, weight): spam-ward reasons come first, as the model ranked them.
    reasons = []
    for r in c.reasons:
        if isinstance(r, dict):
            weight = r.get("weight")
            weight = float(weight) if isinstance(weight, (int, float)) else 0.0
            reasons.append((
                "spamward" if weight > 0 else "hamward", _visible(_text(r.get("signal"))[:100]),
                _visible(_text(r.get("detail"))[:300]), f"{weight:+.2f}",
            ))  # fmt: skip
    author_url = _text(record.get("author_url"))
    return ItemView(
        key=c.pk, site=c.site, comment_id=_visible(c.comment_id), created_at=_visible(c.created_at),
        created=_visible(when(c.created_at)), score=f"{c.score * 100:.0f}%",
        band="high" if c.score >= 0.8 else "mid" if c.score >= 0.4 else "low", status=c.status,
        verdict=c.verdict, decided_by=_visible(_text(c.decided_by)) or None, decided=when(c.decided_at),
        author_name=_visible(_text(record.get("author_name"))[:300]),
        author_email=_visible(_text(record.get("author_email"))[:300]),
        author_url=defang(author_url[:500]) if author_url else "",
        author_ip=_visible(_text(record.get("author_ip") or record.get("ip"))[:64]),
        comment_type=_visible(_text(record.get("comment_type"))[:40]),
        content=_visible(content[:SHOWN_CHARS]), more=max(0, len(content) - SHOWN_CHARS),
        links=links, reasons=reasons,
    )  # fmt: skip


@dataclass(slots=True)
class GroupView:
    """What the queue shows of a campaign: its size, authors, and the representative comment."""

    id: int
    count: int
    authors: list[str]
    more_authors: int
    members: list[int]
    first: ItemView


def group_view(group: campaigns.Campaign) -> GroupView:
    """Return what the queue shows of a campaign (texts made visible like an item's)."""
    authors = [_visible(a) for a in group.authors]
    return GroupView(group.id, len(group.members), authors, group.author_count - len(authors),
                     list(group.members), view(group.representative))  # fmt: skip


def defang(url: str) -> str:
    """Return a URL a browser will not follow and a reader cannot click: hxxp://example[.]com/path."""
    url = _visible(url.strip())
    rest, scheme = url, ""
    match = _SCHEME.match(url)
    if match:
        scheme = match.group(1).lower()
        rest = url[match.end() :]
        scheme = {"http": "hxxp", "https": "hxxps"}.get(scheme, scheme + "[:]")
        scheme = scheme if scheme.endswith("[:]") else scheme + ":"
    host_end = len(rest)
    slashes = len(rest) - len(rest.lstrip("/"))
    for sep in "/?#":
        at = rest.find(sep, slashes)
        if at != -1:
            host_end = min(host_end, at)
    return scheme + rest[:host_end].replace(".", "[.]") + rest[host_end:]


def when(stamp: str | None) -> str:
    """Return a stored ISO-8601 UTC time as '2026-01-31 14:05 UTC'."""
    if not stamp:
        return ""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if len(stamp) >= 16 else stamp


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def visible(text: Any) -> str:
    """Return text with bidirectional overrides and isolates shown as [U+202E] (the `visible` filter)."""
    return _visible(_text(text))


def _visible(text: str) -> str:
    if text.isascii():
        return text
    return _BIDI.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)
