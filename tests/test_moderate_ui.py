"""The moderation web UI (/moderate) through Flask's test client: login, CSRF, deciding, filters, escaping."""

from __future__ import annotations

import html
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


def test_search_reads_the_text_in_any_case(ui: Any, st: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hold(st, "blog", "u1", content="Über ÄPFEL")
    hold(st, "blog", "g1", content="ΣΟΦΙΑ")
    hold(st, "blog", "q1", content='he said "hello there"', author_name="Zoë")
    hold(st, "blog", "p1", content="C:\\Users\\bob")
    found = lambda q: re.findall(r'id="c-\d+"', ui.get("/moderate/", query_string={"q": q}).data.decode())  # noqa: E731
    for q, n in [("über", 1), ("äpfel", 1), ("σοφια", 1), ('"hello there"', 1), ("ZOË", 1),
                 ("C:\\Users", 1), ("content", 0), ('"site"', 0), ("blog", 0)]:  # fmt: skip
        assert len(found(q)) == n, q
    assert "Über ÄPFEL" in ui.get("/moderate/?q=%C3%BCber").data.decode()
    monkeypatch.setattr(ms, "MAX_SEARCH_SCAN", 2)  # no match among the 2 read: said so, and where to go on
    page = ui.get("/moderate/", query_string={"q": "c:\\users"}).data.decode()
    assert "No match in the 2 held comments searched" in page and not found("c:\\users")
    # The empty page still links on, past the comments searched.
    next_page = html.unescape(re.search(r'<p class="pager"><a href="([^"]+)">Next page', page).group(1))
    assert "C:\\Users\\bob" in ui.get(next_page).data.decode()


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


# -- where a login or a decision goes back to ------------------------------------------------------

# Each falls back to the held queue: a CR/LF cannot go into a Location header, the rest leave /moderate.
OFF_MODERATE = [
    "/moderate/\r\nX: 1", "/moderate/\nX: 1", "/moderate?\x00", "/moderate/\tx", "/moderate/\x85",
    "/moderate/%0D%0AX:1", "/moderate/../../evil", "/moderate/%2e%2e/%2E%2E/evil", "/moderate/.%2e/score",
    "/moderate/..%2f..%2fevil", "/moderatefoo", "/moderate-evil", "/moderate/%5c%5cevil.example",
    "/moderate/..", "/moderate?\\@evil",
]  # fmt: skip
ON_MODERATE = ["/moderate", "/moderate?site=blog", "/moderate/recent?site=blog", "/moderate/?q=a..b",
               "/moderate/audit?before=9", "/moderate/lists/?site=blog"]  # fmt: skip


@pytest.mark.parametrize("target", OFF_MODERATE + ON_MODERATE)
def test_login_goes_back_only_to_a_moderate_page(ui_app: Any, ui: Any, target: str) -> None:
    expected = target if target in ON_MODERATE else "/moderate/"
    r = ui.get("/moderate/login", query_string={"next": target})  # logged in already
    assert r.status_code == 302 and r.headers["Location"] == expected
    client = ui_app.test_client()
    token = csrf_of(client.get("/moderate/login").data)
    r = client.post("/moderate/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token,
                                             "next": target})  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"] == expected


def test_login_page_with_a_newline_in_next(ui_app: Any) -> None:
    html = ui_app.test_client().get("/moderate/login?next=%2Fmoderate%2F%0D%0AX:1").data
    assert b'name="next" value="/moderate/"' in html


def test_decision_with_a_newline_in_back_is_decided_and_goes_to_the_queue(ui: Any, st: Any) -> None:
    a, b = hold(st, "blog", "c1"), hold(st, "blog", "c2")
    token = page_token(ui)
    r = ui.post("/moderate/decide", data={"one": f"{a}:spam:held", "csrf_token": token,
                                          "back": "/moderate/\r\nX: y", "next": str(b)})  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"] == f"/moderate/#c-{b}"
    assert ms.get_by_pk(st, a).status == "rejected"
    r = ui.post("/moderate/decide", data={"one": f"{b}:ham:held", "csrf_token": token,
                                          "back": "/moderate/../../evil", "next": "\u00b2"})  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"] == "/moderate/"


