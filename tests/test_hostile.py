"""Hostile input through every API endpoint: no 5xx, JSON errors of the contract's shape, no file reached.

The corpus is generated here (XSS, SQL injection, path traversal, header injection, oversized and deeply
nested bodies, invalid UTF-8, NUL bytes, huge numbers), never copied from anywhere.
"""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

from test_moderate_ui import csrf_of
from werkzeug.test import EnvironBuilder, run_wsgi_app

from spamguard import lists
from spamguard.keys import create_key
from spamguard.moderators import add_moderator, create_token
from spamguard.policy import HOLD, Reason, Verdict

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.cookie)",
    "<svg/onload=alert(1)>",
    "<iframe srcdoc='&lt;script&gt;alert(1)&lt;/script&gt;'>",
]
SQLI = [
    "' OR '1'='1",
    "1; DROP TABLE comments; --",
    "x' UNION SELECT key_hash, prefix FROM api_keys --",
    "'); DELETE FROM api_keys; --",
    "\\'; SELECT pg_sleep(10); --",
]
TRAVERSAL = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "/etc/shadow",
    "....//....//models/CURRENT",
    "..\\..\\windows\\win.ini",
    "models/versions/../../../../etc/passwd",
]
ODD = [
    "a\x00b",
    "\x00",
    "line\r\nX-Injected: 1",
    "\ud800",
    "\u202e\u0000\ufeff",
    "9" * 400,
    "%s%s%s%n",
    "{{7*7}}${7*7}",
]
STRINGS = XSS + SQLI + TRAVERSAL + ODD
NUMBERS = [10**400, -(10**400), 1e308, -0.0, 2**63, -(2**63) - 1]
FIELDS = [
    "content",
    "id",
    "site",
    "author_email",
    "author_url",
    "author_ip",
    "author_name",
    "user_agent",
    "created_at",
    "language",
    "comment_type",
    "time_on_page_ms",
    "label",
    "verdict",
    "members",
    "honeypot",
]
RAW_BODIES = [
    b"\xff\xfe\xfd",
    b'{"content": "\xc3\x28"}',
    b'{"content": "a\x00b"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"content": 1e999999}',
    b'{"content": "x", "time_on_page_ms": ' + b"9" * 5000 + b"}",
    b'{"content": NaN}',
    b'{"content": "' + b"A" * (2 * 1024 * 1024) + b'"}',
    b"",
    b"null",
    b'"just a string"',
    b"\x00" * 64,
]


def corpus(pk: int) -> list[dict]:
    """Every request of the corpus: method, path, JSON or raw body, headers (without credentials)."""
    requests: list[dict] = []
    json_posts = ["/score", "/feedback", f"/moderation/{pk}", f"/moderation/campaigns/{pk}"]
    for path in json_posts:
        for field in FIELDS:
            for value in [*STRINGS, *NUMBERS, None, [], {}, True]:
                body = {"content": "hello", "id": "h1", "label": "spam", "verdict": "spam"} | {field: value}
                requests.append({"method": "POST", "path": path, "json": body})
        for raw in RAW_BODIES:
            requests.append({"method": "POST", "path": path, "data": raw, "ctype": "application/json"})
    for value in STRINGS:
        raw = value.encode("utf-8", "surrogatepass")  # a lone surrogate as the bytes a client could send
        q = quote(raw, safe="")
        requests.append({"method": "GET", "path": f"/comments/{q}"})
        requests.append({"method": "GET", "path": "/comments/" + quote(raw, safe="/.\\%")})
        requests.append({"method": "GET", "path": f"/moderation/queue?site={q}&cursor={q}&limit={q}"})
        requests.append({"method": "GET", "path": f"/moderation/campaigns?site={q}&limit={q}"})
        requests.append({"method": "GET", "path": f"/{q}"})
        for path in ("/1.1/comment-check", "/1.1/submit-spam", "/1.1/submit-ham", "/1.1/verify-key"):
            for field in ("blog", "comment_content", "user_ip", "comment_author_email", "comment_date_gmt"):
                requests.append({"method": "POST", "path": path, "form": {"blog": "blog", field: value}})
        # Header values of every shape, CR/LF included (built into the WSGI environ directly: a client
        # library would refuse them, a raw socket would not).
        for header in ("HTTP_X_MODEL", "HTTP_X_FORWARDED_FOR", "HTTP_USER_AGENT", "HTTP_REFERER"):
            requests.append({"method": "POST", "path": "/score", "json": {"content": "hi"},
                             "environ": {header: value + "\r\nX-Injected: 1"}})  # fmt: skip
    for n in (10**6, -1, 0, 2**64):
        requests.append({"method": "GET", "path": f"/moderation/queue?limit={n}"})
        requests.append({"method": "POST", "path": f"/moderation/{n}", "json": {"verdict": "spam"}})
        requests.append({"method": "POST", "path": f"/moderation/campaigns/{n}", "json": {"verdict": "spam"}})
        requests.append({"method": "GET", "path": f"/moderation/campaigns?limit={n}"})
    return requests


