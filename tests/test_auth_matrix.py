"""Who may call what: every endpoint with no credentials, another site's key, a revoked key, a moderator
token where a site key is needed and the reverse; and no secret ever reaches the logs."""

from __future__ import annotations

import logging

import pytest
from test_campaigns import PITCH, hold
from test_moderate_ui import csrf_of

from spamguard.keys import create_key, revoke_key
from spamguard.moderators import add_moderator, create_token, remove_moderator

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def world(make_app):  # type: ignore[no-untyped-def]
    app = make_app()
    st = app.extensions["spamguard"]
    blog, _ = create_key(st.store, ["blog"])
    other, _ = create_key(st.store, ["other"])
    revoked, info = create_key(st.store, ["blog"])
    revoke_key(st.store, str(info.id))
    add_moderator(st.store, "mod", PASSWORD)
    token = create_token(st.store, "mod")
    add_moderator(st.store, "gone", PASSWORD + "x")
    gone = create_token(st.store, "gone")
    remove_moderator(st.store, "gone")
    client = app.test_client()
    r = client.post("/score", json={"id": "c1", "content": "Buy pills at http://bit.ly/x now!!!"},
                    headers={"Authorization": f"Bearer {blog}"})  # fmt: skip
    assert r.status_code == 200
    pk = st.store.execute("SELECT id FROM comments WHERE comment_id = 'c1'").fetchone()[0]
    held_pk = hold(st.store, "blog", "h1", PITCH.format(""))  # a campaign of one, held
    return {"app": app, "client": client, "blog": blog, "other": other, "revoked": revoked,
            "token": token, "gone": gone, "pk": pk, "held": held_pk}  # fmt: skip


SITE_ENDPOINTS = [
    ("POST", "/score", {"id": "n1", "content": "hello"}),
    ("POST", "/feedback", {"id": "c1", "label": "ham"}),
    ("GET", "/comments/c1", None),
]
MODERATOR_ENDPOINTS = [
    ("GET", "/moderation/queue", None),
    ("POST", "/moderation/{pk}", {"verdict": "ham"}),
    ("GET", "/moderation/campaigns", None),
    ("POST", "/moderation/campaigns/{held}", {"verdict": "ham"}),
]
AKISMET_ENDPOINTS = ["/1.1/verify-key", "/1.1/comment-check", "/1.1/submit-spam", "/1.1/submit-ham"]
UI_PAGES = ["/moderate/", "/moderate/recent", "/moderate/audit", "/moderate/lists/"]
UI_FORMS = [
    "/moderate/decide",
    "/moderate/campaign",
    "/moderate/lists/add",
    "/moderate/lists/remove",
    "/moderate/logout",
]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/openapi.json"]


