"""Campaigns in the held queue: grouping near-duplicates, and deciding one in one action (API and store)."""

from __future__ import annotations

import random

import pytest

from spamguard import campaigns, history, webhooks
from spamguard import moderation_store as ms
from spamguard import moderators as mo
from spamguard.comment import parse_record
from spamguard.policy import Reason, Thresholds, Verdict

PITCH = "Make five thousand dollars a week from home with this one simple trick, visit my profile now {}"
OTHER = "Thanks for the sourdough write-up, it helped me fix my starter and the crumb is much better {}"


pytestmark = pytest.mark.usefixtures("cheap_scrypt")


def hold(store, site: str, cid: str, content: str, author: str = "", sketch: bool = True) -> int:  # type: ignore[no-untyped-def]
    """Store a held comment (and, unless sketch=False, its history row as /score would); return its pk."""
    record = {"id": cid, "site": site, "content": content, "author_name": author or f"author {cid}"}
    verdict = Verdict("hold", 0.6, [Reason("link:shortener", 1.5, "x")], "v1", cid, Thresholds(0.2, 0.9))
    store.insert_comment(site, cid, record, verdict)
    if sketch:
        history.record(store, site, cid, history.facts(parse_record(record)), "hold")
    return ms.get_by_id(store, site, cid).pk


@pytest.fixture
def campaign(store) -> list[int]:  # type: ignore[no-untyped-def]
    """Four near-copies of one pitch on `blog` (one without a history row), and unrelated comments."""
    pks = [hold(store, "blog", f"p{i}", PITCH.format("!" * i), f"bot{i}", sketch=i != 2) for i in range(4)]
    hold(store, "blog", "o1", OTHER.format("1"))
    hold(store, "news", "p9", PITCH.format(""))  # the same text on another site: another campaign
    hold(store, "blog", "short", "buy now")  # too short to compare
    return pks


def test_near_duplicates_form_one_campaign_per_site(store, campaign) -> None:  # type: ignore[no-untyped-def]
    found = campaigns.campaigns(store)
    assert [(c.representative.site, c.members) for c in found] == [("blog", tuple(campaign))]
    assert found[0].id == campaign[0]
    assert found[0].authors == ("bot0", "bot1", "bot2", "bot3") and found[0].author_count == 4
    hold(store, "news", "p10", PITCH.format("?"))
    assert [c.representative.site for c in campaigns.campaigns(store)] == ["blog", "news"]
    assert [c.representative.site for c in campaigns.campaigns(store, "news")] == ["news"]


def test_a_changed_word_is_not_the_same_campaign(store) -> None:  # type: ignore[no-untyped-def]
    hold(store, "blog", "a", PITCH.format(""))
    hold(store, "blog", "b", PITCH.replace("simple", "strange").replace("profile", "channel").format(""))
    assert campaigns.campaigns(store) == []


def test_api_lists_and_decides_a_campaign(client, store, mod, campaign) -> None:  # type: ignore[no-untyped-def]
    ms.set_webhook(store, "blog", "http://127.0.0.1:9/hook", "secret")
    r = client.get("/moderation/campaigns", headers=mod)
    assert r.status_code == 200
    (group,) = r.get_json()["campaigns"]
    assert group["id"] == campaign[0] and group["count"] == 4 and group["members"] == campaign
    assert group["representative"]["record"]["content"] == PITCH.format("")
    r = client.post(f"/moderation/campaigns/{campaign[0]}", json={"verdict": "spam"}, headers=mod)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [c["pk"] for c in body["decided"]] == campaign and body["conflicts"] == [] == body["skipped"]
    for pk in campaign:  # each member as if decided on its own: status, audit row, webhook, label
        c = ms.get_by_pk(store, pk)
        assert (c.status, c.verdict, c.decided_by) == ("rejected", "spam", "ann")
        assert [(a.verdict, a.moderator) for a in ms.audit(store, comment_pk=pk)] == [("spam", "ann")]
    payloads = [d["payload"]["id"] for d in webhooks.deliveries(store)]
    assert sorted(payloads) == ["p0", "p1", "p2", "p3"]
    labels = {r["id"]: r["label"] for r in ms.labelled_records(store)}
    assert labels == {f"p{i}": "spam" for i in range(4)}
    assert ms.get_by_id(store, "blog", "o1").status == "held"  # not in the campaign
    assert client.get("/moderation/campaigns", headers=mod).get_json()["campaigns"] == []
    # Again: nothing left to decide.
    r = client.post(f"/moderation/campaigns/{campaign[0]}", json={"verdict": "ham"}, headers=mod)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"


