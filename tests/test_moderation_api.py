"""The moderation JSON API and the platform's status and feedback endpoints, on both databases."""

from __future__ import annotations

import threading
from urllib.parse import quote

import pytest

from spamguard import moderation_store as ms
from spamguard import moderators as mo
from spamguard.policy import Reason, Thresholds, Verdict

pytestmark = pytest.mark.usefixtures("cheap_scrypt")


def verdict(decision: str = "hold", signal: str = "link:shortener") -> Verdict:
    return Verdict(decision, 0.6, [Reason(signal, 1.5, "x")], "v1", "c1", Thresholds(0.2, 0.9))


def hold(store, site: str, cid: str, content: str = "hello", signal: str = "link:shortener") -> int:  # type: ignore[no-untyped-def]
    store.insert_comment(site, cid, {"id": cid, "site": site, "content": content}, verdict("hold", signal))
    return ms.get_by_id(store, site, cid).pk


@pytest.fixture
def mod2(store) -> dict[str, str]:  # type: ignore[no-untyped-def]
    mo.add_moderator(store, "bo", "password-bo")
    return {"Authorization": f"Bearer {mo.create_token(store, 'bo')}"}


# -- authentication ---------------------------------------------------------------------------------


def test_moderation_needs_a_moderator(client, auth, mod) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/moderation/queue").status_code == 401
    assert client.get("/moderation/queue", headers={"Authorization": "Bearer sgm_nope"}).status_code == 401
    assert client.get("/moderation/queue", headers={"Authorization": "Bearer junk"}).status_code == 401
    r = client.get("/moderation/queue", headers=auth)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    assert client.post("/moderation/1", json={"verdict": "ham"}, headers=auth).status_code == 403
    assert client.get("/moderation/queue", headers=mod).status_code == 200


def test_moderator_token_is_not_a_site_key(client, mod) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/score", json={"content": "hi"}, headers=mod).status_code == 401
    assert client.get("/comments/x", headers=mod).status_code == 401
    assert client.post("/feedback", json={"id": "x", "label": "spam"}, headers=mod).status_code == 401


def test_session_login_works_and_removal_ends_it(client, store) -> None:  # type: ignore[no-untyped-def]
    mo.add_moderator(store, "cy", "password-cy")
    with client.session_transaction() as session:
        mo.start_session(session, mo.verify_password(store, "cy", "password-cy"))
    assert client.get("/moderation/queue").status_code == 200
    mo.remove_moderator(store, "cy")
    assert client.get("/moderation/queue").status_code == 401


def test_session_ends_when_the_moderator_is_added_again_or_changes_password(client, store) -> None:  # type: ignore[no-untyped-def]
    mo.add_moderator(store, "cy", "password-cy")

    def logged_in() -> object:
        c = client.application.test_client()
        with c.session_transaction() as session:
            mo.start_session(session, mo.verify_password(store, "cy", "password-cy"))
        assert c.get("/moderation/queue").status_code == 200
        return c

    old = logged_in()
    mo.remove_moderator(store, "cy")
    mo.add_moderator(store, "cy", "password-cy")  # even the same password: a new hash
    assert old.get("/moderation/queue").status_code == 401
    old = logged_in()
    mo.set_password(store, "cy", "password-cy-2")
    assert old.get("/moderation/queue").status_code == 401
    # A session of a name alone (as sessions were before) is no login either.
    with client.session_transaction() as session:
        session[mo.SESSION_KEY] = "cy"
    assert client.get("/moderation/queue").status_code == 401


def test_secret_key_is_made_once_and_kept(app, settings) -> None:  # type: ignore[no-untyped-def]
    path = settings.home / "secret_key"
    assert app.config["SECRET_KEY"] == path.read_text().strip() and len(app.config["SECRET_KEY"]) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    from spamguard.app import secret_key

    assert secret_key(settings.home) == app.config["SECRET_KEY"]


# -- the queue -------------------------------------------------------------------------------------


def test_queue_pages_oldest_first_without_repeats(client, store, mod) -> None:  # type: ignore[no-untyped-def]
    pks = [hold(store, "blog", f"c{i}") for i in range(7)]
    store.insert_comment("blog", "fine", {"content": "ok"}, verdict("approve"))
    seen, cursor, pages = [], None, 0
    while True:
        url = "/moderation/queue?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=mod).get_json()
        seen += [i["pk"] for i in body["items"]]
        pages += 1
        if pages == 1:
            # Deciding what was shown, and new arrivals, do not disturb the pages to come.
            client.post(f"/moderation/{seen[0]}", json={"verdict": "spam"}, headers=mod)
            pks.append(hold(store, "blog", "late"))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == pks and pages == 3
    item = client.get("/moderation/queue?limit=1", headers=mod).get_json()["items"][0]
    assert item["status"] == "held" and item["record"]["content"] == "hello"
    assert item["reasons"][0]["signal"] == "link:shortener" and item["score"] == 0.6


