"""Velocity rules: every key kind and window, replicas sharing one store, a site's own limits."""

from __future__ import annotations

import pytest

from spamguard import history, site_policy
from spamguard.comment import parse_record
from spamguard.history import VELOCITY_LIMITS, WINDOWS, Facts, history_rules
from spamguard.site_policy import set_policy

HAM = "Thanks for the sourdough write-up, it helped me fix my setup."
NOW = 5_000_000.0
# The value each key kind is tested with, and how a reason names it to a moderator.
KEYS = {
    "ip": ("203.0.113.9", "this IP 203.0.113.9"),
    "email": ("ann@example.com", "this e-mail ann@example.com"),
    "url_domain": ("example.org", "this author-URL domain example.org"),
    "link_domain": ("cheap-pills.example", "link domain cheap-pills.example"),
}
WINDOW_WORDS = {"1m": "minute", "1h": "hour", "1d": "day"}


@pytest.fixture(autouse=True)
def _fresh_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site_policy, "CONFIG_CHECK_S", 0.0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The history's clock, fixed at NOW until a test moves it (clock[0] += seconds)."""
    now = [NOW]
    monkeypatch.setattr(history, "clock", lambda: now[0])
    return now


def post(client, auth, **record):  # type: ignore[no-untyped-def]
    response = client.post("/score", json=record, headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def velocity(body: dict) -> dict[str, str]:  # type: ignore[type-arg]
    """Return the velocity reasons of a /score answer, signal -> detail."""
    return {r["signal"]: r["detail"] for r in body["reasons"] if r["signal"].startswith("velocity:")}


def add(store, found: Facts, times: list[float], prefix: str) -> None:  # type: ignore[no-untyped-def]
    """Add held comments with `found`'s keys to site blog's history at `times`, in one transaction."""
    with store.transaction() as run:
        for j, at in enumerate(times):
            assert history.write(run, "blog", f"{prefix}{j}", found, "hold", now=at)


def spread(n: int, newest_s: float, oldest_s: float) -> list[float]:
    """Return n times evenly from `newest_s` to `oldest_s` seconds before NOW."""
    return [NOW - newest_s - (oldest_s - newest_s) * j / max(n - 1, 1) for j in range(n)]


# -- author-URL and link domains through /score -----------------------------------------------------


def test_url_domain_velocity_fires_at_its_limit(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    limit = VELOCITY_LIMITS["url_domain"][0]
    # Subdomains of one registered domain are one sender; each comment has its own IP, so only the
    # author-URL domain links them.
    for i in range(limit):
        body = post(client, auth, id=f"c{i}", content=f"{HAM} {i}", author_ip=f"198.51.100.{i + 1}",
                    author_url=f"https://blog{i}.example.org/about")  # fmt: skip
        assert not velocity(body) and body["decision"] == "approve"
    body = post(
        client, auth, id="c9", content=HAM, author_ip="198.51.100.99", author_url="http://example.org"
    )
    assert velocity(body) == {
        "velocity:url_domain_1m": f"{limit} earlier comments from this author-URL domain example.org"
        " in the last minute"
    }
    assert body["decision"] == "hold"
    other = post(client, auth, id="d", content=HAM, author_url="https://example.net/")
    assert not velocity(other) and other["decision"] == "approve"


def test_link_domain_velocity_fires_at_its_limit(client, auth, store, clock) -> None:  # type: ignore[no-untyped-def]
    # Everything below the velocity floor is approved by score: approvals inside the window do not give
    # the domain a good name (a burst the model approved cannot vouch for itself).
    set_policy(store, "blog", approve_below=0.999, reject_at=1.0)
    limit = VELOCITY_LIMITS["link_domain"][0]
    for i in range(limit):
        # Two links to the domain in one comment count once; each comment has its own sender.
        content = f"{HAM} {i} see http://a{i}.cheap-pills.example/x and https://www.cheap-pills.example/y"
        body = post(client, auth, id=f"c{i}", content=content, author_ip=f"198.51.100.{i + 1}")
        assert not velocity(body) and body["decision"] == "approve"
    body = post(
        client, auth, id="c99", content=f"{HAM} at https://cheap-pills.example/z", author_ip="192.0.2.1"
    )
    assert velocity(body) == {
        "velocity:link_domain_1m": f"{limit} earlier comments from link domain cheap-pills.example"
        " in the last minute"
    }
    assert not velocity(
        post(client, auth, id="d", content=f"{HAM} at https://example.net/", author_ip="192.0.2.2")
    )


def test_author_urls_on_different_ip_addresses_are_different_senders(client, auth, clock) -> None:  # type: ignore[no-untyped-def]
    for i in range(VELOCITY_LIMITS["url_domain"][0]):
        post(client, auth, id=f"c{i}", content=f"{HAM} {i}", author_url="http://198.51.100.7/")
    body = post(client, auth, id="d", content=HAM, author_url="http://203.0.100.7/")
    assert not velocity(body)  # today: "5 earlier comments from this author-URL domain 100.7 ..."


# -- windows ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", history.KINDS)
@pytest.mark.parametrize("w", range(len(WINDOWS)), ids=[name for name, _ in WINDOWS])
def test_a_window_counts_its_own_span_and_fires_at_its_limit(store, kind: str, w: int) -> None:  # type: ignore[no-untyped-def]
    assert dict(WINDOWS) == {"1m": 60, "1h": 3600, "1d": 86400}
    window, span = WINDOWS[w]
    limit = VELOCITY_LIMITS[kind][w]
    shorter = WINDOWS[w - 1][1] if w else 0
    value, named = KEYS[kind]
    found = Facts(None, None, ((kind, value),))
    add(store, found, [NOW - span - 1 - j for j in range(limit)], "old")  # just older than the window
    add(store, found, spread(limit - 1, shorter + 1, span - 1), "in")  # within it, not in a shorter one
    ev = history.lookup(store, "blog", found, now=NOW)
    below = tuple(0 if v < w else limit - 1 if v == w else 2 * limit - 1 for v in range(len(WINDOWS)))
    assert ev.keys[0].recent == below
    assert history_rules(ev) == history.Ruling()
    add(store, found, [NOW - span + 1], "edge")
    ruling = history_rules(history.lookup(store, "blog", found, now=NOW))
    assert ruling.floor == "hold"
    assert [(r.signal, r.detail) for r in ruling.reasons] == [
        (
            f"velocity:{kind}_{window}",
            f"{limit} earlier comments from {named} in the last {WINDOW_WORDS[window]}",
        )
    ]


@pytest.mark.parametrize(("window", "every_s"), [("1h", 115), ("1d", 600)])
def test_a_burst_longer_than_the_shorter_windows_fires_the_longer_rule(  # type: ignore[no-untyped-def]
    client, auth, clock, window: str, every_s: int
) -> None:
    w = [name for name, _ in WINDOWS].index(window)
    span, limit = WINDOWS[w][1], VELOCITY_LIMITS["ip"][w]
    assert VELOCITY_LIMITS["url_domain"][w] == limit and (limit - 1) * every_s > WINDOWS[w - 1][1]
    who = {"author_ip": "192.0.2.77", "author_url": "https://www.example.org/"}
    start = clock[0]
    for i in range(limit):
        clock[0] = start + i * every_s
        body = post(client, auth, id=f"c{i}", content=f"{HAM} {i}", **who)
        assert not velocity(body) and body["decision"] == "approve"
    clock[0] = start + limit * every_s
    body = post(client, auth, id="fired", content=HAM, **who)
    word = WINDOW_WORDS[window]
    assert velocity(body) == {
        f"velocity:ip_{window}": f"{limit} earlier comments from this IP 192.0.2.77 in the last {word}",
        f"velocity:url_domain_{window}": f"{limit} earlier comments from this author-URL domain example.org"
        f" in the last {word}",
    }
    assert body["decision"] == "hold"
    # Once the first two comments are older than the window, the other limit - 1 do not reach it.
    clock[0] = start + every_s + span + 1
    body = post(client, auth, id="later", content=HAM, **who)
    assert not velocity(body) and body["decision"] == "approve"


# -- replicas on one store --------------------------------------------------------------------------


def test_replicas_on_one_store_count_each_others_comments(app, make_app, auth, clock) -> None:  # type: ignore[no-untyped-def]
    other = make_app()
    assert app.extensions["spamguard"].store is not other.extensions["spamguard"].store
    a, b = app.test_client(), other.test_client()
    limit = VELOCITY_LIMITS["url_domain"][0]
    who = {"author_url": "https://shop.spam-seo.example/"}
    for i in range(limit):
        assert not velocity(post(a, auth, id=f"a{i}", content=f"{HAM} {i}", **who))
    body = post(b, auth, id="b0", content=HAM, **who)
    assert velocity(body) == {
        "velocity:url_domain_1m": f"{limit} earlier comments from this author-URL domain spam-seo.example"
        " in the last minute"
    }
    assert body["decision"] == "hold"
    # And back: the comment scored through the second replica counts on the first.
    assert velocity(post(a, auth, id="a9", content=HAM, **who))["velocity:url_domain_1m"].startswith(
        f"{limit + 1} earlier comments"
    )


def test_a_site_limit_set_on_one_replica_applies_on_the_other(app, make_app, auth, store, clock) -> None:  # type: ignore[no-untyped-def]
    other = make_app()
    a, b = app.test_client(), other.test_client()
    who = {"author_ip": "203.0.113.50"}
    for i in range(2):
        assert not velocity(post(b, auth, id=f"b{i}", content=f"{HAM} {i}", **who))
    set_policy(store, "blog", velocity={"ip": (2, 30, 100)})  # through the first replica's store
    body = post(b, auth, id="b2", content=HAM, **who)
    assert velocity(body) == {
        "velocity:ip_1m": "2 earlier comments from this IP 203.0.113.50 in the last minute"
    }
    assert "velocity:ip_1m" in velocity(post(a, auth, id="a0", content=HAM, **who))


# -- a site's own limits ----------------------------------------------------------------------------


def test_a_raised_site_limit_fires_later(client, auth, store, clock) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", velocity={"url_domain": (8, 30, 100)})
    who = {"author_url": "https://example.org/"}
    for i in range(8):  # past the default limit of 5
        body = post(client, auth, id=f"c{i}", content=f"{HAM} {i}", **who)
        assert not velocity(body) and body["decision"] == "approve"
    body = post(client, auth, id="c8", content=HAM, **who)
    assert velocity(body) == {
        "velocity:url_domain_1m": "8 earlier comments from this author-URL domain example.org"
        " in the last minute"
    }


def test_windows_switched_off_leave_the_others(client, auth, store, clock) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", velocity={"ip": (0, 3, 0)})
    fast = {"author_ip": "203.0.113.60"}
    for i in range(3):
        assert not velocity(post(client, auth, id=f"f{i}", content=f"{HAM} {i}", **fast))
    # Three in the last minute: with the minute off, the hour names them.
    body = post(client, auth, id="f3", content=HAM, **fast)
    assert velocity(body) == {
        "velocity:ip_1h": "3 earlier comments from this IP 203.0.113.60 in the last hour"
    }
    # A day's burst far over the default 100, none in the last hour: the day is off.
    slow = {"author_ip": "203.0.113.61"}
    add(store, history.facts(parse_record({"content": HAM, **slow})), spread(150, 3700, 80_000), "s")
    assert not velocity(post(client, auth, id="s", content=HAM, **slow))
    set_policy(store, "blog", velocity={"ip": None})  # back to the defaults
    assert velocity(post(client, auth, id="s2", content=HAM, **slow)) == {
        "velocity:ip_1d": "151 earlier comments from this IP 203.0.113.61 in the last day"
    }


def test_a_comment_type_has_its_own_limits_over_one_history(client, auth, store, clock) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", "trackback", velocity={"url_domain": (2, 30, 100)})
    who = {"author_url": "https://example.org/"}
    for i in range(2):
        assert not velocity(post(client, auth, id=f"c{i}", content=f"{HAM} {i}", **who))
    # The trackback's limit counts the plain comments; plain comments keep the default limit.
    trackback = post(client, auth, id="t", content=HAM, comment_type="trackback", **who)
    assert velocity(trackback) == {
        "velocity:url_domain_1m": "2 earlier comments from this author-URL domain example.org"
        " in the last minute"
    }
    assert not velocity(post(client, auth, id="c3", content=HAM, **who))
