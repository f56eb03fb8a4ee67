"""Load shedding: while too many requests wait for a thread, scoring answers 503 at once."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from spamguard import server
from spamguard.keys import create_key
from spamguard.settings import load_settings


@pytest.mark.parametrize("waiting,expected", [(0, 200), (16, 200), (17, 503)])
def test_score_is_shed_over_max_queued(make_app, monkeypatch, waiting, expected) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_queued=16)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    monkeypatch.setattr(server, "queued", lambda: waiting)
    client = app.test_client()
    r = client.post(
        "/score", json={"id": "q1", "content": "hello"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == expected
    if expected == 503:
        message = "too many requests are waiting: retry shortly"
        assert r.get_json() == {"error": {"code": "overloaded", "message": message, "field": None}}
        assert r.headers["Retry-After"] == "1" and r.content_type == "application/json"
        assert r.headers["Content-Length"] == str(len(r.data))
        assert app.extensions["spamguard"].store.get_comment("blog", "q1") is None, "nothing stored: retry"
        assert 'endpoint="/score",site="",status="503"' in client.get("/metrics").data.decode()
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200, "health and metrics are never shed"


def test_akismet_comment_check_is_shed_too(make_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_queued=16)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    monkeypatch.setattr(server, "queued", lambda: 17)
    client = app.test_client()
    form = {"api_key": key, "blog": "https://blog", "comment_content": "hello", "guid": "a1"}
    r = client.post("/1.1/comment-check", data=form)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert app.extensions["spamguard"].store.get_comment("blog", "a1") is None
    # Only the scoring endpoints are shed: a key check or a label is cheap and is never lost.
    assert client.post("/1.1/verify-key", data={"key": key, "blog": "https://blog"}).status_code == 200
    assert client.get("/score").status_code == 405, "only a POST scores, so only a POST is shed"


def test_no_limit_never_sheds(make_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_queued=0)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    monkeypatch.setattr(server, "queued", lambda: 10**6)
    r = app.test_client().post("/score", json={"content": "hi"}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200


def test_worker_queue_is_read_from_the_thread_pool(monkeypatch) -> None:
    import gc

    monkeypatch.setattr(gc, "freeze", lambda: None)
    # The hook replaces gunicorn's error writer: put it back after the test.
    monkeypatch.setattr(server.gunicorn_util, "write_error", server.gunicorn_util.write_error)
    hook = server._post_worker_init(load_settings({}))
    log = SimpleNamespace(error_log=logging.getLogger("test_shed"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        monkeypatch.setattr(server, "_queue", None)
        assert server.queued() == 0
        hook(SimpleNamespace(tpool=pool, sockets=[], log=log))
        assert server.queued() == 0
        blocker = pool.submit(__import__("time").sleep, 0.3)
        waiting = [pool.submit(int) for _ in range(3)]
        assert server.queued() == 3
        blocker.result()
        for f in waiting:
            f.result()
    hook(SimpleNamespace(sockets=[], log=log))  # a sync worker: no queue, no shedding
    assert server.queued() == 0
