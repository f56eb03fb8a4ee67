"""The Akismet-compatible API, driven by a real Akismet client library and by hand-made requests."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import akismet
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server

from spamguard.akismet import THANKS, comment_id, to_record
from spamguard.keys import create_key, revoke_key

BLOG = "https://blog.example.org/"
SPAM = "Buy cheap viagra now at http://bit.ly/x9z best price!!!"
HAM = "Thanks for the sourdough write-up, it helped me fix my setup."
IP = "203.0.113.9"


@pytest.fixture
def http(app) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    """An httpx client whose every request, to whatever URL, is answered by `app` in process."""
    with httpx.Client(transport=httpx.WSGITransport(app=app)) as client:
        yield client


@pytest.fixture
def ak(api_key: str, http: httpx.Client) -> akismet.SyncClient:
    """James Bennett's Akismet client, validated against spamguard (it calls verify-key)."""
    return akismet.SyncClient.validated_client(config=akismet.Config(key=api_key, url=BLOG), http_client=http)


def check(client, data: dict[str, str], **kwargs):  # type: ignore[no-untyped-def]
    return client.post("/1.1/comment-check", data=data, **kwargs)


def form(api_key: str, **fields: str) -> dict[str, str]:
    return {"api_key": api_key, "blog": BLOG, "user_ip": IP, **fields}


# -- a real client: akismet (James Bennett), through httpx --------------------------------------


def test_real_client_verifies_the_key(api_key, http) -> None:  # type: ignore[no-untyped-def]
    client = akismet.SyncClient(config=akismet.Config(key=api_key, url=BLOG), http_client=http)
    assert client.verify_key() is True
    assert client.verify_key("sg_not-a-key", BLOG) is False
    with pytest.raises(akismet.APIKeyError):
        akismet.SyncClient.validated_client(config=akismet.Config(key="sg_wrong", url=BLOG), http_client=http)


def test_real_client_spam_ham_and_discard(ak, store) -> None:  # type: ignore[no-untyped-def]
    assert ak.comment_check(IP, comment_content=HAM, comment_author="Ann") == akismet.CheckResponse.HAM
    assert ak.comment_check(IP, comment_content=SPAM, comment_type="comment") == akismet.CheckResponse.DISCARD
    assert store.count_comments("blog") == 2


def test_real_client_test_values(ak) -> None:  # type: ignore[no-untyped-def]
    assert ak.comment_check(IP, comment_content=HAM, comment_author="viagra-test-123") \
        == akismet.CheckResponse.DISCARD  # fmt: skip
    assert ak.comment_check(IP, comment_content=SPAM, user_role="administrator") == akismet.CheckResponse.HAM


