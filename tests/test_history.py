"""History signals: near-duplicates, campaigns, velocity, reputation, trusted commenters."""

from __future__ import annotations

import pytest

from spamguard import history, moderation_store
from spamguard.comment import parse_record
from spamguard.history import Evidence, KeyHistory, history_rules

CAMPAIGN = (
    "Hey everyone check out my new channel where I post daily videos about gaming and music,"
    " please subscribe and like, it would mean a lot to me thanks"
)
HAM = "Thanks for the sourdough write-up, it helped me fix my setup."


def signals(body: dict) -> set[str]:  # type: ignore[type-arg]
    return {r["signal"] for r in body["reasons"]}


def post(client, auth, **record):  # type: ignore[no-untyped-def]
    response = client.post("/score", json=record, headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rejected(client, auth, store, **record):  # type: ignore[no-untyped-def]
    """Post a comment and have a moderator mark it spam (unless the model rejected it already)."""
    body = post(client, auth, **record)
    found = moderation_store.get_by_id(store, "blog", record["id"])
    if found.status != "rejected":
        moderation_store.decide(store, found.pk, "spam", "mod", expected_status=found.status)
    return body


# -- the sketch ---------------------------------------------------------------------------------


def test_simhash_is_stable_and_near_for_small_edits() -> None:
    words = history.words_of(history.normalize(CAMPAIGN))
    same = history.words_of(history.normalize(CAMPAIGN.upper().replace(",", " ,  ")))
    assert history.simhash(words) == history.simhash(same)  # case, spacing and punctuation do not count
    other = history.words_of(history.normalize("I really enjoyed this song, the chorus is stuck in my head"))
    assert history.hamming(history.simhash(words), history.simhash(other)) > history.NEAR_DUP_BITS
    sketch = history.simhash(words)
    assert 0 <= sketch < 1 << 64
    assert history.bands(sketch)[0] == sketch >> 48 and len(history.bands(sketch)) == 4


def test_bands_find_every_sketch_within_three_bits() -> None:
    sketch = 0x0123_4567_89AB_CDEF
    for flips in ((0, 17, 40), (1, 2, 3), (60, 61, 62)):
        near = sketch
        for bit in flips:
            near ^= 1 << bit
        assert history.hamming(sketch, near) == 3
        assert any(a == b for a, b in zip(history.bands(sketch), history.bands(near), strict=True))


def test_short_comments_have_no_sketch_and_keys_are_normalised() -> None:
    comment = parse_record({
        "content": "<a href='http://www.Shop.Example.co.uk/x'>x</a> bit.ly/abc",
        "author_email": " Ann@Example.COM ", "author_ip": "203.0.113.9", "author_url": "https://blog.ann.org/",
    })  # fmt: skip
    found = history.facts(comment)
    assert found.sketch is None
    assert dict(found.keys[:3]) == {"ip": "203.0.113.9", "email": "ann@example.com", "url_domain": "ann.org"}
    assert [v for k, v in found.keys if k == "link_domain"] == ["example.co.uk", "bit.ly"]
    assert history.digest("ip", "203.0.113.9") != "203.0.113.9"


# -- the rules (pure) ---------------------------------------------------------------------------


def test_rules_without_history_say_nothing() -> None:
    assert history_rules(Evidence()) == history.Ruling()


@pytest.mark.parametrize(("rejected", "floor"), [(1, "hold"), (2, "reject"), (7, "reject")])
def test_near_duplicate_of_rejected_spam(rejected: int, floor: str) -> None:
    ruling = history_rules(Evidence(near_rejected=rejected, near_total=rejected))
    assert ruling.floor == floor
    assert ruling.reasons[0].signal == "history:near_duplicate_spam"
    assert f"near-duplicate of {rejected} comments rejected in the last 24 h" == ruling.reasons[0].detail


def test_campaign_from_different_authors_holds() -> None:
    assert history_rules(Evidence(near_authors=2, near_total=2)).floor == "approve"
    ruling = history_rules(Evidence(near_authors=3, near_total=5))
    assert ruling.floor == "hold" and ruling.reasons[0].signal == "history:campaign"
    assert "5 recent comments from 3 different authors" in ruling.reasons[0].detail


def test_velocity_names_the_shortest_window_over_its_limit() -> None:
    ruling = history_rules(Evidence(keys=(KeyHistory("ip", "203.0.113.9", (12, 12, 12), 0, 0),)))
    assert ruling.floor == "hold"
    assert [(r.signal, r.detail) for r in ruling.reasons] == [
        ("velocity:ip_1m", "12 earlier comments from this IP 203.0.113.9 in the last minute")
    ]
    hourly = history_rules(Evidence(keys=(KeyHistory("email", "a@b.c", (1, 40, 40), 40, 0),)))
    assert [r.signal for r in hourly.reasons if r.weight > 0] == ["velocity:email_1h"]
    assert history_rules(Evidence(keys=(KeyHistory("ip", "x", (4, 29, 99), 0, 0),))).floor == "approve"


def test_a_well_reputed_link_domain_has_no_velocity_limit() -> None:
    busy = KeyHistory("link_domain", "wikipedia.org", (50, 500, 500), 400, 3)  # more rows than are read
    assert history_rules(Evidence(keys=(busy,))).floor == "approve"
    known = KeyHistory("link_domain", "python.org", (12, 12, 12), 40, 0)  # 28 approved before this minute
    assert history_rules(Evidence(keys=(known,))).floor == "approve"


def test_a_burst_the_model_approved_does_not_vouch_for_its_link_domain() -> None:
    burst = KeyHistory("link_domain", "cheap-pills.example", (10, 10, 10), 10, 0)
    ruling = history_rules(Evidence(keys=(burst,)))
    assert ruling.floor == "hold" and [r.signal for r in ruling.reasons] == ["velocity:link_domain_1m"]
    # Spread over the hour: the minute is covered by the approvals before it, the hour is not.
    hourly = KeyHistory("link_domain", "cheap-pills.example", (3, 60, 60), 60, 0)
    assert [r.signal for r in history_rules(Evidence(keys=(hourly,))).reasons] == ["velocity:link_domain_1h"]


@pytest.mark.parametrize(
    ("kind", "signal"),
    [
        ("email", "reputation:spam_email"),
        ("ip", "reputation:spam_ip"),
        ("link_domain", "reputation:spam_domain"),
        ("url_domain", "reputation:spam_domain"),
    ],
)
def test_previous_spam_holds(kind: str, signal: str) -> None:
    ruling = history_rules(Evidence(keys=(KeyHistory(kind, "v", (0, 0, 0), 1, 2),)))
    assert ruling.floor == "hold" and [r.signal for r in ruling.reasons] == [signal]
    assert history_rules(Evidence(keys=(KeyHistory(kind, "v", (0, 0, 0), 2, 2),))).floor == "approve"


def test_trusted_commenter() -> None:
    trusted = KeyHistory("email", "ann@example.com", (0, 0, 0), 3, 0)
    ruling = history_rules(Evidence(keys=(trusted,)))
    assert (
        ruling.trusted and ruling.reasons[0].signal == "reputation:trusted" and ruling.reasons[0].weight < 0
    )
    assert not history_rules(Evidence(keys=(trusted,)), trusted_on=False).trusted
    assert not history_rules(Evidence(keys=(trusted,)), trusted_min=4).trusted
    once_spam = KeyHistory("email", "ann@example.com", (0, 0, 0), 9, 1)
    assert not history_rules(Evidence(keys=(once_spam,))).trusted


# -- through the store and /score -----------------------------------------------------------------


def test_near_duplicates_of_rejected_comments_are_rejected(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    rejected(client, auth, store, id="c1", content=CAMPAIGN)
    second = post(client, auth, id="c2", content=CAMPAIGN + " !!")
    assert "history:near_duplicate_spam" in signals(second) and second["decision"] == "hold"
    rejected(client, auth, store, id="c3", content=CAMPAIGN)
    fourth = post(client, auth, id="c4", content=CAMPAIGN.lower())
    assert fourth["decision"] == "reject" and fourth["reasons"][0]["signal"] == "history:near_duplicate_spam"
    assert fourth["reasons"][0]["detail"] == "near-duplicate of 2 comments rejected in the last 24 h"


def test_near_duplicates_older_than_a_day_do_not_count(client, auth, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [1_000_000.0]
    monkeypatch.setattr(history, "clock", lambda: now[0])
    rejected(client, auth, store, id="c1", content=CAMPAIGN)
    now[0] += history.NEAR_DUP_WINDOW_S + 1
    assert "history:near_duplicate_spam" not in signals(post(client, auth, id="c2", content=CAMPAIGN))


def test_a_honeypot_copy_does_not_poison_its_text(client, auth) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        assert post(client, auth, id=f"bot{i}", content=CAMPAIGN, honeypot="x")["decision"] == "reject"
    assert "history:near_duplicate_spam" not in signals(post(client, auth, id="c1", content=CAMPAIGN))


def test_other_sites_history_does_not_count(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    found = history.facts(parse_record({"content": CAMPAIGN}))
    for i in range(3):
        history.record(store, "elsewhere", f"x{i}", found, "reject")
    assert "history:near_duplicate_spam" not in signals(post(client, auth, id="c1", content=CAMPAIGN))


def test_a_moderator_verdict_counts_over_the_model(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    rejected(client, auth, store, id="c1", content=CAMPAIGN)
    pk = moderation_store.get_by_id(store, "blog", "c1").pk
    moderation_store.decide(store, pk, "ham", "mod", expected_status="rejected")
    assert "history:near_duplicate_spam" not in signals(post(client, auth, id="c2", content=CAMPAIGN))


def test_campaign_from_different_authors(client, auth) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        post(client, auth, id=f"c{i}", content=CAMPAIGN, author_email=f"person{i}@example.com")
    body = post(client, auth, id="c9", content=CAMPAIGN, author_email="person9@example.com")
    assert "history:campaign" in signals(body) and body["decision"] in ("hold", "reject")
    # The same author repeating is not a campaign (velocity and reputation see that).
    for i in range(4):
        same = post(client, auth, id=f"s{i}", content=HAM + " and more words here", author_email="x@y.org")
    assert "history:campaign" not in signals(same)


def test_ip_velocity(client, auth) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        body = post(client, auth, id=f"c{i}", content=f"{HAM} {i}", author_ip="198.51.100.4")
        assert "velocity:ip_1m" not in signals(body)
    body = post(client, auth, id="c5", content=HAM, author_ip="198.51.100.4")
    reason = next(r for r in body["reasons"] if r["signal"] == "velocity:ip_1m")
    assert reason["detail"] == "5 earlier comments from this IP 198.51.100.4 in the last minute"
    assert body["decision"] != "approve"
    assert "velocity:ip_1m" not in signals(post(client, auth, id="d", content=HAM, author_ip="198.51.100.5"))


def test_velocity_window_slides(client, auth, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [2_000_000.0]
    monkeypatch.setattr(history, "clock", lambda: now[0])
    for i in range(5):
        post(client, auth, id=f"c{i}", content=f"{HAM} {i}", author_email="fast@example.com")
    now[0] += 61
    assert not {s for s in signals(post(client, auth, id="c5", content=HAM, author_email="fast@example.com"))
                if s.startswith("velocity:")}  # fmt: skip


def test_spam_reputation_of_a_link_domain(client, auth) -> None:  # type: ignore[no-untyped-def]
    for i in range(2):
        post(client, auth, id=f"c{i}", content=f"visit http://cheap-pills.example/{i} now", honeypot="x")
    body = post(client, auth, id="c3", content=HAM + " more at https://www.cheap-pills.example/about")
    reason = next(r for r in body["reasons"] if r["signal"] == "reputation:spam_domain")
    assert "cheap-pills.example" in reason["detail"] and body["decision"] != "approve"


def test_spam_reputation_of_an_ip_and_an_email(client, auth) -> None:  # type: ignore[no-untyped-def]
    who = {"author_ip": "192.0.2.66", "author_email": "spammer@example.net"}
    for i in range(2):
        post(client, auth, id=f"c{i}", content=f"{HAM} {i}", honeypot="x", **who)
    found = signals(post(client, auth, id="c3", content=HAM, **who))
    assert {"reputation:spam_ip", "reputation:spam_email"} <= found


def test_a_spam_verdict_counts_against_the_senders_keys(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    who = {"author_email": "polite@example.net"}
    for i in range(2):
        rejected(client, auth, store, id=f"c{i}", content=f"{HAM} {i}", **who)
    assert "reputation:spam_email" in signals(post(client, auth, id="c3", content=HAM, **who))
    # A correction counts too: the history holds the latest verdict.
    for i in range(2):
        moderation_store.decide(store, moderation_store.get_by_id(store, "blog", f"c{i}").pk, "ham", "mod",
                                expected_status="rejected")  # fmt: skip
    assert "reputation:spam_email" not in signals(post(client, auth, id="c4", content=HAM, **who))


def test_trusted_commenter_is_approved_unless_honeypot(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    who = {"author_email": "regular@example.org"}
    for i in range(3):
        post(client, auth, id=f"c{i}", content=f"{HAM} {i}", **who)
        pk = moderation_store.get_by_id(store, "blog", f"c{i}").pk
        status = moderation_store.get_by_pk(store, pk).status
        if status != "approved":
            moderation_store.decide(store, pk, "ham", "mod", expected_status=status)
    spammy = "Buy cheap viagra online now at http://bit.ly/x9z best price!!!"
    body = post(client, auth, id="t1", content=spammy, **who)
    assert body["decision"] == "approve" and "reputation:trusted" in signals(body)
    assert body["reasons"][-1]["signal"] == "reputation:trusted"  # the most ham-ward reason comes last
    assert post(client, auth, id="t2", content=spammy, honeypot="x", **who)["decision"] == "reject"


def test_lookup_counts_every_copy(store) -> None:  # type: ignore[no-untyped-def]
    """Copies with one sketch, author and outcome come back grouped: each still counts."""
    spam = history.facts(parse_record({"content": CAMPAIGN, "author_email": "bot@example.net"}))
    edited = history.facts(parse_record({"content": CAMPAIGN + " now", "author_name": "Other"}))
    for i in range(3):
        history.record(store, "blog", f"s{i}", spam, "reject", now=100.0 + i)
    for i, decision in enumerate(("approve", "hold", "reject")):
        history.record(store, "blog", f"e{i}", edited, decision, now=200.0 + i)
    ev = history.lookup(store, "blog", spam, now=300.0)
    assert history.hamming(spam.sketch, edited.sketch) <= history.NEAR_DUP_BITS
    assert (ev.near_total, ev.near_rejected, ev.near_authors) == (6, 4, 1)  # its own author is not counted


def test_history_queries_are_indexed(store) -> None:  # type: ignore[no-untyped-def]
    if store.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    found = history.facts(parse_record({"content": CAMPAIGN, "author_ip": "192.0.2.1"}))
    plans = []
    original = store.execute

    def explain(text, params=None):  # type: ignore[no-untyped-def]
        if text.startswith("SELECT"):
            plans.append(" ".join(r[-1] for r in original("EXPLAIN QUERY PLAN " + text, params).fetchall()))
        return original(text, params)

    store.execute = explain
    try:
        history.lookup(store, "blog", found, 0.0)
    finally:
        del store.execute
    assert len(plans) == 1  # near-duplicates and keys in one statement
    for plan in plans:
        assert "SCAN history" not in plan.replace("SCAN history_keys", "") and "SCAN history_keys" not in plan
        assert all(f"USING COVERING INDEX history_band{i}" in plan for i in range(history.BANDS))
        # The keys are counted from the index alone: no row of history_keys (nor comments) is read.
        assert "USING COVERING INDEX history_keys_lookup" in plan and "comments" not in plan


def test_a_store_error_leaves_the_verdict_and_skips_the_store_for_a_while(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard import screening
    from spamguard.policy import Verdict
    from spamguard.store import StoreError

    calls = []

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        raise StoreError("database error: gone")

    monkeypatch.setattr(store, "execute", down)
    verdict = Verdict("hold", 0.6, [], "v1")
    comment = parse_record({"content": CAMPAIGN, "author_ip": "192.0.2.1"})
    assert screening.screen(store, "blog", "c1", comment, verdict) is verdict
    assert screening.screen(store, "blog", "c2", comment, verdict) is verdict
    assert len(calls) == 1  # the second request did not wait on the store
    monkeypatch.setattr(screening, "STORE_RETRY_S", 0.0)
    monkeypatch.setattr(screening, "_down_until", {})
    assert screening.screen(store, "blog", "c3", comment, verdict) is verdict and len(calls) == 2


def test_a_comment_and_its_history_are_one_transaction(client, auth, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    from spamguard.store import StoreError

    transactions, writes = [], []
    execute, transaction = store.execute, store.transaction

    def counted_execute(text, params=None):  # type: ignore[no-untyped-def]
        if not text.lstrip().upper().startswith("SELECT"):
            writes.append(text)
        return execute(text, params)

    @contextmanager
    def counted_transaction():  # type: ignore[no-untyped-def]
        with transaction() as run:
            transactions.append(run)
            yield run

    monkeypatch.setattr(store, "execute", counted_execute)
    monkeypatch.setattr(store, "transaction", counted_transaction)
    post(client, auth, id="c1", content=CAMPAIGN, author_ip="192.0.2.7")
    assert len(transactions) == 1 and writes == []
    assert store.execute("SELECT COUNT(*) FROM history WHERE comment_id = 'c1'").fetchone()[0] == 1
    assert store.execute("SELECT COUNT(*) FROM history_keys WHERE comment_id = 'c1'").fetchone()[0] == 1
    post(client, auth, id="c1", content=CAMPAIGN, author_ip="192.0.2.7")  # idempotent: nothing added
    assert store.execute("SELECT COUNT(*) FROM history_keys WHERE comment_id = 'c1'").fetchone()[0] == 1

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StoreError("database error: disk I/O error")

    # A history write that fails takes the comment with it (to the spool), never half of it.
    monkeypatch.setattr(history, "write", broken)
    post(client, auth, id="c2", content=CAMPAIGN + " again", author_ip="192.0.2.7")
    assert store.count_comments("blog") == 1
    assert store.execute("SELECT COUNT(*) FROM history WHERE comment_id = 'c2'").fetchone()[0] == 0
    assert client.application.extensions["spamguard"].spool.pending_answer("blog", "c2") is not None