def test_queue_filters(client, store, mod) -> None:  # type: ignore[no-untyped-def]
    hold(store, "blog", "a", "Cheap PILLS here")
    hold(store, "blog", "b", "100% natural_stuff", signal="rule:honeypot_filled")
    hold(store, "shop", "c", "cheap pills again")

    def ids(query: str) -> list[str]:
        return [i["id"] for i in client.get("/moderation/queue?" + query, headers=mod).get_json()["items"]]

    assert ids("site=shop") == ["c"]
    assert ids("q=cheap%20pills") == ["a", "c"]
    assert ids("q=100%25") == ["b"] and ids("q=n_t") == []  # LIKE wildcards are literal
    assert ids("reason=rule:") == ["b"] and ids("reason=link:shortener") == ["a", "c"]
    assert ids("site=blog&reason=link:") == ["a"]
    assert ids("site=nowhere") == []


# Held texts a search must find as typed: non-ASCII in any case, quotes, control characters, a backslash.
TEXTS = {
    "uml": "Über ÄPFEL und Birnen",
    "greek": "ΣΟΦΙΑ και γνώση",
    "quote": 'he said "hello there" and left',
    "newline": "first line here\nsecond line",
    "path": "look in C:\\Users\\bob for it",
    "tab": "a\tb",
}


def held_texts(store) -> None:  # type: ignore[no-untyped-def]
    for cid, text in TEXTS.items():
        hold(store, "blog", cid, text)
    store.insert_comment("blog", "author", {"id": "author", "site": "blog", "content": "plain words",
                         "author_name": "Zoë Straße", "author_email": "ZOE@Example.org",
                         "author_url": "https://zoe.example/Ünïcode"}, verdict())  # fmt: skip


@pytest.mark.parametrize(
    "q, found",
    [("über", ["uml"]), ("Über", ["uml"]), ("ÄPFEL", ["uml"]), ("äpfel", ["uml"]), ("apfel", []),
     ("σοφια", ["greek"]), ("ΣΟΦΙΑ", ["greek"]), ("σοφία", []), ("ΓΝΏΣΗ", ["greek"]),
     ('"hello there"', ["quote"]), ("here\nsecond", ["newline"]), ("C:\\Users", ["path"]), ("\t", ["tab"]),
     ("content", []), ('"site"', []), ("blog", []), ("author", []), ("u00dc", []), ("\\n", []),
     ("zoë", ["author"]), ("STRASSE", ["author"]), ("zoe@example", ["author"]), ("ünïcode", ["author"]),
     ("a%b", []), ("a_b", []), ("%", []), ("e", ["uml", "quote", "newline", "path", "author"])],
)  # fmt: skip
def test_queue_search_reads_the_text_in_any_case(client, store, mod, q: str, found: list[str]) -> None:  # type: ignore[no-untyped-def]
    held_texts(store)
    r = client.get("/moderation/queue?q=" + quote(q), headers=mod)
    assert r.status_code == 200 and [i["id"] for i in r.get_json()["items"]] == found


