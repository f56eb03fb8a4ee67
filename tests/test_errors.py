"""Tests for spamguard.errors: every error, ours or werkzeug's, is the contract's JSON with its headers."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from werkzeug import exceptions as wz
from werkzeug.datastructures import WWWAuthenticate

from spamguard import moderation_store
from spamguard.keys import create_key
from spamguard.store import StoreError, StoreValueError

HAM = {"content": "Thanks for the write-up, it helped me fix my setup."}


def assert_json_error(response, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """Assert a contract error: JSON (never HTML), {"error": {code, message, field}}; return the error."""
    assert response.status_code == status, response.data[:300]
    assert response.headers.getlist("Content-Type") == ["application/json"]
    lowered = response.data.lower()
    assert b"<html" not in lowered and b"<!doctype" not in lowered and b"<p>" not in lowered
    body = json.loads(response.data)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "field"} <= set(error)
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["field"] is None or isinstance(error["field"], str)
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


@pytest.fixture
def key(store) -> str:  # type: ignore[no-untyped-def]
    """A key for site `blog`."""
    return create_key(store, ["blog"])[0]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- the service's own errors, through its endpoints -------------------------------------------------


@pytest.mark.parametrize(
    "data, code, field",
    [("{oops", "malformed_json", None), ("[1]", "not_an_object", None), ("", "empty_body", None),
     (json.dumps({"content": 5}), "invalid_record", "content")],
)  # fmt: skip
def test_400(client, key, data, code, field) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", data=data, content_type="application/json", headers=bearer(key))
    assert assert_json_error(r, 400, code)["field"] == field


@pytest.mark.parametrize(
    "method, path, headers, challenge",
    [
        ("POST", "/score", {}, 'Bearer realm="spamguard"'),
        ("POST", "/score", {"Authorization": "Basic dXNlcjpwdw=="}, 'Bearer realm="spamguard"'),
        ("POST", "/score", {"Authorization": "Bearer sg_not-a-key"}, 'Bearer error="invalid_token"'),
        ("GET", "/moderation/queue", {}, 'Bearer realm="spamguard-moderation"'),
    ],
)
def test_401_carries_a_bearer_challenge(client, method, path, headers, challenge) -> None:  # type: ignore[no-untyped-def]
    r = client.open(path, method=method, json=HAM, headers=headers)
    assert_json_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == challenge


def test_403(client, key) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", json={**HAM, "site": "elsewhere"}, headers=bearer(key))
    assert assert_json_error(r, 403, "forbidden")["field"] == "site"
    assert_json_error(client.get("/moderation/queue", headers=bearer(key)), 403, "forbidden")


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/no/such/route"), ("POST", "/no/such/route"), ("GET", "/moderate/no-such-page"),
     ("GET", "/scorez")],
)  # fmt: skip
def test_404_for_unknown_routes_even_when_html_is_preferred(client, method, path) -> None:  # type: ignore[no-untyped-def]
    r = client.open(path, method=method, headers={"Accept": "text/html,application/xhtml+xml"})
    assert_json_error(r, 404, "not_found")


def test_404_for_an_unknown_comment(client, key) -> None:  # type: ignore[no-untyped-def]
    assert_json_error(client.get("/comments/never-sent", headers=bearer(key)), 404, "not_found")


@pytest.mark.parametrize(
    "method, path, allowed",
    [("GET", "/score", {"POST"}), ("PUT", "/healthz", {"GET", "HEAD"}), ("DELETE", "/feedback", {"POST"})],
)
def test_405_lists_the_allowed_methods(client, method, path, allowed) -> None:  # type: ignore[no-untyped-def]
    r = client.open(path, method=method)
    assert_json_error(r, 405, "method_not_allowed")
    methods = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allowed <= methods and method not in methods


def test_413(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_body_bytes=2048)
    client = app.test_client()
    headers = bearer(create_key(app.extensions["spamguard"].store, ["blog"])[0])
    assert_json_error(
        client.post("/score", json={"content": "x" * 4000}, headers=headers), 413, "payload_too_large"
    )
    # A chunked body, which werkzeug cuts off at MAX_CONTENT_LENGTH.
    r = client.post(
        "/score", input_stream=io.BytesIO(b'{"content": "' + b"x" * 10_000 + b'"}'),
        content_type="application/json", headers={**headers, "Transfer-Encoding": "chunked"},
        environ_base={"wsgi.input_terminated": True},
    )  # fmt: skip
    assert_json_error(r, 413, "payload_too_large")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1"])  # fmt: skip
def test_415(client, key, content_type) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", data=json.dumps(HAM), content_type=content_type, headers=bearer(key))
    assert_json_error(r, 415, "unsupported_media_type")


def test_a_compressed_body_is_415_not_invalid_utf8(client, key) -> None:  # type: ignore[no-untyped-def]
    body = gzip.compress(json.dumps(HAM).encode())
    r = client.post("/score", data=body, content_type="application/json",
                    headers={**bearer(key), "Content-Encoding": "gzip"})  # fmt: skip
    assert "uncompressed" in assert_json_error(r, 415, "unsupported_media_type")["message"]


def test_429_carries_retry_after(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit=1)
    client = app.test_client()
    headers = bearer(create_key(app.extensions["spamguard"].store, ["blog"])[0])
    assert client.post("/score", json=HAM, headers=headers).status_code == 200
    r = client.post("/score", json=HAM, headers=headers)
    assert_json_error(r, 429, "rate_limited")
    assert r.headers["Retry-After"].isdigit() and 1 <= int(r.headers["Retry-After"]) <= 60


@pytest.mark.parametrize(
    "error, status, code",
    [
        (StoreError("xyzzy: disk I/O error"), 503, "store_unavailable"),
        (StoreValueError("xyzzy: a NUL byte"), 400, "invalid_value"),
    ],
)
def test_store_errors(client, key, monkeypatch, error, status, code) -> None:  # type: ignore[no-untyped-def]
    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise error

    headers = bearer(key)
    monkeypatch.setattr(moderation_store, "get_by_id", fail)
    r = client.get("/comments/c1", headers=headers)
    assert_json_error(r, status, code)
    assert "xyzzy" not in r.text, "the store's own words stay in the log"
    if status == 503:
        assert r.headers["Retry-After"] == "1"
    else:
        assert "Retry-After" not in r.headers


# --- werkzeug's exceptions, raised inside a view ------------------------------------------------------

RAISED = {
    "bad_request": (wz.BadRequest(), 400, "bad_request", set()),
    "unauthorized": (
        wz.Unauthorized(www_authenticate=WWWAuthenticate("bearer", {"realm": "x"})), 401, "unauthorized",
        {"WWW-Authenticate"},
    ),
    "forbidden": (wz.Forbidden(), 403, "forbidden", set()),
    "not_found": (wz.NotFound("no such thing"), 404, "not_found", set()),
    "method": (wz.MethodNotAllowed(valid_methods=["POST"]), 405, "method_not_allowed", {"Allow"}),
    # Named and worded as the 413 of a JSON body: werkzeug raises it for a form body over the limit.
    "too_large": (wz.RequestEntityTooLarge(), 413, "payload_too_large", set()),
    "media_type": (wz.UnsupportedMediaType(), 415, "unsupported_media_type", set()),
    "too_many": (wz.TooManyRequests(retry_after=7), 429, "too_many_requests", {"Retry-After"}),
    "unavailable": (wz.ServiceUnavailable(retry_after=3), 503, "service_unavailable", {"Retry-After"}),
    "teapot": (wz.ImATeapot(), 418, "im_a_teapot", set()),
}  # fmt: skip


@pytest.fixture
def raising_client(make_app):  # type: ignore[no-untyped-def]
    """A client of an app with a view that raises RAISED[name], or a plain bug for `/raise/bug`."""
    app = make_app()

    def view(name: str):  # type: ignore[no-untyped-def]
        if name == "bug":
            raise ZeroDivisionError("secret internals")
        raise RAISED[name][0]

    app.add_url_rule("/raise/<name>", "raise_for_test", view)
    return app.test_client()


@pytest.mark.parametrize("name", list(RAISED))
def test_werkzeug_exceptions_become_json(raising_client, name) -> None:  # type: ignore[no-untyped-def]
    exc, status, code, headers = RAISED[name]
    r = raising_client.get(f"/raise/{name}")
    error = assert_json_error(r, status, code)
    assert error["message"] == (exc.description if status != 413 else "the body is over 1048576 bytes")
    sent = dict(exc.get_headers())
    assert sent.pop("Content-Type").startswith("text/html"), "werkzeug's own page would be HTML"
    assert set(sent) == headers
    for header, value in sent.items():
        assert r.headers[header] == value


def test_a_bug_is_a_json_500_without_details(raising_client, caplog) -> None:  # type: ignore[no-untyped-def]
    r = raising_client.get("/raise/bug")
    assert_json_error(r, 500, "internal_error")
    assert "secret internals" not in r.text and "ZeroDivisionError" not in r.text
    assert any(rec.exc_info and rec.exc_info[0] is ZeroDivisionError for rec in caplog.records)


class StalledStream(io.RawIOBase):
    """A request body that stops arriving: the read fails as one past SO_RCVTIMEO does."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        raise BlockingIOError(11, "Resource temporarily unavailable")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_that_stops_arriving_is_408(client, key, chunked: bool) -> None:  # type: ignore[no-untyped-def]
    length = (
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
        if chunked
        else {"CONTENT_LENGTH": "100"}
    )
    r = client.post("/score", content_type="application/json", headers=bearer(key),
                    environ_overrides={"wsgi.input": StalledStream(), **length})  # fmt: skip
    assert_json_error(r, 408, "request_timeout")
    assert r.headers["Connection"] == "close"


@pytest.mark.parametrize("length", ["\u00b2", "-1", "1e3", " 12"])
def test_an_odd_content_length_is_no_500(client, key, length: str) -> None:  # type: ignore[no-untyped-def]
    # "²".isdigit() is true in Python, and int("²") fails: a server may pass such a header on.
    r = client.post("/score", data=json.dumps(HAM), content_type="application/json", headers=bearer(key),
                    environ_overrides={"CONTENT_LENGTH": length})  # fmt: skip
    assert r.status_code < 500, r.data[:300]