def test_real_client_never_sees_ham_for_an_unscored_comment(app, ak, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(_):  # type: ignore[no-untyped-def]
        raise FloatingPointError("bad model")

    monkeypatch.setattr(app.extensions["spamguard"].holder.model, "score", boom)
    assert ak.comment_check(IP, comment_content=HAM) == akismet.CheckResponse.SPAM  # held: "true"


def test_real_client_feedback_is_recorded_against_the_stored_comment(ak, store) -> None:  # type: ignore[no-untyped-def]
    fields = {"comment_content": HAM, "comment_author": "Ann", "comment_author_email": "ann@example.org",
              "permalink": "https://blog.example.org/post/1", "user_agent": "Mozilla/5.0"}  # fmt: skip
    assert ak.comment_check(IP, **fields) == akismet.CheckResponse.HAM
    # Resent later without the user agent, as WordPress does: still the same comment.
    assert ak.submit_spam(IP, **{k: v for k, v in fields.items() if k != "user_agent"}) is True
    assert ak.submit_ham(IP, comment_content="A comment spamguard never saw", comment_author="Bo") is True
    spam, ham = store.list_feedback("blog")
    assert spam["label"] == "spam" and spam["source"] == "akismet"
    assert spam["comment_id"] == comment_id(to_record({**fields, "user_ip": IP}))
    assert store.get_comment("blog", spam["comment_id"]).record["content"] == HAM
    assert ham["label"] == "ham" and ham["comment_id"] is None
    assert ham["record"]["content"] == "A comment spamguard never saw" and ham["record"]["site"] == "blog"


def test_real_client_is_test_is_neither_stored_nor_learned(ak, store, client) -> None:  # type: ignore[no-untyped-def]
    assert ak.comment_check(IP, comment_content=SPAM, is_test=True) == akismet.CheckResponse.DISCARD
    assert ak.submit_ham(IP, comment_content=SPAM, is_test=True) is True
    assert store.count_comments() == 0 and store.list_feedback("blog") == []
    assert 'endpoint="/1.1/comment-check",site="blog"' not in client.get("/metrics").data.decode()


def test_real_client_revoked_key(ak, store, api_key) -> None:  # type: ignore[no-untyped-def]
    revoke_key(store, api_key[:10])
    with pytest.raises(akismet.APIKeyError):
        ak.comment_check(IP, comment_content=HAM)


@pytest.fixture
def server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`app` served over a real socket on a loopback port; yields its base URL."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(timeout=5)


def test_real_client_over_a_socket_with_the_documented_url_rewrite(api_key, server) -> None:  # type: ignore[no-untyped-def]
    base = httpx.URL(server)

    # The recipe of docs/akismet.md: rewrite rest.akismet.com to spamguard's base URL.
    def to_spamguard(request: httpx.Request) -> None:
        if request.url.host == "rest.akismet.com":
            request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
            request.headers["Host"] = request.url.netloc.decode("ascii")

    # Should the rewrite ever fail, this refuses the request instead of leaving the machine.
    refuse = httpx.MockTransport(lambda request: pytest.fail(f"request left for {request.url}"))
    with httpx.Client(event_hooks={"request": [to_spamguard]}, mounts={"all://rest.akismet.com": refuse},
                      timeout=10) as http:  # fmt: skip
        ak = akismet.SyncClient.validated_client(
            config=akismet.Config(key=api_key, url=BLOG), http_client=http
        )
        assert ak.comment_check(IP, comment_content=SPAM) == akismet.CheckResponse.DISCARD
        assert ak.submit_spam(IP, comment_content=SPAM) is True


# -- verify-key and keys ------------------------------------------------------------------------


def test_verify_key(client, api_key) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/1.1/verify-key", data={"key": api_key, "blog": BLOG})
    assert (r.status_code, r.text, r.mimetype) == (200, "valid", "text/plain")
    for data in ({"key": "sg_nope", "blog": BLOG}, {"blog": BLOG}, {"key": "", "blog": BLOG}):
        r = client.post("/1.1/verify-key", data=data)
        assert (r.status_code, r.text) == (200, "invalid")
        assert r.headers["X-akismet-debug-help"]


@pytest.mark.parametrize("where", ["api_key", "key", "bearer", "host"])
def test_every_place_a_key_can_be(client, api_key, where) -> None:  # type: ignore[no-untyped-def]
    data = {"blog": BLOG, "user_ip": IP, "comment_content": HAM}
    headers = {}
    if where in ("api_key", "key"):
        data[where] = api_key
    elif where == "bearer":
        headers["Authorization"] = f"Bearer {api_key}"
    else:  # Akismet's oldest style: https://KEY.rest.akismet.com/1.1/comment-check
        headers["Host"] = f"{api_key}.rest.akismet.com"
    r = check(client, data, headers=headers)
    assert r.text == "false", r.headers.get("X-akismet-debug-help")


def test_bearer_header_wins_over_a_placeholder_in_the_form(client, api_key) -> None:  # type: ignore[no-untyped-def]
    # How a proxy (or a WordPress must-use plugin) supplies the real key to a client that only
    # accepts Akismet-shaped keys: a placeholder in the form, the key in the header.
    r = check(client, {**form("placeholder1"), "comment_content": HAM},
              headers={"Authorization": f"Bearer {api_key}"})  # fmt: skip
    assert r.text == "false"


def test_bad_key_answers_invalid_with_help(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/1.1/comment-check", "/1.1/submit-spam", "/1.1/submit-ham"):
        r = client.post(path, data=form("sg_wrong", comment_content=HAM))
        assert (r.status_code, r.text) == (200, "invalid")
        assert "key" in r.headers["X-akismet-debug-help"]


def test_multi_site_key_picks_the_site_from_blog(client, store) -> None:  # type: ignore[no-untyped-def]
    key, _ = create_key(store, ["blog.example.org", "forum.example.org"])
    r = check(client, {**form(key), "blog": "https://www.forum.example.org/", "comment_content": HAM})
    assert r.text == "false"
    assert store.get_comment("forum.example.org", r.headers["X-akismet-guid"]) is not None
    r = check(client, {**form(key), "blog": "https://elsewhere.example/", "comment_content": HAM})
    assert r.text == "invalid" and "several sites" in r.headers["X-akismet-debug-help"]
    assert (
        client.post("/1.1/verify-key", data={"key": key, "blog": "https://elsewhere.example/"}).text
        == "invalid"
    )
    assert client.post("/1.1/verify-key", data={"key": key, "blog": "blog.example.org"}).text == "valid"


# -- comment-check: answers, headers, storage ----------------------------------------------------


def test_answer_headers_match_the_stored_decision(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    r = check(client, form(api_key, comment_content=SPAM))
    assert (r.status_code, r.text, r.mimetype) == (200, "true", "text/plain")
    stored = store.get_comment("blog", r.headers["X-akismet-guid"])
    assert stored.decision == r.headers["X-Spamguard-Decision"] == "reject"
    assert float(r.headers["X-Spamguard-Score"]) == pytest.approx(stored.score, abs=1e-6)
    assert r.headers["X-akismet-pro-tip"] == "discard"
    assert r.headers["X-Spamguard-Model-Version"] == stored.model_version
    r = check(client, form(api_key, comment_content=HAM))
    assert r.text == "false" and r.headers["X-Spamguard-Decision"] == "approve"
    assert "X-akismet-pro-tip" not in r.headers


def test_repeated_check_returns_the_stored_decision(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    first = check(client, form(api_key, comment_content=SPAM, user_agent="A"))
    again = check(client, form(api_key, comment_content=SPAM, user_agent="B", recheck_reason="edit"))
    assert again.headers["X-akismet-guid"] == first.headers["X-akismet-guid"]
    assert again.headers["X-Spamguard-Score"] == first.headers["X-Spamguard-Score"]
    assert store.count_comments() == 1
    other = check(client, form(api_key, comment_content=SPAM, comment_author="someone else"))
    assert other.headers["X-akismet-guid"] != first.headers["X-akismet-guid"]


def test_fields_map_to_the_record(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    data = {
        "api_key": api_key, "blog": BLOG, "blog_lang": "fr_CA, en_US", "blog_charset": "UTF-8",
        "comment_author_IP": "2001:db8::1", "comment_agent": "Mozilla/5.0 (X11)",
        "referrer": "https://search.example/?q=bread", "permalink": "https://blog.example.org/bread",
        "content_type": "forum-post", "comment_author": "Ann", "comment_author_email": "Ann@Example.org",
        "comment_author_url": "ann.example.org", "comment_content": HAM,
        "comment_date_gmt": "2026-11-20 18:56:05", "comment_post_ID": "42", "comment_parent": "7",
        "comment_post_modified_gmt": "2026-11-01 00:00:00", "POST_ak_js": "1700000000",
        "HTTP_ACCEPT_LANGUAGE": "fr", "REMOTE_ADDR": "10.0.0.1", "user_role": "subscriber",
    }  # fmt: skip
    r = check(client, data)
    assert r.text == "false", r.headers.get("X-akismet-debug-help")
    record = store.get_comment("blog", r.headers["X-akismet-guid"]).record
    assert record == {
        "content": HAM, "id": r.headers["X-akismet-guid"], "site": "blog", "author_name": "Ann",
        "author_email": "ann@example.org", "author_url": "http://ann.example.org",
        "author_ip": "2001:db8::1", "user_agent": "Mozilla/5.0 (X11)",
        "referrer": "https://search.example/?q=bread", "permalink": "https://blog.example.org/bread",
        "post_id": "42", "parent_id": "7", "comment_type": "forum-post", "language": "fr",
        "created_at": "2026-11-20T18:56:05+00:00",
    }  # fmt: skip


def test_akismet_names_win_over_wordpress_aliases(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    aliases = {"comment_author_IP": "198.51.100.1", "comment_agent": "alias", "content_type": "x"}
    r = check(client, form(api_key, comment_content=HAM, user_agent="UA", comment_type="reply",
                           comment_parent="0", **aliases))  # fmt: skip
    record = store.get_comment("blog", r.headers["X-akismet-guid"]).record
    assert (record["author_ip"], record["user_agent"], record["comment_type"]) == (IP, "UA", "reply")
    assert "parent_id" not in record  # WordPress sends 0 for a top-level comment


def test_missing_content_is_scored_as_empty(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    r = check(client, form(api_key, comment_type="pingback", comment_author_url="http://198.51.100.7/go"))
    assert r.text in ("true", "false")
    assert store.get_comment("blog", r.headers["X-akismet-guid"]).record["content"] == ""


@pytest.mark.parametrize("missing", ["blog", "user_ip"])
def test_missing_required_field(client, api_key, store, missing) -> None:  # type: ignore[no-untyped-def]
    for path in ("/1.1/comment-check", "/1.1/submit-spam"):
        data = form(api_key, comment_content=HAM)
        data[missing] = "  "
        r = client.post(path, data=data)
        assert (r.status_code, r.text) == (200, f"Missing required field: {missing}.")
        assert r.headers["X-akismet-debug-help"] == f'Empty "{missing}" value'
    assert store.count_comments() == 0 and store.list_feedback("blog") == []


def test_wordpress_ip_alias_satisfies_user_ip(client, api_key) -> None:  # type: ignore[no-untyped-def]
    data = form(api_key, comment_content=HAM, comment_author_IP=IP)
    del data["user_ip"]
    assert check(client, data).text == "false"


# -- Akismet's fixed answers, honeypots, never failing open --------------------------------------


def test_test_author_and_email_are_always_spam(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    for extra in ({"comment_author": "viagra-test-123"},
                  {"comment_author_email": "akismet-guaranteed-spam@example.com"}):  # fmt: skip
        r = check(client, form(api_key, comment_content=HAM, **extra))
        assert r.text == "true" and r.headers["X-akismet-pro-tip"] == "discard"
        stored = store.get_comment("blog", r.headers["X-akismet-guid"])
        assert stored.decision == "reject" and stored.reasons[0]["signal"] == "rule:akismet_test_spam"


def test_administrator_is_always_ham(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    r = check(client, form(api_key, comment_content=SPAM, user_role="editor,administrator"))
    assert r.text == "false" and r.headers["X-Spamguard-Decision"] == "approve"
    assert store.get_comment("blog", r.headers["X-akismet-guid"]).reasons[0]["signal"] == "rule:trusted_role"


def test_honeypot_field(client, api_key) -> None:  # type: ignore[no-untyped-def]
    r = check(client, form(api_key, comment_content=HAM, honeypot_field_name="hidden_trap", hidden_trap="x"))
    assert r.text == "true" and r.headers["X-Spamguard-Decision"] == "reject"
    r = check(client, form(api_key, comment_content=HAM, honeypot_field_name="hidden_trap", hidden_trap="",
                           comment_author="Ann"))  # fmt: skip
    assert r.text == "false"
    # WordPress's own hidden textarea, forwarded as POST_ak_hp_textarea.
    assert check(client, form(api_key, comment_content=HAM, POST_ak_hp_textarea="bot")).text == "true"


def test_the_key_is_never_read_as_a_honeypot(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    r = check(client, form(api_key, comment_content=HAM, honeypot_field_name="api_key"))
    assert r.text == "false"
    assert api_key not in str(store.get_comment("blog", r.headers["X-akismet-guid"]).record)


def test_no_model_answers_true_never_false(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(model=tmp_path / "empty-registry")
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    client = app.test_client()
    r = check(client, form(key, comment_content=HAM))
    assert r.text == "true" and r.headers["X-Spamguard-Decision"] == "hold"
    assert "X-akismet-pro-tip" not in r.headers
    # Akismet's fixed answers need no model.
    assert check(client, form(key, comment_content=SPAM, user_role="administrator")).text == "false"
    assert check(client, form(key, comment_content=SPAM, comment_author="viagra-test-123")).text == "true"


def test_store_failure_is_503_not_an_answer(app, client, api_key, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard.store import StoreError

    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StoreError("disk I/O error")

    def no_space() -> int:
        raise OSError(28, "No space left on device")

    st = app.extensions["spamguard"]
    monkeypatch.setattr(st.store, "insert_comment", fail)
    monkeypatch.setattr(st.spool, "_active", no_space)  # the store alone down is spooled (test_spool.py)
    r = check(client, form(api_key, comment_content=HAM))
    assert r.status_code == 503 and r.headers["Retry-After"]


def test_rate_limit(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit=2)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    client = app.test_client()
    codes = [check(client, form(key, comment_content=HAM)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# -- submit-spam / submit-ham --------------------------------------------------------------------


def test_feedback_by_guid(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    guid = check(client, form(api_key, comment_content=SPAM)).headers["X-akismet-guid"]
    r = client.post("/1.1/submit-ham", data=form(api_key, guid=guid, comment_content="edited since"))
    assert (r.status_code, r.text) == (200, THANKS)
    (label,) = store.list_feedback("blog")
    assert (label["comment_id"], label["label"], label["record"]["content"]) == (guid, "ham", SPAM)


def test_feedback_with_nothing_to_learn_is_thanked_not_stored(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/1.1/submit-spam", data=form(api_key, guid="akismet-unknown"))
    assert r.text == THANKS and store.list_feedback("blog") == []


def test_metrics_count_akismet_decisions(client, api_key) -> None:  # type: ignore[no-untyped-def]
    check(client, form(api_key, comment_content=SPAM))
    check(client, form(api_key, comment_content=HAM, is_test="1"))
    text = client.get("/metrics").data.decode()
    counted = 'decision="reject",endpoint="/1.1/comment-check",site="blog",status="200"} 1.0'
    assert f"spamguard_requests_total{{{counted}" in text
    assert (
        'spamguard_requests_total{decision="",endpoint="/1.1/comment-check",site="",status="200"} 1.0' in text
    )
    assert "spamguard_store_write_seconds_count 1.0" in text


# -- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"comment_content=%ff%fe%ED%A0%80caf%E9&user_ip=1.2.3.4&blog=x",
        b"comment_content=a%00b&comment_author=%00&user_ip=%00&blog=%00",
        b"comment_content=" + b"x" * 5000 + b"&comment_author=" + b"y" * 5000 + b"&user_ip=1&blog=b",
        b"&&&===&user_ip=%&blog=%%&comment_content=%",
        b"user_ip=1&blog=b&honeypot_field_name=honeypot_field_name",
        b"user_ip=1&blog=b&comment_date_gmt=9999-12-31T23:59:59-12:00&comment_parent=" + b"9" * 3000,
        b"user_ip=not-an-ip&blog=::::&comment_author_url=ht!tp:/// bad&comment_author_email=@@",
        b"user_ip=1&blog=b&" + b"&".join(b"f%d=v" % i for i in range(900)),
    ],
)
def test_hostile_forms_never_fail(client, api_key, body) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/1.1/comment-check", data=body, content_type="application/x-www-form-urlencoded",
                    headers={"Authorization": f"Bearer {api_key}"})  # fmt: skip
    assert r.status_code == 200 and r.text in ("true", "false"), (r.status_code, r.data[:200])


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"comment_content": "x", "user_ip": "1", "blog": "b"}'),
        ("text/plain", b"hello"),
        ("multipart/form-data; boundary=x", b"--x\r\nbroken"),
        (None, b""),
    ],
)
def test_bodies_that_are_not_forms_get_akismet_errors(client, api_key, content_type, body) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/1.1/comment-check", data=body, content_type=content_type,
                    headers={"Authorization": f"Bearer {api_key}"})  # fmt: skip
    assert r.status_code == 200 and r.text.startswith("Missing required field"), r.data[:200]


def test_body_over_the_limit_is_413(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_body_bytes=4096)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    client = app.test_client()
    assert check(client, form(key, comment_content="x" * 10_000)).status_code == 413
    assert check(client, form(key, comment_content="x" * 3_000)).status_code == 200


def streamed(client, body: bytes, content_type: str):  # type: ignore[no-untyped-def]
    """POST `body` to comment-check chunked, without a Content-Length, as gunicorn passes it on."""
    return client.post(
        "/1.1/comment-check", input_stream=io.BytesIO(body), content_type=content_type,
        headers={"Transfer-Encoding": "chunked"}, environ_base={"wsgi.input_terminated": True},
    )  # fmt: skip


def test_a_streamed_body_over_the_limit_is_413_not_cut_short(make_app) -> None:  # type: ignore[no-untyped-def]
    # Werkzeug's form parser stops at the limit of a chunked body without saying so: the spam tail
    # after the padding would go unscored and the comment approved.
    app = make_app(max_body_bytes=4096)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    client = app.test_client()
    url_encoded = urlencode(
        form(key, comment_content=HAM + " " * 5000 + "CHEAP CASINO http://bit.ly/x")
    ).encode()
    boundary = b"--x\r\nContent-Disposition: form-data; name="
    multipart = (
        boundary + b'"api_key"\r\n\r\n' + key.encode() + b"\r\n" + boundary + b'"comment_content"\r\n\r\n'
    )
    multipart += b"a" * 5000 + b"\r\n--x--\r\n"
    for body, content_type in [
        (url_encoded, "application/x-www-form-urlencoded"),
        (url_encoded, "application/x-www-form-urlencoded; charset=iso-8859-1"),
        (multipart, "multipart/form-data; boundary=x"),
    ]:
        r = streamed(client, body, content_type)
        assert r.status_code == 413, (content_type, r.data[:200])
        assert r.json["error"] == {
            "code": "payload_too_large",
            "message": "the body is over 4096 bytes",
            "field": None,
        }
    # Within the limit, a streamed form is read whole.
    small = urlencode(form(key, comment_content=HAM)).encode()
    r = streamed(client, small, "application/x-www-form-urlencoded")
    assert r.status_code == 200 and r.text == "false"


def test_a_compressed_body_is_415(client, api_key) -> None:  # type: ignore[no-untyped-def]
    r = check(client, form(api_key, comment_content=HAM), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 415 and "uncompressed" in r.json["error"]["message"]
    assert (
        check(client, form(api_key, comment_content=HAM), headers={"Content-Encoding": "identity"}).text
        == "false"
    )


def test_many_fields_are_read_within_the_body_limit(client, api_key) -> None:  # type: ignore[no-untyped-def]
    fields = {f"HTTP_X_{i}": "v" for i in range(5000)}
    assert check(client, form(api_key, comment_content=HAM, **fields)).text == "false"


def test_legacy_charset_is_decoded(client, api_key, store) -> None:  # type: ignore[no-untyped-def]
    body = f"api_key={api_key}&blog=b&user_ip=1.2.3.4&comment_content=caf%E9+cr%E8me".encode()
    r = client.post("/1.1/comment-check", data=body,
                    content_type="application/x-www-form-urlencoded; charset=ISO-8859-1")  # fmt: skip
    assert r.status_code == 200
    assert store.get_comment("blog", r.headers["X-akismet-guid"]).record["content"] == "café crème"
    r = client.post("/1.1/comment-check", data=body,
                    content_type="application/x-www-form-urlencoded; charset=no-such-charset")  # fmt: skip
    assert r.status_code == 200 and r.text in ("true", "false")


def test_wrong_method_is_405(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/1.1/comment-check").status_code == 405


NAMES = sorted({
    "comment_content", "comment_author", "comment_author_email", "comment_author_url", "user_ip",
    "comment_author_IP", "user_agent", "referrer", "permalink", "comment_type", "content_type",
    "comment_date_gmt", "comment_parent", "comment_post_ID", "blog_lang", "user_role", "is_test",
    "honeypot_field_name", "recheck_reason", "guid", "blog", "anything",
})  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(fields=st.dictionaries(st.sampled_from(NAMES), st.text(max_size=80)))
@example(fields={"user_ip": "0", "blog": "0", "guid": "\x00"})  # once a 400 on PostgreSQL
def test_any_form_gets_an_akismet_answer(client, api_key, fields) -> None:  # type: ignore[no-untyped-def]
    for path in ("/1.1/comment-check", "/1.1/submit-spam"):
        r = client.post(path, data=fields, headers={"Authorization": f"Bearer {api_key}"})
        assert r.status_code == 200, r.data[:300]
        assert r.text in ("true", "false", THANKS, "invalid") or r.text.startswith("Missing required field")