def test_queue_search_pages_and_stops_at_its_bound(client, store, mod, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pks = [hold(store, "blog", f"c{i}", "Grüße" if i % 4 == 0 else "nothing") for i in range(13)]
    monkeypatch.setattr(ms, "SEARCH_BATCH", 2)
    pages, cursor = [], ""
    while cursor is not None:  # pages of 2, in batches of 2
        body = client.get(f"/moderation/queue?q=GR%C3%9CSSE&limit=2&cursor={cursor}", headers=mod).get_json()
        pages.append([i["pk"] for i in body["items"]])
        cursor = body["next_cursor"]
    assert pages == [[pks[0], pks[4]], [pks[8], pks[12]]]
    monkeypatch.setattr(ms, "MAX_SEARCH_SCAN", 3)  # a page reads at most 3: short pages, then on
    pages, cursors, cursor = [], [], ""
    while cursor is not None and len(pages) < 10:
        body = client.get(f"/moderation/queue?q=gr%C3%BCsse&cursor={cursor}", headers=mod).get_json()
        pages.append([i["pk"] for i in body["items"]])
        cursor = body["next_cursor"]
        cursors.append(cursor)
    assert pages == [[pks[0]], [pks[4]], [pks[8]], [], [pks[12]]]  # an empty page, then on
    assert cursors == [str(pks[2]), str(pks[5]), str(pks[8]), str(pks[11]), None]


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "cursor=abc", "cursor=-1"])
def test_queue_bad_paging(client, mod, query: str) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/moderation/queue?" + query, headers=mod)
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("query", "field"),
    [("cursor=9223372036854775808", "cursor"), ("cursor=99999999999999999999999", "cursor"),
     ("cursor=%C2%B2", "cursor"), ("cursor=+5", "cursor"), ("cursor=" + "9" * 5000, "cursor"),
     ("limit=99999999999999999999999", "limit"), ("limit=" + "9" * 5000, "limit")],
)  # fmt: skip
def test_queue_huge_numbers_are_400(client, mod, query: str, field: str) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/moderation/queue?" + query, headers=mod)
    error = r.get_json()["error"]
    assert r.status_code == 400 and error["code"] == "bad_request" and error["field"] == field
    assert f"'{field}' must be" in error["message"]


def test_queue_largest_cursor_is_the_end(client, store, mod) -> None:  # type: ignore[no-untyped-def]
    hold(store, "blog", "a")
    r = client.get("/moderation/queue?cursor=9223372036854775807", headers=mod)
    assert r.status_code == 200 and r.get_json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("path", ["/moderation/99999999999999999999999", "/moderation/9223372036854775808",
                                  "/moderation/campaigns/99999999999999999999999"])  # fmt: skip
