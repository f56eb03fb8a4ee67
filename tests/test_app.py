"""The HTTP API through Flask's test client: every endpoint and every client error."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from spamguard.keys import create_key, revoke_key

SPAM = {"content": "Buy cheap viagra now at http://bit.ly/x9z best price!!!"}
HAM = {"content": "Thanks for the sourdough write-up, it helped me fix my setup.", "author_name": "Ann"}


def error_of(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "field"} <= set(body["error"])
    return body["error"]


# -- POST /score: answers -----------------------------------------------------------------------


def test_score_answers_the_contract(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", json={**SPAM, "id": "wp-1"}, headers=auth)
    assert r.status_code == 200
    body = r.get_json()
    assert list(body) == ["id", "decision", "score", "reasons", "model_version", "elapsed_ms"]
    assert body["id"] == "wp-1"
    assert body["decision"] == "reject" and body["score"] > 0.5
    assert body["model_version"]
    assert body["elapsed_ms"] > 0
    weights = [r["weight"] for r in body["reasons"] if r["weight"] > 0]
    assert weights == sorted(weights, reverse=True), "spam-ward reasons come first"
    assert any(r["signal"].startswith("link:") for r in body["reasons"])


def test_ham_is_approved(client, auth) -> None:  # type: ignore[no-untyped-def]
    body = client.post("/score", json=HAM, headers=auth).get_json()
    assert body["decision"] == "approve"


def test_record_without_id_gets_one(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    body = client.post("/score", json=HAM, headers=auth).get_json()
    assert body["id"] and len(body["id"]) >= 16
    stored = store.get_comment("blog", body["id"])
    assert stored is not None and stored.record["content"] == HAM["content"]


def test_every_scored_comment_is_stored(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    body = client.post(
        "/score", json={**SPAM, "id": "s1", "author_ip": "203.0.113.9"}, headers=auth
    ).get_json()
    stored = store.get_comment("blog", "s1")
    assert stored.decision == body["decision"] and stored.status == "rejected"
    assert stored.score == body["score"] and stored.reasons == body["reasons"]
    assert stored.model_version == body["model_version"]
    assert set(stored.thresholds) == {"approve_below", "reject_at"}
    assert stored.record["author_ip"] == "203.0.113.9" and stored.record["site"] == "blog"


def test_same_id_returns_the_stored_decision(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    first = client.post("/score", json={**SPAM, "id": "dup"}, headers=auth).get_json()
    again = client.post("/score", json={**HAM, "id": "dup"}, headers=auth).get_json()
    for field in ("id", "decision", "score", "reasons", "model_version"):
        assert again[field] == first[field]
    assert store.count_comments() == 1


def test_numeric_id(client, auth) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/score", json={**HAM, "id": 123}, headers=auth).get_json()["id"] == "123"


def test_honeypot_rejects(client, auth) -> None:  # type: ignore[no-untyped-def]
    body = client.post("/score", json={**HAM, "honeypot": "x"}, headers=auth).get_json()
    assert body["decision"] == "reject"
    assert body["reasons"][0]["signal"] == "rule:honeypot_filled"


@pytest.mark.parametrize(
    "odd",
    [
        {"author_ip": "999.1.1.1"},
        {"ip": "not an ip"},
        {"author_url": "ht!tp:/// bad"},
        {"author_email": "@@nope"},
        {"created_at": "yesterday-ish"},
        {"created_at": "2026-13-45T99:00:00Z"},
        {"time_on_page_ms": "soon"},
        {"time_on_page_ms": -5},
        {"language": "x" * 100},
        {"unknown_field": {"deep": [1, 2, 3]}},
        {"author_name": "x" * 5000},
        {"content": ""},
        {"content": "\u0000\u202e<script>alert(1)</script>"},
    ],
)
def test_odd_values_are_unknown_not_errors(client, auth, odd) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", json={**HAM, **odd}, headers=auth)
    assert r.status_code == 200, r.get_json()


def test_lone_surrogate_is_replaced(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    body = b'{"id": "sur", "content": "bad \\ud800 half", "author_name": "\\udfff"}'
    r = client.post("/score", data=body, content_type="application/json", headers=auth)
    assert r.status_code == 200
    assert store.get_comment("blog", "sur").record["content"] == "bad ? half"


@pytest.mark.parametrize("field", ["id", "site"])
def test_an_identifier_with_a_lone_surrogate_is_refused(client, auth, store, field) -> None:  # type: ignore[no-untyped-def]
    # As "?" the ids x\udc00 and x\udc01 would be one comment: the second would get the first's answer.
    for n, surrogate in enumerate(("\\udc00", "\\udc01")):
        body = f'{{"id": "x{n}", "{field}": "x{surrogate}", "content": "hello"}}'.encode()
        r = client.post("/score", data=body, content_type="application/json", headers=auth)
        assert r.status_code == 400, r.get_json()
        assert r.get_json()["error"]["code"] == "invalid_record" and r.get_json()["error"]["field"] == field
    assert store.get_comment("blog", "x?") is None


@pytest.mark.parametrize("field", ["id", "site"])
def test_an_identifier_over_the_index_limit_is_refused(client, auth, store, field) -> None:  # type: ignore[no-untyped-def]
    # 2,000 CJK characters: under 2,048 characters, 6,000 bytes. PostgreSQL's index cannot hold it, and
    # it was answered 200, then lost from the spool (tests/test_postgres.py -k index).
    r = client.post("/score", json={"id": "x", field: "漢" * 2000, "content": "hello"}, headers=auth)
    assert r.status_code == 400, r.get_json()
    assert error_of(r)["code"] == "invalid_record" and error_of(r)["field"] == field
    assert store.count_comments() == 0


def test_nul_in_content_is_replaced_on_every_store(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", json={"id": "nul", "content": "bad \x00 byte"}, headers=auth)
    assert r.status_code == 200, r.get_json()  # PostgreSQL takes no NUL: it once was a 400 there only
    assert store.get_comment("blog", "nul").record["content"] == "bad \ufffd byte"


def test_site_from_record_or_key(client, store) -> None:  # type: ignore[no-untyped-def]
    key, _ = create_key(store, ["a", "b"])
    auth = {"Authorization": f"Bearer {key}"}
    assert client.post("/score", json={**HAM, "id": "1", "site": "b"}, headers=auth).status_code == 200
    assert store.get_comment("b", "1") is not None
    r = client.post("/score", json={**HAM, "id": "2"}, headers=auth)
    assert r.status_code == 400 and error_of(r)["field"] == "site"


def test_key_for_another_site_is_forbidden(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", json={**HAM, "site": "someone-else"}, headers=auth)
    assert r.status_code == 403
    assert error_of(r) == {"code": "forbidden", "message": "this key does not serve site 'someone-else'",
                           "field": "site"}  # fmt: skip


# -- POST /score: client errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwdw=="},
     {"Authorization": "Bearer sg_wrong"}, {"Authorization": "Bearer " + "x" * 5000},
     {"Authorization": "Bearer \xe9\xff"}],
)  # fmt: skip
def test_missing_or_bad_key_is_401(client, headers) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", json=HAM, headers=headers)
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"
    assert "Bearer" in r.headers["WWW-Authenticate"]


def test_revoked_key_is_401(client, store, api_key, auth) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/score", json=HAM, headers=auth).status_code == 200
    revoke_key(store, api_key[:10])
    assert client.post("/score", json=HAM, headers=auth).status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty_body"),
        (b"   ", "empty_body"),
        (b"{", "malformed_json"),
        (b"{'content': 'single quotes'}", "malformed_json"),
        (b'{"content": NaN}', "malformed_json"),
        (b'{"content": "x"} trailing', "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"just a string"', "not_an_object"),
        (b"null", "not_an_object"),
        (b"42", "not_an_object"),
        (b'{"content": "caf\xe9"}', "invalid_utf8"),
        (b"\xff\xfe{\x00}\x00", "invalid_utf8"),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "too_deep"),
        (b'{"content": "x", "n": ' + b"9" * 5000 + b"}", "malformed_json"),
    ],
)
def test_unreadable_bodies_are_400(client, auth, body, code) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", data=body, content_type="application/json", headers=auth)
    assert r.status_code == 400, r.data[:200]
    assert error_of(r)["code"] == code


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({}, "content"),
        ({"content": None}, "content"),
        ({"content": 5}, "content"),
        ({"content": ["a"]}, "content"),
        ({"content": {"text": "a"}}, "content"),
        ({"content": "x", "author_name": 5}, "author_name"),
        ({"content": "x", "id": ["a"]}, "id"),
        ({"content": "x", "id": "x" * 5000}, "id"),
        ({"content": "x", "site": True}, "site"),
        ({"content": "x", "time_on_page_ms": [1]}, "time_on_page_ms"),
    ],
)
def test_wrong_types_are_400_naming_the_field(client, auth, record, field) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", json=record, headers=auth)
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "invalid_record" and err["field"] == field


def test_bom_is_tolerated(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", data="\ufeff" + json.dumps(HAM), content_type="application/json", headers=auth)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/json; charset=latin-1"],
)  # fmt: skip
def test_not_json_is_415(client, auth, content_type) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/score", data=json.dumps(HAM), content_type=content_type, headers=auth)
    assert r.status_code == 415
    assert error_of(r)["code"] == "unsupported_media_type"


def test_json_variants_are_accepted(client, auth) -> None:  # type: ignore[no-untyped-def]
    for ct in ("application/json; charset=UTF-8", "application/vnd.blog+json"):
        assert client.post("/score", data=json.dumps(HAM), content_type=ct, headers=auth).status_code == 200


def test_body_over_limit_is_413(make_app, store) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_body_bytes=2048)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    r = client.post("/score", json={"content": "x" * 4000}, headers=auth)
    assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large"

    # A streamed (chunked) body without Content-Length is cut off at the limit too.
    stream = io.BytesIO(b'{"content": "' + b"x" * 10_000 + b'"}')
    r = client.post(
        "/score",
        input_stream=stream,
        content_type="application/json",
        headers={**auth, "Transfer-Encoding": "chunked"},
        environ_base={"wsgi.input_terminated": True},
    )
    assert r.status_code == 413
    assert client.post("/score", json={"content": "x" * 1000}, headers=auth).status_code == 200


def test_body_shorter_than_its_content_length_is_400(client, auth) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(HAM).encode()
    r = client.post("/score", input_stream=io.BytesIO(body), content_type="application/json", headers=auth,
                    environ_overrides={"CONTENT_LENGTH": str(len(body) + 10)})  # fmt: skip
    assert r.status_code == 400 and r.is_json


def test_rate_limit_is_429_with_retry_after(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit=3)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    other, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    client = app.test_client()
    codes = [
        client.post("/score", json=HAM, headers={"Authorization": f"Bearer {key}"}).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    r = client.post("/score", json=HAM, headers={"Authorization": f"Bearer {key}"})
    assert error_of(r)["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 20
    assert client.post("/score", json=HAM, headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_unknown_path_is_404_and_wrong_method_405(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/nope")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.get("/score", headers=auth)
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"
    assert "POST" in r.headers["Allow"]
    assert client.delete("/healthz").status_code == 405


# -- never fail open ----------------------------------------------------------------------------


def test_no_model_holds_and_says_why(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(model=tmp_path / "empty-registry")
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    client = app.test_client()
    body = client.post("/score", json=HAM, headers={"Authorization": f"Bearer {key}"}).get_json()
    assert body["decision"] == "hold" and body["model_version"] is None
    assert body["reasons"][0]["signal"] == "system:unscored"
    honeypot = client.post(
        "/score", json={**HAM, "honeypot": "1"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert honeypot.get_json()["decision"] == "reject"
    r = client.get("/readyz")
    assert r.status_code == 503 and "model" in error_of(r)["message"]
    assert r.headers["Retry-After"] == "5"
    assert b'spamguard_unscored_total{why="no_model"} 2.0' in client.get("/metrics").data


def test_scoring_failure_holds(app, client, auth, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = app.extensions["spamguard"].holder.model

    def boom(_):  # type: ignore[no-untyped-def]
        raise FloatingPointError("bad model")

    monkeypatch.setattr(model, "score", boom)
    r = client.post("/score", json=SPAM, headers=auth)
    body = r.get_json()
    assert r.status_code == 200 and body["decision"] == "hold"
    assert body["model_version"] == model.version
    assert b'spamguard_unscored_total{why="score_error"} 1.0' in client.get("/metrics").data


def test_store_and_spool_failure_is_503(app, client, auth, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard.store import StoreError

    st = app.extensions["spamguard"]
    st.keys.lookup(auth["Authorization"].split()[1])

    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StoreError("disk I/O error")

    monkeypatch.setattr(st.store, "insert_comment", fail)
    r = client.post("/score", json=HAM, headers=auth)
    assert r.status_code == 200, "a store failure alone is spooled (tests/test_spool.py)"

    def no_space() -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(st.spool, "_active", no_space)
    r = client.post("/score", json=SPAM, headers=auth)
    assert r.status_code == 503 and error_of(r)["code"] == "store_unavailable"
    assert r.headers["Retry-After"]


# -- health, metrics, OpenAPI -------------------------------------------------------------------


def test_healthz_and_readyz(client, app) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json()["model_version"] == app.extensions["spamguard"].holder.model.version


def test_readyz_without_store(app, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard.store import StoreError

    def down() -> None:
        raise StoreError("unable to open database file")

    st = app.extensions["spamguard"]
    monkeypatch.setattr(st.store, "ping", down)
    r = client.get("/readyz")  # the spool takes the writes: still ready, degraded
    assert r.status_code == 200 and r.get_json()["store"] == "degraded"
    assert r.get_json()["store_error"] == "unable to open database file"
    monkeypatch.setattr(st.spool, "writable", lambda: False)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert error_of(r)["missing"] == ["store: unable to open database file"]


def test_metrics(client, auth, app) -> None:  # type: ignore[no-untyped-def]
    client.post("/score", json=SPAM, headers=auth)
    client.post("/score", json=HAM, headers=auth)
    client.post("/score", json=HAM)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    text = r.data.decode()
    version = app.extensions["spamguard"].holder.model.version
    for line in [
        'spamguard_requests_total{decision="reject",endpoint="/score",site="blog",status="200"} 1.0',
        'spamguard_requests_total{decision="approve",endpoint="/score",site="blog",status="200"} 1.0',
        'spamguard_requests_total{decision="",endpoint="/score",site="",status="401"} 1.0',
        'spamguard_request_seconds_count{endpoint="/score"} 3.0',
        "spamguard_store_write_seconds_count 2.0",
        "spamguard_score_seconds_count 2.0",
        f'spamguard_model_version_info{{version="{version}"}} 1.0',
        'spamguard_model_reloads_total{outcome="loaded"} 1.0',
        "spamguard_latency_budget_seconds 0.05",
        "spamguard_over_budget_total",
    ]:
        assert line in text, line


def test_scanner_paths_do_not_grow_metric_labels(client) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        client.get(f"/wp-admin/{i}.php")
    text = client.get("/metrics").data.decode()
    assert "wp-admin" not in text
    assert 'endpoint="unmatched",site="",status="404"} 5.0' in text


def test_openapi_lists_every_endpoint(app, client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        # The moderation web UI's HTML pages (docs/moderation.md) are not API operations.
        if rule.endpoint != "static" and not rule.endpoint.startswith("moderate.")
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented


def test_docs_cover_every_endpoint(app) -> None:  # type: ignore[no-untyped-def]
    docs = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            assert f"`{sorted(rule.methods - {'HEAD', 'OPTIONS'})[0]} {path}`" in docs, rule.rule
            assert f"{path}" in docs and "curl" in docs


def readme_curl_lines() -> list[str]:
    """The curl commands of the README's "HTTP API at a glance" block, continuation lines joined."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## HTTP API at a glance", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.startswith("curl ")]


