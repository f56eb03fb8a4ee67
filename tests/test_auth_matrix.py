"""Who may call what: every endpoint with no credentials, another site's key, a revoked key, a moderator
token where a site key is needed and the reverse; and no secret ever reaches the logs."""

from __future__ import annotations

import logging

import pytest

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
    return {"app": app, "client": client, "blog": blog, "other": other, "revoked": revoked,
            "token": token, "gone": gone, "pk": pk}  # fmt: skip


SITE_ENDPOINTS = [
    ("POST", "/score", {"id": "n1", "content": "hello"}),
    ("POST", "/feedback", {"id": "c1", "label": "ham"}),
    ("GET", "/comments/c1", None),
]
MODERATOR_ENDPOINTS = [("GET", "/moderation/queue", None), ("POST", "/moderation/{pk}", {"verdict": "ham"})]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/openapi.json"]


def call(w, method: str, path: str, body, credential: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    return w["client"].open(path.format(pk=w["pk"]), method=method, json=body, headers=headers)


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
    before = w["app"].extensions["spamguard"].store.get_comment("blog", "c1").status
    for credential, expected in [(None, 401), (w["blog"], 403), (w["other"], 403), (w["revoked"], 401),
                                 (w["gone"], 401), ("sgm_" + "A" * 43, 401)]:  # fmt: skip
        r = call(w, method, path, body, credential)
        assert r.status_code == expected, (credential, r.get_json())
    st = w["app"].extensions["spamguard"]
    assert st.store.get_comment("blog", "c1").status == before, "nothing was decided without a moderator"
    if body is not None:
        body = body | {"expected_status": before}
    assert call(w, method, path, body, w["token"]).status_code == 200


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
    client.post("/moderate/login", data={"name": "mod", "password": PASSWORD})
    client.post("/moderate/login", data={"name": "mod", "password": PASSWORD + "wrong"})
    client.post("/comment-check", data={"api_key": key, "blog": "blog", "comment_content": "hi"})
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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    (log,) = home.glob("serve-*.log")
    text = log.read_text(errors="replace")
    assert "DEBUG" in text or "[DEBUG]" in text, "the server logged at DEBUG"
    for secret in (key, key[10:], token, token[10:], PASSWORD):
        assert secret not in text