def test_campaign_decision_with_a_newline_in_back(ui: Any, st: Any) -> None:
    text = "Make five thousand dollars a week from home with this one simple trick, visit my profile {}"
    pks = [hold(st, "blog", f"p{i}", content=text.format("!" * i)) for i in range(3)]
    data = {"campaign": str(pks[0]), "members": [str(p) for p in pks], "verdict": "spam",
            "csrf_token": page_token(ui), "back": f"/moderate/?campaign={pks[0]}\r\nX: y"}  # fmt: skip
    r = ui.post("/moderate/campaign", data=data)
    assert r.status_code == 302 and r.headers["Location"] == "/moderate/"
    assert [ms.get_by_pk(st, p).status for p in pks] == ["rejected"] * 3


# -- numbers too big for the database ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/moderate/?cursor=99999999999999999999999", "/moderate/?cursor=9223372036854775808",
        "/moderate/?cursor=%C2%B2", "/moderate/?cursor=+1", "/moderate/?limit=99999999999999999999999",
        "/moderate/?limit=%C2%B2", "/moderate/recent?before=99999999999999999999999",
        "/moderate/recent?before=%C2%B2", "/moderate/audit?before=99999999999999999999999",
        "/moderate/audit?before=%C2%B2",
    ],
)  # fmt: skip
def test_huge_or_odd_numbers_are_a_bad_parameter(ui: Any, path: str) -> None:
    r = ui.get(path)
    assert r.status_code == 400 and b"Bad request" in r.data, path
    assert r.headers["Content-Security-Policy"] == CSP


def test_largest_cursor_is_an_empty_page(ui: Any, st: Any) -> None:
    hold(st, "blog", "c1")
    r = ui.get("/moderate/?cursor=9223372036854775807")
    assert r.status_code == 200 and b"comment c1" not in r.data


@pytest.mark.parametrize(
    "data",
    [{"one": "99999999999999999999999:ham:held"}, {"one": "\u00b2:ham:held"},
     {"bulk": "ham", "ids": "\u00b2"},
     {"bulk": "spam", "ids": "99999999999999999999999"},
     {"verdict": "spam", "campaign": "99999999999999999999999"},
     {"verdict": "spam", "campaign": "\u00b2"}, {"verdict": "spam", "campaign": "1", "members": "\u00b2"}],
)  # fmt: skip
def test_huge_or_odd_numbers_in_forms_are_400(ui: Any, data: dict[str, str]) -> None:
    path = "/moderate/campaign" if "verdict" in data else "/moderate/decide"
    assert ui.post(path, data={**data, "csrf_token": page_token(ui)}).status_code == 400


# -- sessions belong to the moderator's row and password ---------------------------------------------


def test_adding_a_removed_moderator_again_does_not_revive_old_sessions(ui: Any, st: Any) -> None:
    from spamguard.moderators import remove_moderator

    assert ui.get("/moderate/").status_code == 200
    remove_moderator(st, "alice")
    add_moderator(st, "alice", "a brand new password")
    r = ui.get("/moderate/")
    assert r.status_code == 302 and "/moderate/login" in r.headers["Location"]
    assert login(ui, "alice", "a brand new password").status_code == 302
    assert ui.get("/moderate/").status_code == 200


def test_a_new_password_ends_existing_sessions(ui_app: Any, ui: Any, st: Any) -> None:
    from spamguard.moderators import set_password

    pk = hold(st, "blog", "c1")
    token = page_token(ui)
    bob = ui_app.test_client()
    assert login(bob, "bob").status_code == 302
    set_password(st, "alice", "another good password")
    r = ui.post("/moderate/decide", data={"one": f"{pk}:spam:held", "csrf_token": token})
    assert r.status_code == 302 and "/moderate/login" in r.headers["Location"]
    assert ms.get_by_pk(st, pk).status == "held"
    assert ui.get("/moderate/").status_code == 302
    assert bob.get("/moderate/").status_code == 200  # only alice's sessions end
    assert login(ui, "alice", PASSWORD).status_code == 401
    assert login(ui, "alice", "another good password").status_code == 302