def call(w, method: str, path: str, body, credential: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    path = path.format(pk=w["pk"], held=w["held"])
    return w["client"].open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize("method,path,body", SITE_ENDPOINTS)
def test_site_endpoints(world, method, path, body) -> None:  # type: ignore[no-untyped-def]
    w = world
    for credential, expected in [(None, 401), (w["revoked"], 401), (w["token"], 401), (w["gone"], 401),
                                 ("sg_" + "A" * 43, 401), ("not a key at all", 401)]:  # fmt: skip
        r = call(w, method, path, body, credential)
        assert r.status_code == expected, (credential, r.get_json())
        assert r.get_json()["error"]["code"] == "unauthorized"
        assert "WWW-Authenticate" in r.headers
    # Another site's key: the blog's comment is neither readable nor labelled nor overwritten by it.
    scoped = dict(body or {}) | ({"site": "blog"} if body is not None else {})
    r = call(w, method, path + ("?site=blog" if body is None else ""), scoped if body else None, w["other"])
    assert r.status_code == 403 and r.get_json()["error"]["field"] == "site"
    r = call(w, method, path, body, w["other"])  # defaulting to its own site: the blog's data is not there
    assert r.status_code in (200, 404)
    if path == "/score":
        assert r.get_json()["id"] == "n1"
    assert call(w, method, path, body, w["blog"]).status_code == 200


@pytest.mark.parametrize("method,path,body", MODERATOR_ENDPOINTS)
def test_moderator_endpoints(world, method, path, body) -> None:  # type: ignore[no-untyped-def]
    w = world
    store = w["app"].extensions["spamguard"].store
    before = [store.get_comment("blog", c).status for c in ("c1", "h1")]
    for credential, expected in [(None, 401), (w["blog"], 403), (w["other"], 403), (w["revoked"], 401),
                                 (w["gone"], 401), ("sgm_" + "A" * 43, 401)]:  # fmt: skip
        r = call(w, method, path, body, credential)
        assert r.status_code == expected, (credential, r.get_json())
    after = [store.get_comment("blog", c).status for c in ("c1", "h1")]
    assert after == before == [before[0], "held"], "nothing was decided without a moderator"
    if body is not None and "campaigns" not in path:
        body = body | {"expected_status": before[0]}
    r = call(w, method, path, body, w["token"])
    assert r.status_code == 200, r.get_json()


@pytest.mark.parametrize("path", AKISMET_ENDPOINTS)
def test_akismet_endpoints(world, path) -> None:  # type: ignore[no-untyped-def]
    """Akismet's answer to a bad key is 200 'invalid' (its clients expect that), and nothing is stored."""
    w = world
    st = w["app"].extensions["spamguard"].store
    stored, labelled = st.count_comments(), st.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    form = {"blog": "blog", "comment_content": "Buy pills at http://bit.ly/x now!!!",
            "user_ip": "198.51.100.7", "comment_author": "Pill Shop", "guid": "c1"}  # fmt: skip
    for credential in (None, w["revoked"], w["token"], w["gone"], "sg_" + "A" * 43, "sgm_" + "A" * 43):
        for where in ("api_key", "key", "bearer"):
            data, headers = dict(form), {}
            if credential and where == "bearer":
                headers["Authorization"] = f"Bearer {credential}"
            elif credential:
                data[where] = credential
            r = w["client"].post(path, data=data, headers=headers)
            assert (r.status_code, r.text) == (200, "invalid"), (credential, where, r.text)
            assert "key" in r.headers["X-akismet-debug-help"]
    assert st.count_comments() == stored
    assert st.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == labelled
    # Another site's key: what it sends lands on its own site; the blog's comment c1 is not touched.
    blog_labels = "SELECT COUNT(*) FROM feedback WHERE site = 'blog'"
    before = (st.get_comment("blog", "c1").status, st.execute(blog_labels).fetchone()[0])
    r = w["client"].post(path, data=form | {"api_key": w["other"]})
    assert r.status_code == 200 and r.text != "invalid", r.headers.get("X-akismet-debug-help")
    assert (st.get_comment("blog", "c1").status, st.execute(blog_labels).fetchone()[0]) == before
    r = w["client"].post(path, data=form | {"api_key": w["blog"]})
    assert r.status_code == 200 and r.text != "invalid", r.headers.get("X-akismet-debug-help")


@pytest.mark.parametrize("path", UI_PAGES)
def test_ui_pages_take_no_bearer_credentials(world, path) -> None:  # type: ignore[no-untyped-def]
    """The web UI knows only its login session: a site key or a moderator token does not open it."""
    for credential in (None, world["blog"], world["token"], world["revoked"]):
        r = call(world, "GET", path, None, credential)
        assert r.status_code == 302 and r.headers["Location"].startswith("/moderate/login?next="), credential


@pytest.mark.parametrize("path", UI_FORMS)
def test_ui_forms_take_no_bearer_credentials(world, path) -> None:  # type: ignore[no-untyped-def]
    w = world
    st = w["app"].extensions["spamguard"].store
    before = st.get_comment("blog", "c1").status
    data = {"item": f"{w['pk']}:held:ham", "campaign": str(w["pk"]), "verdict": "ham", "site": "blog",
            "kind": "deny-ip", "value": "203.0.113.9"}  # fmt: skip
    for credential in (None, w["blog"], w["token"]):
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        r = w["client"].post(path, data=data, headers=headers)
        assert r.status_code == 302 and r.headers["Location"].startswith("/moderate/login"), credential
    assert st.get_comment("blog", "c1").status == before
    assert "203.0.113.9" not in str(st.execute("SELECT * FROM site_lists").fetchall())


def test_public_endpoints_need_nothing(world) -> None:  # type: ignore[no-untyped-def]
    for path in PUBLIC:
        assert world["client"].get(path).status_code == 200


def test_no_secret_in_the_logs(make_app, caplog) -> None:  # type: ignore[no-untyped-def]
    """A full run at DEBUG: keys, tokens, passwords and their hashes never appear in any log record."""
    from spamguard.keys import hash_key

    caplog.set_level(logging.DEBUG)
    app = make_app(log_level="DEBUG")
    logging.getLogger("spamguard").setLevel(logging.DEBUG)
    st = app.extensions["spamguard"]
    key, info = create_key(st.store, ["blog"])
    add_moderator(st.store, "mod", PASSWORD)
    token = create_token(st.store, "mod")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    for i in range(5):
        client.post("/score", json={"id": f"c{i}", "content": f"comment {i} http://bit.ly/x"}, headers=auth)
    client.post("/score", json={"content": 5}, headers=auth)
    client.post("/score", json={"content": "x"}, headers={"Authorization": f"Bearer {key}x"})
    client.post("/score", json={"content": "x", "site": "elsewhere"}, headers=auth)
    client.get("/comments/c1", headers=auth)
    client.post("/feedback", json={"id": "c1", "label": "spam"}, headers=auth)
    client.get("/moderation/queue", headers={"Authorization": f"Bearer {token}"})
    client.get("/moderation/queue", headers=auth)
    client.post("/moderation/1", json={"verdict": "ham"}, headers={"Authorization": f"Bearer {token}"})
    for password, status in ((PASSWORD + "wrong", 401), (PASSWORD, 302)):  # 302: logged in, so it was read
        csrf = csrf_of(client.get("/moderate/login").data)
        r = client.post("/moderate/login", data={"name": "mod", "password": password, "csrf_token": csrf})
        assert r.status_code == status
    akismet = {"blog": "blog", "comment_content": "hi", "user_ip": "203.0.113.5"}
    assert client.post("/1.1/verify-key", data={"key": key, "blog": "blog"}).text == "valid"
    assert client.post("/1.1/comment-check", data=akismet | {"api_key": key}).text in ("true", "false")
    assert client.post("/1.1/submit-spam", data=akismet | {"api_key": key}).status_code == 200
    assert client.post("/1.1/comment-check", data=akismet | {"api_key": key + "x"}).text == "invalid"
    in_host = {"Host": f"{key}.rest.akismet.com"}  # Akismet's oldest style: the key in the host name
    assert client.post("/1.1/comment-check", data=akismet, headers=in_host).text in ("true", "false")
    revoke_key(st.store, str(info.id))
    client.post("/score", json={"content": "x"}, headers=auth)
    st.spool.mark_down(RuntimeError("outage"))  # the spool path logs too
    client.post("/score", json={"id": "s1", "content": "x"}, headers={"Authorization": f"Bearer {token}"})
    records = caplog.records
    assert len(records) >= 2, "the run did log"
    text = "\n".join(r.getMessage() + " " + repr(r.args) + " " + str(r.exc_info) for r in records)
    text += caplog.text
    for secret in (key, key[10:], token, token[10:], PASSWORD, hash_key(key), hash_key(token)):
        assert secret not in text


@pytest.mark.slow
def test_no_secret_in_the_server_log(tmp_path, trained_registry) -> None:  # type: ignore[no-untyped-def]
    """The same under gunicorn at DEBUG: its whole log (workers, master, spamguard) holds no secret."""
    import os
    import signal

    from test_serve import make_key
    from test_spool import _post, _serve_in

    from spamguard.store import Store

    home = tmp_path / "home"
    home.mkdir()
    key = make_key(home)
    store = Store(f"sqlite:///{home / 'spamguard.db'}")
    add_moderator(store, "mod", PASSWORD)
    token = create_token(store, "mod")
    store.close()
    proc, port = _serve_in(home, trained_registry, SPAMGUARD_LOG_LEVEL="DEBUG", SPAMGUARD_WORKERS="1")
    try:
        for i in range(5):
            _post(port, "/score", {"id": f"c{i}", "content": f"comment {i}"}, key)
        _post(port, "/score", {"content": "x"}, key + "x")
        _post(port, "/moderation/queue", None, token, method="GET")
        _post(port, "/moderation/queue", None, key, method="GET")
        _post(port, f"/comments/c1?api_key={key}", None, key, method="GET")
        for path in ("/1.1/verify-key", "/1.1/comment-check", "/1.1/submit-ham"):
            fields = {"api_key": key, "key": key, "blog": "blog", "comment_content": "hi"}
            assert _form(port, path, fields)[0] == 200
        assert _login(port, PASSWORD + "wrong") == 401
        assert _login(port, PASSWORD) == 200  # the queue, after the redirect: the password was checked
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    (log,) = home.glob("serve-*.log")
    text = log.read_text(errors="replace")
    assert "DEBUG" in text or "[DEBUG]" in text, "the server logged at DEBUG"
    for secret in (key, key[10:], token, token[10:], PASSWORD):
        assert secret not in text


def _form(port: int, path: str, fields: dict[str, str], opener=None) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    import urllib.error
    import urllib.parse
    import urllib.request

    opener = opener or urllib.request.build_opener()
    data = urllib.parse.urlencode(fields).encode() if fields else None
    try:
        with opener.open(f"http://127.0.0.1:{port}{path}", data=data, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _login(port: int, password: str) -> int:
    """Log in to the web UI over the socket (session cookie and CSRF token as a browser would)."""
    import http.cookiejar
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    _, page = _form(port, "/moderate/login", {}, opener)
    fields = {"name": "mod", "password": password, "csrf_token": csrf_of(page)}
    return _form(port, "/moderate/login", fields, opener)[0]