def test_members_someone_decided_first_are_conflicts(client, store, mod, campaign) -> None:  # type: ignore[no-untyped-def]
    ms.decide(store, campaign[1], "ham", "bo")
    other = ms.get_by_id(store, "blog", "o1").pk
    r = client.post(f"/moderation/campaigns/{campaign[0]}", headers=mod,
                    json={"verdict": "spam", "members": [campaign[0], campaign[1], other]})  # fmt: skip
    body = r.get_json()
    assert r.status_code == 200
    assert [c["pk"] for c in body["decided"]] == [campaign[0]]  # only the members shown
    at = ms.get_by_pk(store, campaign[1]).decided_at
    first = {"pk": campaign[1], "status": "approved", "verdict": "ham", "decided_by": "bo", "decided_at": at}
    assert body["conflicts"] == [first]
    assert body["skipped"] == [other]  # held, but not near the representative
    assert ms.get_by_pk(store, campaign[1]).verdict == "ham"  # the earlier verdict stands
    elsewhere = ms.get_by_id(store, "news", "p9").pk  # the same text, held on another site
    shown = {"verdict": "spam", "members": [campaign[3], elsewhere]}
    r = client.post(f"/moderation/campaigns/{campaign[0]}", json=shown, headers=mod)
    assert r.get_json()["skipped"] == [elsewhere] and ms.get_by_pk(store, elsewhere).status == "held"
    assert ms.get_by_pk(store, campaign[2]).status == "held"  # not shown, not decided
    again = {"verdict": "spam", "members": [campaign[1]]}
    r = client.post(f"/moderation/campaigns/{campaign[0]}", json=again, headers=mod)
    assert r.status_code == 409 and r.get_json()["error"]["conflicts"][0]["decided_by"] == "bo"


def distinct(n: int) -> list[str]:
    """Return n unrelated comments of 12 words (no two near each other)."""
    rng = random.Random(n)
    words = [f"word{i}" for i in range(5000)]
    return [" ".join(rng.choice(words) for _ in range(12)) for _ in range(n)]


def test_a_campaign_behind_2000_held_comments_is_decided(client, store, mod) -> None:  # type: ignore[no-untyped-def]
    # The campaign used to be looked for among the oldest 2,000 held comments only: 409, or all skipped.
    for i, text in enumerate(distinct(2005)):
        hold(store, "blog", f"d{i}", text)
    pks = [hold(store, "blog", f"p{i}", PITCH.format("")) for i in range(5)]
    shown = {"verdict": "spam", "members": pks[:2]}
    r = client.post(f"/moderation/campaigns/{pks[0]}", json=shown, headers=mod)
    assert r.status_code == 200, r.get_json()
    assert [c["pk"] for c in r.get_json()["decided"]] == pks[:2] and r.get_json()["skipped"] == []
    r = client.post(f"/moderation/campaigns/{pks[0]}", json={"verdict": "spam"}, headers=mod)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [c["pk"] for c in body["decided"]] == pks[2:] and body["skipped"] == [] and body["more"] is False
    assert {ms.get_by_pk(store, pk).status for pk in pks} == {"rejected"}
    assert ms.held_count(store) == 2005