def test_huge_pks_are_not_found(client, mod, path: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post(path, json={"verdict": "spam"}, headers=mod)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


# -- verdicts --------------------------------------------------------------------------------------


def test_verdicts_set_status_and_audit(client, store, mod) -> None:  # type: ignore[no-untyped-def]
    a, b = hold(store, "blog", "a"), hold(store, "blog", "b")
    r = client.post(f"/moderation/{a}", json={"verdict": "ham"}, headers=mod)
    assert r.status_code == 200
    assert (r.get_json()["status"], r.get_json()["verdict"], r.get_json()["decided_by"]) == (
        "approved",
        "ham",
        "ann",
    )
    assert (
        client.post(f"/moderation/{b}", json={"verdict": "spam"}, headers=mod).get_json()["status"]
        == "rejected"
    )
    trail = ms.audit(store)
    assert [(e.comment_id, e.verdict, e.moderator, e.previous_status, e.status) for e in trail] == [
        ("b", "spam", "ann", "held", "rejected"), ("a", "ham", "ann", "held", "approved")]  # fmt: skip
    assert ms.counts_by_site(store) == {"blog": {"held": 0, "approved": 1, "rejected": 1}}
    assert [c.comment_id for c in ms.decided(store)] == ["b", "a"]


def test_second_moderator_gets_409_with_the_winners_verdict(client, store, mod, mod2) -> None:  # type: ignore[no-untyped-def]
    pk = hold(store, "blog", "x")
    assert client.post(f"/moderation/{pk}", json={"verdict": "spam"}, headers=mod).status_code == 200
    r = client.post(f"/moderation/{pk}", json={"verdict": "ham"}, headers=mod2)
    assert r.status_code == 409
    error = r.get_json()["error"]
    assert (error["code"], error["verdict"], error["status"], error["decided_by"]) == (
        "conflict", "spam", "rejected", "ann")  # fmt: skip
    assert ms.get_by_pk(store, pk).verdict == "spam"


def test_correction_names_the_status_it_saw(client, store, mod, mod2) -> None:  # type: ignore[no-untyped-def]
    store.insert_comment("blog", "m", {"content": "buy pills"}, verdict("approve"))
    pk = ms.get_by_id(store, "blog", "m").pk
    r = client.post(f"/moderation/{pk}", json={"verdict": "spam", "expected_status": "approved"}, headers=mod)
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    stale = {"verdict": "ham", "expected_status": "approved"}
    assert client.post(f"/moderation/{pk}", json=stale, headers=mod2).status_code == 409


def test_concurrent_verdicts_one_wins(store) -> None:  # type: ignore[no-untyped-def]
    pks = [hold(store, "blog", f"r{i}") for i in range(10)]
    outcomes: list[tuple[int, str, str]] = []
    barrier = threading.Barrier(2)

    def moderate(name: str, choice: str) -> None:
        try:
            for pk in pks:
                barrier.wait(timeout=10)
                try:
                    ms.decide(store, pk, choice, name)
                    outcomes.append((pk, name, "won"))
                except ms.Conflict as exc:
                    outcomes.append((pk, name, f"lost to {exc.current.decided_by}"))
        finally:
            store.close()

    threads = [threading.Thread(target=moderate, args=a) for a in (("ann", "ham"), ("bo", "spam"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for pk in pks:
        mine = [o for o in outcomes if o[0] == pk]
        winners = [o[1] for o in mine if o[2] == "won"]
        assert len(mine) == 2 and len(winners) == 1
        assert [o[2] for o in mine if o[2] != "won"] == [f"lost to {winners[0]}"]
        assert ms.get_by_pk(store, pk).decided_by == winners[0]
    assert len(ms.audit(store, limit=100)) == 10


@pytest.mark.parametrize("body", [{}, {"verdict": "maybe"}, {"verdict": "ham", "expected_status": "gone"}])
def test_bad_verdicts(client, store, mod, body) -> None:  # type: ignore[no-untyped-def]
    pk = hold(store, "blog", "z")
    assert client.post(f"/moderation/{pk}", json=body, headers=mod).status_code == 400


def test_unknown_comment(client, mod) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/moderation/999", json={"verdict": "ham"}, headers=mod).status_code == 404
    assert client.post(f"/moderation/{2**70}", json={"verdict": "ham"}, headers=mod).status_code == 404


# -- the platform's side ---------------------------------------------------------------------------


def test_comment_status_follows_the_verdict(client, store, auth, mod) -> None:  # type: ignore[no-untyped-def]
    pk = hold(store, "blog", "wp/1")
    body = client.get("/comments/wp/1", headers=auth).get_json()
    assert (body["status"], body["verdict"]) == ("held", None)
    client.post(f"/moderation/{pk}", json={"verdict": "ham"}, headers=mod)
    body = client.get("/comments/wp/1", headers=auth).get_json()
    assert (body["id"], body["status"], body["verdict"]) == ("wp/1", "approved", "ham")
    assert body["decided_at"]
    assert client.get("/comments/nope", headers=auth).status_code == 404
    assert client.get("/comments/wp/1?site=shop", headers=auth).status_code == 403


def test_status_of_a_scored_comment(client, auth) -> None:  # type: ignore[no-untyped-def]
    decision = client.post(
        "/score", json={"id": "s1", "content": "Thanks, nice post."}, headers=auth
    ).get_json()
    body = client.get("/comments/s1", headers=auth).get_json()
    assert body["decision"] == decision["decision"] and body["verdict"] is None


@pytest.mark.parametrize("cid", ["/lead", "a//b", "trail/", "a/../b", "1\n2", " padded\r", "q?x#y", "%41"])
def test_every_id_score_accepts_can_be_looked_up(client, auth, cid: str) -> None:  # type: ignore[no-untyped-def]
    # "/lead" was a 308 redirect to the comment "lead"; "1\n2" matched no route at all.
    assert (
        client.post("/score", json={"id": cid, "content": "Thanks, nice post."}, headers=auth).status_code
        == 200
    )
    r = client.get("/comments/" + quote(cid, safe=""), headers=auth)
    assert r.status_code == 200 and r.get_json()["id"] == cid.strip(), r.data[:200]


def test_feedback_is_a_label(client, store, auth) -> None:  # type: ignore[no-untyped-def]
    store.insert_comment("blog", "f1", {"id": "f1", "content": "buy now"}, verdict("approve"))
    r = client.post("/feedback", json={"id": "f1", "label": "spam"}, headers=auth)
    assert r.status_code == 200 and r.get_json() == {
        "id": "f1",
        "site": "blog",
        "label": "spam",
        "status": "approved",
    }
    assert [(f["comment_id"], f["label"], f["source"]) for f in store.list_feedback("blog")] == [
        ("f1", "spam", "api")
    ]
    assert ms.labelled_records(store) == [{"id": "f1", "content": "buy now", "label": "spam"}]
    assert client.post("/feedback", json={"id": "nope", "label": "spam"}, headers=auth).status_code == 404
    for body in (
        {"id": "f1"},
        {"id": "f1", "label": "maybe"},
        {"label": "spam"},
        {"id": ["x"], "label": "ham"},
    ):
        assert client.post("/feedback", json=body, headers=auth).status_code == 400
    assert (
        client.post("/feedback", json={"id": "f1", "label": "ham", "site": "shop"}, headers=auth).status_code
        == 403
    )