def urlencoded(fields: dict[str, str]) -> str:
    """A form body, lone surrogates sent as the bytes a client could send (urlencode would refuse them)."""
    return "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in fields.items())


def send(client, request: dict, auth: str | None, akismet_key: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": auth} if auth else {}
    kwargs: dict = {"method": request["method"], "path": request["path"], "headers": headers}
    if "json" in request:
        kwargs["data"] = json.dumps(request["json"], ensure_ascii=False).encode("utf-8", "surrogatepass")
        kwargs["content_type"] = "application/json"
    elif "data" in request:
        kwargs["data"], kwargs["content_type"] = request["data"], request["ctype"]
    elif "form" in request:
        kwargs["data"] = urlencoded({**request["form"], "api_key": akismet_key or ""})
        kwargs["content_type"] = "application/x-www-form-urlencoded"
    environ = EnvironBuilder(**kwargs).get_environ()
    for name, value in request.get("environ", {}).items():  # WSGI carries header values as latin-1 text
        environ[name] = value.encode("utf-8", "surrogatepass").decode("latin-1")
    # Straight to the WSGI app: Flask's test client itself refuses CR/LF in header values.
    body, status, headers = run_wsgi_app(client.application.wsgi_app, environ, buffered=True)
    return client.application.response_class(b"".join(body), status=status, headers=headers)


def check_answer(r, request: dict) -> None:  # type: ignore[no-untyped-def]
    where = f"{request['method']} {request['path'][:80]}"
    assert r.status_code < 500, f"{where}: {r.status_code} {r.data[:300]!r}"
    if r.status_code >= 400 and not request["path"].startswith("/1.1/"):
        body = r.get_json(silent=True)
        assert isinstance(body, dict) and set(body) == {"error"}, f"{where}: {r.data[:300]!r}"
        assert {"code", "message", "field"} <= set(body["error"]), f"{where}: {body}"
    assert "X-Injected" not in r.headers, where
    if r.mimetype == "text/html":
        assert_inert(r.data, where)


def test_hostile_corpus_through_every_endpoint(make_app, tmp_path: Path, trained_registry: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_body_bytes=1024 * 1024)
    st = app.extensions["spamguard"]
    key, _ = create_key(st.store, ["blog"])
    add_moderator(st.store, "mod", "a long enough password 1")
    token = create_token(st.store, "mod")
    client = app.test_client()
    pk = 1
    client.post("/score", json={"id": "seed", "content": "hello"}, headers={"Authorization": f"Bearer {key}"})

    opened: list[str] = []
    recording = [False]

    def audit(event: str, args: tuple) -> None:
        if recording[0] and event == "open" and isinstance(args[0], str | bytes):
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # cannot be removed: it records only while the flag is up
    tried: set[str] = set()
    statuses: dict[int, int] = {}
    answered: set[str] = set()  # endpoints that answered 200 at least once: the corpus reached them
    requests = corpus(pk)
    recording[0] = True
    try:
        for request in requests:
            for auth in (f"Bearer {key}", f"Bearer {token}", None):
                r = send(client, request, auth, key)
                check_answer(r, request)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    answered.add(request["path"].split("?")[0])
                tried.add(repr((request, auth is None, auth == f"Bearer {key}")))
    finally:
        recording[0] = False
    # No request path reached the filesystem: not the registry, not anything a payload named.
    registry = str(trained_registry)
    bad = [
        p for p in opened if registry in p or "passwd" in p or "shadow" in p or "win.ini" in p or ".." in p
    ]
    assert not bad, bad[:5]
    assert (
        st.store.count_comments() >= 1
        and st.store.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0] == 1
    )
    assert len(tried) > 5000
    for path in ("/score", "/1.1/comment-check", "/1.1/submit-spam", "/1.1/submit-ham", "/1.1/verify-key"):
        assert path in answered, f"the corpus never got past {path}'s door"
    print(f"hostile inputs tried: {len(tried)} distinct; statuses {sorted(statuses.items())}")  # noqa: T201