def test_a_big_campaign_is_decided_a_bounded_part_at_a_time(client, store, mod, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pks = [hold(store, "blog", f"p{i}", PITCH.format("!" * i), sketch=i != 4) for i in range(6)]
    monkeypatch.setattr(campaigns, "MAX_MEMBERS", 4)
    monkeypatch.setattr(campaigns, "MAX_CANDIDATES", 2)  # held comments read per band of the sketch
    decided, calls, more = [], 0, True
    while more and calls < len(pks):  # each call decides some: "more" until none is left
        body = client.post(
            f"/moderation/campaigns/{pks[0]}", json={"verdict": "spam"}, headers=mod
        ).get_json()
        assert body["conflicts"] == [] == body["skipped"] and 1 <= len(body["decided"]) <= 4, body
        decided += [c["pk"] for c in body["decided"]]
        more, calls = body["more"], calls + 1
    assert not more and calls > 1 and sorted(decided) == pks and len(decided) == len(pks)


def test_a_bound_that_stops_the_search_is_said_so(client, store, mod, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seed = hold(store, "blog", "p0", PITCH.format(""))
    ms.decide(store, seed, "spam", "bo")
    for i, text in enumerate(distinct(3)):  # held, the history has no row for them: read and computed
        hold(store, "blog", f"d{i}", text, sketch=False)
    late = hold(store, "blog", "p1", PITCH.format("!"), sketch=False)
    monkeypatch.setattr(campaigns, "MAX_UNSKETCHED", 3)
    r = client.post(f"/moderation/campaigns/{seed}", json={"verdict": "spam"}, headers=mod)
    error = r.get_json()["error"]
    assert r.status_code == 409 and error["code"] == "search_bound" and error["more"] is True
    assert "someone else" not in error["message"] and "the first 3 held without" in error["message"]
    assert ms.get_by_pk(store, late).status == "held"
    monkeypatch.setattr(campaigns, "MAX_UNSKETCHED", 5)
    body = client.post(f"/moderation/campaigns/{seed}", json={"verdict": "spam"}, headers=mod).get_json()
    assert [c["pk"] for c in body["decided"]] == [late] and body["more"] is False


@pytest.mark.parametrize(
    "body",
    [{}, {"verdict": "maybe"}, {"verdict": ["spam"]}, {"verdict": "spam", "members": "1"},
     {"verdict": "spam", "members": [True]}, {"verdict": "spam", "members": [-1]},
     {"verdict": "spam", "members": ["1"]}, {"verdict": "spam", "members": list(range(501))}],
)  # fmt: skip
def test_bad_campaign_decisions_are_400(client, mod, campaign, body) -> None:  # type: ignore[no-untyped-def]
    r = client.post(f"/moderation/campaigns/{campaign[0]}", json=body, headers=mod)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request"


def test_campaign_errors(client, store, mod, auth, campaign) -> None:  # type: ignore[no-untyped-def]
    assert (
        client.post("/moderation/campaigns/999999", json={"verdict": "spam"}, headers=mod).status_code == 404
    )
    assert (
        client.post(f"/moderation/campaigns/{2**64}", json={"verdict": "spam"}, headers=mod).status_code
        == 404
    )
    short = ms.get_by_id(store, "blog", "short").pk
    r = client.post(f"/moderation/campaigns/{short}", json={"verdict": "spam"}, headers=mod)
    assert r.status_code == 400 and "too short" in r.get_json()["error"]["message"]
    assert client.get("/moderation/campaigns").status_code == 401
    assert client.get("/moderation/campaigns", headers=auth).status_code == 403
    assert (
        client.post(
            f"/moderation/campaigns/{campaign[0]}", json={"verdict": "spam"}, headers=auth
        ).status_code
        == 403
    )
    assert client.get("/moderation/campaigns?limit=0", headers=mod).status_code == 400
    assert client.get("/moderation/campaigns?site=a%00b", headers=mod).status_code in (200, 400)


# -- the web UI --------------------------------------------------------------------------------------

HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1"> win a prize today at my site'


@pytest.fixture
def ui(ui_app):  # type: ignore[no-untyped-def]
    from tests.test_moderate_ui import login

    client = ui_app.test_client()
    assert login(client).status_code == 302
    return client


@pytest.fixture
def ui_app(make_app):  # type: ignore[no-untyped-def]
    from tests.test_moderate_ui import PASSWORD

    app = make_app()
    mo.add_moderator(app.extensions["spamguard"].store, "alice", PASSWORD)
    return app


def test_queue_shows_a_campaign_as_one_group_escaped(ui, ui_app) -> None:  # type: ignore[no-untyped-def]
    st = ui_app.extensions["spamguard"].store
    pks = [hold(st, "blog", f"x{i}", HOSTILE + "!" * i, f"<b>bot{i}</b>") for i in range(3)]
    alone = hold(st, "blog", "o1", OTHER.format("1"))
    page = ui.get("/moderate/").data.decode()
    assert page.count('class="campaign"') == 1 and "3 near-identical comments" in page
    assert "<script>window.__xss" not in page and "<b>bot0" not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page and "&lt;b&gt;bot0&lt;/b&gt;" in page
    # The members are in the group, not in the list; the other comment is in the list.
    assert f'id="c-{alone}"' in page and not any(f'id="c-{pk}"' in page for pk in pks)
    assert all(f'name="members" value="{pk}"' in page for pk in pks)
    # One by one: the campaign's members as items.
    one_by_one = ui.get(f"/moderate/?campaign={pks[0]}").data.decode()
    assert all(f'id="c-{pk}"' in one_by_one for pk in pks) and f'id="c-{alone}"' not in one_by_one


def test_one_action_decides_the_campaign(ui, ui_app) -> None:  # type: ignore[no-untyped-def]
    from tests.test_moderate_ui import page_token

    st = ui_app.extensions["spamguard"].store
    pks = [hold(st, "blog", f"x{i}", PITCH.format("!" * i)) for i in range(3)]
    ms.decide(st, pks[2], "ham", "bob")  # someone was quicker with one of them
    data = {"csrf_token": page_token(ui), "campaign": str(pks[0]), "verdict": "spam", "back": "/moderate/",
            "members": [str(pk) for pk in pks]}  # fmt: skip
    r = ui.post("/moderate/campaign", data=data)
    assert r.status_code == 302 and r.headers["Location"] == "/moderate/"
    assert [ms.get_by_pk(st, pk).verdict for pk in pks] == ["spam", "spam", "ham"]
    assert [[a.moderator for a in ms.audit(st, comment_pk=pk)] for pk in pks] == [
        ["alice"],
        ["alice"],
        ["bob"],
    ]
    page = ui.get("/moderate/").data.decode()
    assert "Marked spam 2 comments of the campaign." in page and "Someone was quicker: bob approved" in page


@pytest.mark.parametrize("token", [None, "forged"])
def test_campaign_decision_needs_csrf(ui, ui_app, token) -> None:  # type: ignore[no-untyped-def]
    st = ui_app.extensions["spamguard"].store
    pks = [hold(st, "blog", f"x{i}", PITCH.format("!" * i)) for i in range(2)]
    data = {"campaign": str(pks[0]), "verdict": "spam", "members": [str(pk) for pk in pks]}
    if token:
        data["csrf_token"] = token
    assert ui.post("/moderate/campaign", data=data).status_code == 400
    assert {ms.get_by_pk(st, pk).status for pk in pks} == {"held"}


@pytest.mark.parametrize(
    "data", [{"verdict": "maybe", "campaign": "1"}, {"verdict": "spam", "campaign": "x"}, {"verdict": "spam"},
             {"verdict": "spam", "campaign": "1", "members": "-1"}],
)  # fmt: skip
def test_bad_campaign_forms_are_400(ui, data) -> None:  # type: ignore[no-untyped-def]
    from tests.test_moderate_ui import page_token

    r = ui.post("/moderate/campaign", data={"csrf_token": page_token(ui), **data})
    assert r.status_code == 400 and b"Bad request" in r.data


def test_one_by_one_finds_the_campaign_behind_the_oldest_held(ui, ui_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    st = ui_app.extensions["spamguard"].store
    monkeypatch.setattr(campaigns, "MAX_SCAN", 5)  # the listing groups the oldest 5: not these
    for i, text in enumerate(distinct(6)):
        hold(st, "blog", f"d{i}", text)
    pks = [hold(st, "blog", f"x{i}", PITCH.format("!" * i)) for i in range(3)]
    page = ui.get(f"/moderate/?campaign={pks[0]}").data.decode()
    assert "One campaign, comment by comment." in page and page.count('class="campaign"') == 1
    assert all(f'id="c-{pk}"' in page and f'name="members" value="{pk}"' in page for pk in pks)
    assert 'id="c-' + str(pks[0] - 1) + '"' not in page
    monkeypatch.setattr(campaigns, "MAX_MEMBERS", 2)
    page = ui.get(f"/moderate/?campaign={pks[0]}").data.decode()
    assert f'id="c-{pks[2]}"' not in page and "may have more held members than the 2 shown" in page
    for wanted in ("x", "1" * 30, str(pks[0] - 1), "999999"):  # not a campaign now: said so, no error
        page = ui.get(f"/moderate/?campaign={wanted}").data.decode()
        assert "This campaign has been decided, or is no longer a campaign." in page
