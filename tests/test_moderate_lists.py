"""Allow and deny lists in the moderation web UI: view, add, remove, CSRF, errors as sentences, escaping."""
# ruff: noqa: F811 (the ui and ui_app fixtures come from test_moderate_ui)

from __future__ import annotations

from typing import Any

import pytest

from spamguard import lists, site_policy
from tests.test_moderate_ui import csrf_of, login, page_token, ui, ui_app  # noqa: F401

HOSTILE = '<script>window.__xss=1</script>"><img src=x onerror=alert(1)>'


@pytest.fixture(autouse=True)
def _fresh_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site_policy, "CONFIG_CHECK_S", 0.0)


def add(client: Any, site: str, kind: str, value: str) -> Any:
    token = page_token(client, f"/moderate/lists/?site={site}")
    return client.post(
        "/moderate/lists/add", data={"csrf_token": token, "site": site, "kind": kind, "value": value}
    )


def test_lists_page_needs_a_login(ui_app: Any) -> None:
    r = ui_app.test_client().get("/moderate/lists/?site=blog")
    assert r.status_code == 302 and "/moderate/login" in r.headers["Location"]
    r = ui_app.test_client().post(
        "/moderate/lists/add", data={"site": "blog", "kind": "deny-ip", "value": "1.2.3.4"}
    )
    assert r.status_code == 302 and lists.entries(ui_app.extensions["spamguard"].store, "blog") == []


def test_add_and_remove_entries(ui: Any, ui_app: Any) -> None:
    st = ui_app.extensions["spamguard"].store
    r = add(ui, "blog", "deny-domain", "*.Cheap-Deals.xyz")
    assert r.status_code == 302 and r.headers["Location"] == "/moderate/lists/?site=blog"
    assert add(ui, "blog", "allow-ip", "203.0.113.0/24").status_code == 302
    assert [(e.action, e.kind, e.value) for e in lists.entries(st, "blog")] == [
        ("deny", "domain", "cheap-deals.xyz"), ("allow", "ip", "203.0.113.0/24")]  # fmt: skip
    page = ui.get("/moderate/lists/?site=blog").data.decode()
    assert "Added allow-ip “203.0.113.0/24” to blog." in page
    assert "cheap-deals.xyz" in page and "203.0.113.0/24" in page
    # Applied without a restart: the cached lists of this worker see the change.
    assert site_policy.config(st, "blog").lists.domains == {"cheap-deals.xyz": "deny"}
    token = csrf_of(page.encode())
    r = ui.post("/moderate/lists/remove", data={"csrf_token": token, "site": "blog", "kind": "deny-domain",
                                                "value": "cheap-deals.xyz"})  # fmt: skip
    assert r.status_code == 302
    assert [e.kind for e in lists.entries(st, "blog")] == ["ip"]
    assert site_policy.config(st, "blog").lists.domains == {}
    page = ui.get("/moderate/lists/?site=blog").data.decode()
    assert "Removed deny-domain “cheap-deals.xyz” from blog." in page
    r = ui.post("/moderate/lists/remove", data={"csrf_token": token, "site": "blog", "kind": "deny-domain",
                                                "value": "cheap-deals.xyz"})  # fmt: skip
    assert "blog has no deny-domain entry" in ui.get(r.headers["Location"]).data.decode()


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("deny-email", "not-an-address", "Not an e-mail address: 'not-an-address'"),
        ("deny-ip", "300.1.2.3", "Not an IP address or CIDR network: '300.1.2.3'."),
        ("deny-regex", "(a+)+$", "Nested quantifiers like (a+)+ can take exponential time: not allowed."),
        ("deny-domain", "", "A domain entry has 1 to 200 characters."),
        ("deny-colour", "red", "Unknown list kind 'deny-colour': use one of allow-email"),
    ],
)
def test_invalid_entries_are_shown_as_sentences(
    ui: Any, ui_app: Any, kind: str, value: str, message: str
) -> None:
    r = add(ui, "blog", kind, value)
    assert r.status_code == 400
    page = r.data.decode()
    assert message.replace("'", "&#39;") in page
    assert lists.entries(ui_app.extensions["spamguard"].store, "blog") == []


def test_values_are_escaped(ui: Any) -> None:
    assert add(ui, "blog", "deny-keyword", HOSTILE).status_code == 302
    r = add(ui, "blog", "deny-email", HOSTILE)  # refused, and shown back escaped
    for page in (ui.get("/moderate/lists/?site=blog").data.decode(), r.data.decode()):
        assert "<script>window.__xss" not in page and "<img src=x" not in page
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page


@pytest.mark.parametrize("token", [None, "forged"])
def test_changes_need_csrf(ui: Any, ui_app: Any, token: str | None) -> None:
    st = ui_app.extensions["spamguard"].store
    lists.add(st, "blog", "deny", "ip", "192.0.2.1")
    for path, kind in (("/moderate/lists/add", "deny-ip"), ("/moderate/lists/remove", "deny-ip")):
        data = {"site": "blog", "kind": kind, "value": "192.0.2.9" if path.endswith("add") else "192.0.2.1"}
        if token:
            data["csrf_token"] = token
        assert ui.post(path, data=data).status_code == 400
    assert [e.value for e in lists.entries(st, "blog")] == ["192.0.2.1/32"]


@pytest.mark.parametrize("site", ["", "bad site", "<script>", "x" * 300])
def test_bad_site_names_are_400(ui: Any, site: str) -> None:
    token = page_token(ui, "/moderate/lists/")
    r = ui.post(
        "/moderate/lists/add", data={"csrf_token": token, "site": site, "kind": "deny-ip", "value": "1.2.3.4"}
    )
    assert r.status_code == 400 and b"<script>" not in r.data
    if site:
        assert ui.get("/moderate/lists/", query_string={"site": site}).status_code == 400
