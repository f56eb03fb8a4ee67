"""The moderation web UI (/moderate) through Flask's test client: login, CSRF, deciding, filters, escaping."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from spamguard import moderation_store as ms
from spamguard.moderate import CSP, defang
from spamguard.moderators import add_moderator
from spamguard.policy import HOLD, Reason, Verdict

PASSWORD = "correct horse battery"
HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">"><svg onload=alert(1)>'


def hold(store: Any, site: str, cid: str, score: float = 0.6, **record: str) -> int:
    """Store a held comment and return its primary key."""
    reasons = [Reason("link:shortener", 1.9, "bit.ly"), Reason("ident:known_author", -0.7, "")]
    record = {"content": f"comment {cid}", **record}
    assert store.insert_comment(site, cid, {"id": cid, "site": site, **record},
                                Verdict(HOLD, score, reasons, "v1", cid))  # fmt: skip
    found = ms.get_by_id(store, site, cid)
    assert found is not None
    return found.pk


def csrf_of(html: bytes) -> str:
    match = re.search(rb'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1).decode()


@pytest.fixture
def ui_app(make_app: Callable[..., Any]) -> Any:
    app = make_app()
    add_moderator(app.extensions["spamguard"].store, "alice", PASSWORD)
    add_moderator(app.extensions["spamguard"].store, "bob", PASSWORD)
    return app


@pytest.fixture
def st(ui_app: Any) -> Any:
    return ui_app.extensions["spamguard"].store


def login(client: Any, name: str = "alice", password: str = PASSWORD) -> Any:
    token = csrf_of(client.get("/moderate/login").data)
    return client.post("/moderate/login", data={"name": name, "password": password, "csrf_token": token})


@pytest.fixture
def ui(ui_app: Any) -> Any:
    """A test client logged in as alice."""
    client = ui_app.test_client()
    assert login(client).status_code == 302
    return client


def page_token(client: Any, path: str = "/moderate/") -> str:
    return csrf_of(client.get(path).data)


# -- login, logout, sessions -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/moderate/", "/moderate/recent", "/moderate/audit"])
def test_pages_need_a_login(ui_app: Any, path: str) -> None:
    r = ui_app.test_client().get(path)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/moderate/login?next=")


def test_login_and_logout(ui_app: Any, st: Any) -> None:
    hold(st, "blog", "c1")
    client = ui_app.test_client()
    r = login(client)
    assert r.status_code == 302 and r.headers["Location"] == "/moderate/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # plain HTTP, SPAMGUARD_SECURE_COOKIES off
    page = client.get("/moderate/")
    assert page.status_code == 200 and b"comment c1" in page.data and b"alice" in page.data
    r = client.post("/moderate/logout", data={"csrf_token": csrf_of(page.data)})
    assert r.status_code == 302 and r.headers["Location"] == "/moderate/login"
    assert client.get("/moderate/").status_code == 302


def test_login_goes_back_to_the_page_asked_for(ui_app: Any) -> None:
    client = ui_app.test_client()
    r = client.get("/moderate/audit")
    token = csrf_of(client.get(r.headers["Location"]).data)
    r = client.post("/moderate/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token,
                                             "next": "/moderate/audit?before=9"})  # fmt: skip
    assert r.headers["Location"] == "/moderate/audit?before=9"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "/moderate\\@evil", "javascript:alert(1)", "/score"])  # fmt: skip
def test_login_never_redirects_off_site(ui_app: Any, target: str) -> None:
    client = ui_app.test_client()
    token = csrf_of(client.get("/moderate/login").data)
    r = client.post("/moderate/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token,
                                             "next": target})  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"] == "/moderate/"


@pytest.mark.parametrize(
    ("name", "password"),
    [("alice", "wrong password"), ("nobody", PASSWORD), ("alice", ""), ("", ""), ("a" * 5000, "x" * 5000)],
)
def test_wrong_name_or_password(ui_app: Any, name: str, password: str) -> None:
    client = ui_app.test_client()
    r = login(client, name, password)
    assert r.status_code == 401
    assert b"Wrong name or password" in r.data
    assert client.get("/moderate/").status_code == 302


def test_removed_moderator_is_logged_out(ui: Any, st: Any) -> None:
    from spamguard.moderators import remove_moderator

    assert ui.get("/moderate/").status_code == 200
    remove_moderator(st, "alice")
    r = ui.get("/moderate/")
    assert r.status_code == 302 and "/moderate/login" in r.headers["Location"]


def test_session_expires(make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    add_moderator(app.extensions["spamguard"].store, "alice", PASSWORD)
    client = app.test_client()
    assert login(client).status_code == 302
    assert client.get("/moderate/").status_code == 200
    lifetime = app.permanent_session_lifetime.total_seconds()
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + lifetime + 1)
    r = client.get("/moderate/")
    assert r.status_code == 302 and "/moderate/login" in r.headers["Location"]
    monkeypatch.setattr(time, "time", lambda: start + lifetime - 5)
    assert client.get("/moderate/").status_code == 200


def test_session_cookie_is_secure_over_https(ui_app: Any) -> None:
    client = ui_app.test_client()
    token = csrf_of(client.get("/moderate/login", base_url="https://localhost").data)
    r = client.post("/moderate/login", base_url="https://localhost",
                    data={"name": "alice", "password": PASSWORD, "csrf_token": token})  # fmt: skip
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]


# -- CSRF --------------------------------------------------------------------------------------------


def test_login_needs_csrf(ui_app: Any) -> None:
    client = ui_app.test_client()
    client.get("/moderate/login")
    r = client.post("/moderate/login", data={"name": "alice", "password": PASSWORD})
    assert r.status_code == 400 and b"CSRF token is missing" in r.data
    assert client.get("/moderate/").status_code == 302


@pytest.mark.parametrize("token", [None, "", "forged", "IjAxMjM0NTY3ODki.aaaa.bbbb"])
def test_decide_without_a_valid_csrf_token_is_400(ui: Any, st: Any, token: str | None) -> None:
    pk = hold(st, "blog", "c1")
    data = {"one": f"{pk}:spam:held"}
    if token is not None:
        data["csrf_token"] = token
    r = ui.post("/moderate/decide", data=data)
    assert r.status_code == 400
    assert r.headers["Content-Security-Policy"] == CSP
    assert ms.get_by_pk(st, pk).status == "held"


def test_csrf_token_of_another_session_is_refused(ui_app: Any, ui: Any, st: Any) -> None:
    pk = hold(st, "blog", "c1")
    other = ui_app.test_client()
    login(other, "bob")
    r = ui.post("/moderate/decide", data={"one": f"{pk}:spam:held", "csrf_token": page_token(other)})
    assert r.status_code == 400 and ms.get_by_pk(st, pk).status == "held"


def test_logout_needs_csrf(ui: Any) -> None:
    assert ui.post("/moderate/logout").status_code == 400
    assert ui.get("/moderate/").status_code == 200


def test_post_without_a_session_goes_to_login(ui_app: Any, st: Any) -> None:
    pk = hold(st, "blog", "c1")
    r = ui_app.test_client().post("/moderate/decide", data={"one": f"{pk}:spam:held"})
    assert r.status_code == 302 and "/moderate/login" in r.headers["Location"]
    assert ms.get_by_pk(st, pk).status == "held"


# -- deciding ----------------------------------------------------------------------------------------


def test_approve_and_spam_one(ui: Any, st: Any) -> None:
    a, b = hold(st, "blog", "c1"), hold(st, "blog", "c2")
    token = page_token(ui)
    r = ui.post("/moderate/decide", data={"one": f"{a}:ham:held", "csrf_token": token, "back": "/moderate/",
                                          "next": str(b)})  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"] == f"/moderate/#c-{b}"
    r = ui.post(
        "/moderate/decide", data={"one": f"{b}:spam:held", "csrf_token": token}, follow_redirects=True
    )
    assert b"Marked spam 1 comment." in r.data
    got = ms.get_by_pk(st, a), ms.get_by_pk(st, b)
    assert (got[0].status, got[0].verdict, got[0].decided_by) == ("approved", "ham", "alice")
    assert (got[1].status, got[1].verdict) == ("rejected", "spam")
    assert b"Nothing held" in ui.get("/moderate/").data


def test_bulk(ui: Any, st: Any) -> None:
    pks = [hold(st, "blog", f"c{i}") for i in range(5)]
    r = ui.post("/moderate/decide", data={"bulk": "spam", "ids": [str(p) for p in pks[:3]],
                                          "csrf_token": page_token(ui)}, follow_redirects=True)  # fmt: skip
    assert b"Marked spam 3 comments." in r.data
    assert [ms.get_by_pk(st, p).status for p in pks] == ["rejected"] * 3 + ["held"] * 2
    r = ui.post("/moderate/decide", data={"bulk": "ham", "csrf_token": page_token(ui)}, follow_redirects=True)
    assert b"Select comments first" in r.data


def test_item_button_decides_only_its_item(ui: Any, st: Any) -> None:
    a, b = hold(st, "blog", "c1"), hold(st, "blog", "c2")
    ui.post("/moderate/decide", data={"one": f"{a}:ham:held", "ids": [str(a), str(b)],
                                      "csrf_token": page_token(ui)})  # fmt: skip
    assert ms.get_by_pk(st, a).status == "approved" and ms.get_by_pk(st, b).status == "held"


def test_conflict_shows_the_winners_verdict(ui_app: Any, ui: Any, st: Any) -> None:
    pk = hold(st, "blog", "c1")
    token = page_token(ui)  # alice has the queue open ...
    bob = ui_app.test_client()
    login(bob, "bob")
    bob.post(
        "/moderate/decide", data={"one": f"{pk}:spam:held", "csrf_token": page_token(bob)}
    )  # ... bob wins
    r = ui.post(
        "/moderate/decide", data={"one": f"{pk}:ham:held", "csrf_token": token}, follow_redirects=True
    )
    assert b"Someone was quicker: bob marked spam comment c1 on blog" in r.data
    got = ms.get_by_pk(st, pk)
    assert (got.status, got.decided_by) == ("rejected", "bob")


def test_correct_a_decision_from_recent(ui: Any, st: Any) -> None:
    pk = hold(st, "blog", "c1")
    ui.post("/moderate/decide", data={"one": f"{pk}:spam:held", "csrf_token": page_token(ui)})
    page = ui.get("/moderate/recent")
    assert f'value="{pk}:ham:rejected"'.encode() in page.data and b"Approve instead" in page.data
    ui.post("/moderate/decide", data={"one": f"{pk}:ham:rejected", "csrf_token": csrf_of(page.data)})
    assert ms.get_by_pk(st, pk).status == "approved"
    audit = ui.get("/moderate/audit").data.decode()
    rows = re.findall(r"<tr><td>.*?</tr>", audit)
    assert len(rows) == 2 and "ham" in rows[0] and "rejected" in rows[0] and "spam" in rows[1]
    assert all("alice" in row and "c1" in row for row in rows)


@pytest.mark.parametrize("one", ["x:ham:held", "1:maybe:held", "1:ham:gone", "1", "99999999999999999999:ham"])
def test_bad_decisions_are_400(ui: Any, one: str) -> None:
    r = ui.post("/moderate/decide", data={"one": one, "csrf_token": page_token(ui)})
    assert r.status_code == 400


def test_unknown_comment(ui: Any) -> None:
    r = ui.post("/moderate/decide", data={"one": "4242:ham:held", "csrf_token": page_token(ui)},
                follow_redirects=True)  # fmt: skip
    assert b"Comment 4242 no longer exists." in r.data


# -- the queue page ------------------------------------------------------------------------------


def test_queue_oldest_first_with_counts_per_site(ui: Any, st: Any) -> None:
    for i in range(3):
        hold(st, "blog", f"b{i}")
    hold(st, "shop", "s0")
    html = ui.get("/moderate/").data.decode()
    order = [html.index(f"comment {cid}") for cid in ("b0", "b1", "b2", "s0")]
    assert order == sorted(order)
    assert re.search(r">blog</a> <span class=\"n\">3</span>", html)
    assert re.search(r">shop</a> <span class=\"n\">1</span>", html)
    assert "Held (4)" in html


def test_filters_and_search(ui: Any, st: Any) -> None:
    hold(st, "blog", "b1", content="cheap pills here")
    hold(st, "shop", "s1", content="nice shoes", author_name="Zelda")
    st.insert_comment("blog", "b2", {"content": "other reason"},
                      Verdict(HOLD, 0.5, [Reason("content:money", 1.0, "$$$")], "v1", "b2"))  # fmt: skip
    shown = lambda html: sorted(re.findall(r"comment (\w\d)|(other reason)", html.decode()))  # noqa: E731
    assert b"nice shoes" in ui.get("/moderate/?site=shop").data
    assert b"cheap pills" not in ui.get("/moderate/?site=shop").data
    page = ui.get("/moderate/?reason=content:money").data
    assert b"other reason" in page and b"cheap pills" not in page
    page = ui.get("/moderate/?q=zelda").data
    assert b"nice shoes" in page and b"cheap pills" not in page and b"other reason" not in page
    assert b"Nothing held matches" in ui.get("/moderate/?q=no-such-thing").data
    assert shown(ui.get("/moderate/").data)


def test_paging(ui: Any, st: Any) -> None:
    for i in range(5):
        hold(st, "blog", f"p{i}")
    page = ui.get("/moderate/?limit=2").data.decode()
    assert "comment p0" in page and "comment p1" in page and "comment p2" not in page
    cursor = re.search(r"cursor=(\d+)", page).group(1)
    page = ui.get(f"/moderate/?limit=2&cursor={cursor}").data.decode()
    assert "comment p2" in page and "comment p3" in page and "comment p1" not in page
    assert ui.get("/moderate/?cursor=abc").status_code == 400
    assert ui.get("/moderate/?limit=-1").status_code == 400


def test_item_shows_reasons_highlighted_and_links_defanged(ui: Any, st: Any) -> None:
    content = 'Visit http://bit.ly/x9z or <a href="https://evil.example.com/p?q=1">my blog</a>'
    hold(st, "blog", "c1", content=content, author_url="https://spam.example.org/me", author_email="x@e.org")
    html = ui.get("/moderate/").data.decode()
    assert 'class="spamward"' in html and 'class="hamward"' in html
    assert "link:shortener: bit.ly" in html and "+1.90" in html and "-0.70" in html
    assert "hxxp://bit[.]ly/x9z" in html
    assert "hxxps://evil[.]example[.]com/p?q=1" in html and "shown as “my blog”" in html
    assert "hxxps://spam[.]example[.]org/me" in html
    assert 'href="http' not in html and 'href="https://evil' not in html


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://example.com/a.b", "hxxp://example[.]com/a.b"),
        ("HTTPS://Example.com", "hxxps://Example[.]com"),
        ("www.example.com/x", "www[.]example[.]com/x"),
        ("javascript:alert(1)", "javascript[:]alert(1)"),
        ("data:text/html;base64,PHN", "data[:]text/html;base64,PHN"),
        ("ftp://1.2.3.4:21/f", "ftp[:]//1[.]2[.]3[.]4:21/f"),
        ("http://a.b?c.d", "hxxp://a[.]b?c.d"),
        ("http://\u202eexample.com", "hxxp://[U+202E]example[.]com"),
    ],
)
def test_defang(url: str, shown: str) -> None:
    assert defang(url) == shown


# -- hostile input and headers -------------------------------------------------------------------


def test_hostile_fields_are_escaped(ui: Any, st: Any) -> None:
    st.insert_comment(
        HOSTILE, "x1",
        {"content": HOSTILE, "author_name": HOSTILE, "author_email": HOSTILE, "author_ip": HOSTILE,
         "author_url": "javascript:" + HOSTILE, "comment_type": HOSTILE},
        Verdict(HOLD, 0.5, [Reason(HOSTILE, 1.0, HOSTILE), Reason("x", -1.0, HOSTILE)], "v1", "x1"),
    )  # fmt: skip
    for path in ("/moderate/", "/moderate/?site=" + HOSTILE, "/moderate/?q=" + HOSTILE):
        html = ui.get(path).data.decode()
        assert "<script>window" not in html and "<img src=x" not in html and "<svg" not in html
        assert 'onerror="window' not in html
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "javascript[:]" in ui.get("/moderate/").data.decode()
    pk = ms.get_by_id(st, HOSTILE, "x1").pk
    ui.post("/moderate/decide", data={"one": f"{pk}:spam:held", "csrf_token": page_token(ui)})
    for path in ("/moderate/recent", "/moderate/audit"):
        html = ui.get(path).data.decode()
        assert "<script>window" not in html and "&lt;script&gt;" in html


def test_security_headers_on_every_moderate_response(ui_app: Any, ui: Any) -> None:
    anonymous = ui_app.test_client()
    for client, path in [(anonymous, "/moderate/login"), (anonymous, "/moderate/"), (ui, "/moderate/"),
                         (ui, "/moderate/recent"), (ui, "/moderate/audit"), (ui, "/moderate/no-such-page"),
                         (ui, "/static/moderate.js"), (ui, "/static/moderate.css")]:  # fmt: skip
        r = client.get(path)
        r.close()  # a static file's response holds the file open
        assert r.headers["Content-Security-Policy"] == CSP, path
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["Referrer-Policy"] == "no-referrer", path
    assert ui.get("/moderate/").headers["Cache-Control"] == "no-store"
    with ui.get("/static/moderate.js") as r:
        assert r.content_type.startswith(("text/javascript", "application/javascript"))


def test_pages_have_no_inline_script_or_style(ui: Any, st: Any) -> None:
    hold(st, "blog", "c1")
    for path in ("/moderate/", "/moderate/recent", "/moderate/audit", "/moderate/login"):
        html = ui.get(path).data.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html and " on" + "click=" not in html, path