def test_session_cookie_holds_a_fingerprint_never_the_password_hash(ui_app: Any, ui: Any, st: Any) -> None:
    from spamguard import moderators as mo

    cookie = ui.get_cookie("spamguard_session").value
    data = ui_app.session_interface.get_signing_serializer(ui_app).loads(cookie)
    row = st.execute("SELECT id, password_hash FROM moderators WHERE name = 'alice'").fetchone()
    assert data[mo.SESSION_ID_KEY] == row[0]
    assert data[mo.SESSION_FINGERPRINT_KEY] == mo.session_fingerprint(row[1])
    assert not any(part in str(data) for part in row[1].split("$")[-2:])  # neither salt nor digest


def test_a_session_of_a_name_alone_is_not_logged_in(ui_app: Any) -> None:
    from spamguard import moderators as mo

    client = ui_app.test_client()
    with client.session_transaction() as session:
        session[mo.SESSION_KEY] = "alice"
        session["login_at"] = time.time()
        session[mo.SESSION_ID_KEY] = 1
        session[mo.SESSION_FINGERPRINT_KEY] = "forged\u00e9"
    r = client.get("/moderate/")
    assert r.status_code == 302 and "/moderate/login" in r.headers["Location"]


# -- bidirectional overrides in every field -----------------------------------------------------------


def shown_text(html: bytes) -> str:
    """Return a page without its form values (a site's raw name stays in its filter's option value)."""
    return re.sub(r'<(?:option|input type="hidden")[^>]* value="[^"]*"', "<", html.decode())


def test_bidi_overrides_are_shown_in_every_field(ui_app: Any, ui: Any, st: Any) -> None:
    rlo, site = "\u202e", "bl\u202eog"
    text = "Make five thousand dollars a week from home with this one simple trick, visit my profile {}"
    fields = {"comment_type": "t\u202eype", "author_name": "n\u202eame", "author_email": "e\u202e@x.org",
              "author_url": "http://u\u202erl.example/", "author_ip": "1.2.3.\u202e4"}  # fmt: skip
    pks = []
    for i in range(2):
        cid = f"bidi\u202egpj.exe-{i}"
        reasons = [Reason("link:\u202eshort", 1.9, "d\u2066etail"), Reason("ident:\u2067x", -0.5, "")]
        record = {"id": cid, "site": site, "content": text.format("!" * i) + rlo, **fields}
        st.insert_comment(site, cid, record, Verdict(HOLD, 0.6, reasons, "v1", cid))
        pks.append(ms.get_by_id(st, site, cid).pk)
    paths = ["/moderate/", f"/moderate/?campaign={pks[0]}", "/moderate/?site=" + site]
    for path in paths:
        html = shown_text(ui.get(path).data)
        assert rlo not in html and "\u2066" not in html and "\u2067" not in html, path
        assert "[U+202E]" in html, path
    html = ui.get(f"/moderate/?campaign={pks[0]}").data.decode()
    for shown in ("bidi[U+202E]gpj.exe-0", "t[U+202E]ype", "bl[U+202E]og", "n[U+202E]ame", "e[U+202E]@x.org",
                  "1.2.3.[U+202E]4", "link:[U+202E]short", "d[U+2066]etail", "ident:[U+2067]x"):  # fmt: skip
        assert shown in html, shown
    # bob decides the first; alice's late click is a conflict whose message names the comment.
    bob = ui_app.test_client()
    login(bob, "bob")
    token = page_token(ui)
    bob.post("/moderate/decide", data={"one": f"{pks[0]}:spam:held", "csrf_token": page_token(bob)})
    r = ui.post("/moderate/decide", data={"one": f"{pks[0]}:ham:held", "csrf_token": token},
                follow_redirects=True)  # fmt: skip
    assert "comment bidi[U+202E]gpj.exe-0 on bl[U+202E]og" in r.data.decode()
    for path in ("/moderate/recent", "/moderate/audit"):
        html = shown_text(ui.get(path).data)
        assert rlo not in html and "bidi[U+202E]gpj.exe-0" in html and "bl[U+202E]og" in html, path
    assert "t[U+202E]ype" in ui.get("/moderate/recent").data.decode()