def test_model_is_loaded_only_from_the_configured_registry(
    make_app, monkeypatch, trained_registry: Path
) -> None:  # type: ignore[no-untyped-def]
    """Request fields that look like paths never choose a model: the loader is not called per request."""
    import spamguard.model as model_module
    import spamguard.reload as reload_module

    app = make_app()
    st = app.extensions["spamguard"]
    key, _ = create_key(st.store, ["blog"])
    calls: list = []
    monkeypatch.setattr(model_module, "load_model", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(reload_module, "load_model", lambda *a, **k: calls.append(a))
    client = app.test_client()
    for value in TRAVERSAL:
        for body in ({"content": "x", "model": value}, {"content": "x", "model_version": value},
                     {"content": "x", "id": value}, {"content": "x", "site": value}):  # fmt: skip
            r = client.post("/score", json=body, headers={"Authorization": f"Bearer {key}", "X-Model": value})
            assert r.status_code in (200, 400, 403)
            if r.status_code == 200:
                assert r.get_json()["model_version"] == st.holder.model.version
    assert calls == []


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def assert_inert(html: bytes, where: str) -> None:
    """The page as a browser parses it has no element or attribute that runs script, other than the UI's
    own external script: whatever hostile text it shows stayed text."""
    parser = _Elements()
    parser.feed(html.decode("utf-8", "replace"))
    for tag, attrs in parser.found:
        assert tag not in ("iframe", "svg", "img", "object", "embed", "base"), (where, tag, attrs)
        if tag == "script":
            assert [name for name, _ in attrs] == ["src", "defer"], (where, attrs)
            assert (attrs[0][1] or "").startswith("/static/"), (where, attrs)
        for name, value in attrs:
            assert not name.startswith("on"), (where, tag, attrs)
            if name in ("href", "src", "action", "formaction"):
                assert not (value or "").strip().lower().startswith("javascript:"), (where, tag, attrs)


OVERSIZED = ["A" * (64 * 1024), "<b>" * 20_000, "%" * 100_000, "\u202e" * 30_000]
UI_PAGES = ["/moderate/", "/moderate/recent", "/moderate/audit", "/moderate/lists/", "/moderate/login"]
UI_QUERY = ["site", "reason", "q", "limit", "cursor", "campaign", "before", "next"]


def ui_corpus(pk: int) -> list[tuple[str, str, dict[str, str]]]:
    """Every form of the web UI with each hostile value in each field: (method, path, fields)."""
    good = {
        "/moderate/login": {"name": "mod", "password": "wrong password"},
        "/moderate/decide": {"one": f"{pk}:held:ham", "back": "/moderate/", "next": str(pk)},
        "/moderate/campaign": {
            "campaign": str(pk),
            "verdict": "spam",
            "members": str(pk),
            "back": "/moderate/",
        },
        "/moderate/lists/add": {"site": "blog", "kind": "deny-keyword", "value": "casino"},
        "/moderate/lists/remove": {"site": "blog", "kind": "deny-keyword", "value": "casino"},
    }
    good["/moderate/decide"] |= {"bulk": "", "ids": ""}
    requests: list[tuple[str, str, dict[str, str]]] = []
    for value in [*STRINGS, *OVERSIZED]:
        for path, fields in good.items():
            for field in fields:
                requests.append(("POST", path, fields | {field: value}))
        for kind in ("deny-keyword", "deny-email", "deny-domain", "deny-ip", "allow-email"):
            requests.append(("POST", "/moderate/lists/add", {"site": "blog", "kind": kind, "value": value}))
        q = quote(value.encode("utf-8", "surrogatepass"), safe="")
        for path in UI_PAGES:
            requests.append(("GET", path + "?" + "&".join(f"{name}={q}" for name in UI_QUERY), {}))
    return requests


def test_hostile_corpus_through_the_moderation_ui(make_app) -> None:  # type: ignore[no-untyped-def]
    """The web UI's forms and pages with every hostile value in every field, logged in and not:
    no 5xx, no header injected, no redirect off the site, every page escapes what it shows, and what a
    form stores is stored as the literal text it was."""
    app = make_app()
    st = app.extensions["spamguard"]
    add_moderator(st.store, "mod", "a long enough password 1")
    key, _ = create_key(st.store, ["blog"])
    hostile = " ".join(XSS + SQLI)
    verdict = Verdict(HOLD, 0.6, [Reason("link:shortener", 1.9, XSS[1])], "v1", "held")
    assert st.store.insert_comment("blog", "held", {"id": "held", "site": "blog", "content": hostile,
                                                    "author_name": XSS[0]}, verdict)  # fmt: skip
    pk = st.store.execute("SELECT id FROM comments WHERE comment_id = 'held'").fetchone()[0]
    logged_in, stranger = app.test_client(), app.test_client()
    csrf = csrf_of(logged_in.get("/moderate/login").data)
    login = {"name": "mod", "password": "a long enough password 1", "csrf_token": csrf}
    assert logged_in.post("/moderate/login", data=login).status_code == 302
    page = logged_in.get("/moderate/").data
    assert b"&lt;script&gt;alert(1)" in page  # the held comment is shown, as text
    assert_inert(page, "the queue")
    tried, statuses = 0, {}
    for method, path, fields in ui_corpus(pk):
        for client in (logged_in, stranger):
            page = "/moderate/login" if client is stranger else "/moderate/lists/"
            body = None
            if (
                method == "POST"
            ):  # encoded by hand: a lone surrogate goes out as the bytes a client could send
                body = urlencoded(fields | {"csrf_token": csrf_of(client.get(page).data)})
            r = client.open(path, method=method, data=body, content_type="application/x-www-form-urlencoded")
            tried += 1
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            where = f"{method} {path} {str(fields)[:120]}"
            assert r.status_code < 500, where
            assert "X-Injected" not in r.headers, where
            location = r.headers.get("Location", "")
            assert not location or (location.startswith("/moderate") and "\r" not in location), where
            if r.mimetype == "text/html":
                assert_inert(r.data, where)
    # Accepted list entries hold the literal text: SQL in a keyword is a keyword, not a statement.
    stored = {entry.value for entry in lists.entries(st.store, "blog")}
    assert {"' or '1'='1", "1; drop table comments; --"} <= stored, sorted(stored)[
        :10
    ]  # keywords: lower case
    page = logged_in.get("/moderate/lists/?site=blog").data
    assert b"drop table comments" in page and b"&lt;script&gt;alert(1)" in page
    assert_inert(page, "the lists page")
    page = logged_in.get("/moderate/recent").data
    assert b"&lt;script&gt;alert(1)" in page  # the comment (decided by the corpus) is shown, as text
    assert_inert(page, "recent decisions")
    # Nothing lost: the held comment, the key, the moderator and every table are still there.
    assert st.store.get_comment("blog", "held") is not None
    assert st.store.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0] == 1
    assert st.store.execute("SELECT COUNT(*) FROM moderators").fetchone()[0] == 1
    for table in ("comments", "api_keys", "feedback", "moderators", "verdicts", "site_lists", "history"):
        st.store.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # still there (a StoreError if not)
    assert key and tried > 1500
    print(f"hostile UI inputs tried: {tried}; statuses {sorted(statuses.items())}")  # noqa: T201