def test_every_readme_curl_example_works(make_app) -> None:  # type: ignore[no-untyped-def]
    """The README's one-curl-per-endpoint block: every endpoint is there, and every line answers 200."""
    from curl_lines import run_curl
    from test_campaigns import PITCH, hold

    from spamguard.moderators import add_moderator, create_token

    app = make_app()
    st = app.extensions["spamguard"].store
    key, _ = create_key(st, ["blog"])
    add_moderator(st, "ann", "a long enough password 1")
    env = {"KEY": key, "MOD": create_token(st, "ann")}
    # The state the examples assume: comment 1 held, comment 2 the first of a held campaign.
    assert [hold(st, "blog", f"p{i}", PITCH.format("!" * i), f"bot{i}") for i in range(4)] == [1, 2, 3, 4]
    lines = readme_curl_lines()
    client = app.test_client()
    for line in lines:
        r = run_curl(client, line, env)
        assert r.status_code == 200, (line, r.data[:300])
        if "/1.1/" in line:
            assert r.text in ("valid", "true", "false", "Thanks for making the web a better place."), line
    routes = {re.sub(r"<(?:\w+:)?\w+>", "", rule.rule) for rule in app.url_map.iter_rules()}
    shown = "\n".join(lines)
    missing = [r for r in routes if not r.startswith(("/static", "/moderate")) and f"8000{r}" not in shown]
    assert not missing, f"the README has no curl example for {missing}"
    assert st.get_comment("blog", "p0").status == "rejected", "the moderation example decided comment 1"
