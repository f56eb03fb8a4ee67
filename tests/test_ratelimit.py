"""Tests for spamguard.ratelimit: the per-key token bucket, on a clock the tests set."""

from __future__ import annotations

import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spamguard import ratelimit
from spamguard.keys import create_key
from spamguard.ratelimit import RateLimiter

HAM = {"content": "Thanks for the write-up, it helped me fix my setup."}


def drain(limiter: RateLimiter, key: int, now: float) -> int:
    """Take tokens for `key` at `now` until refused; return how many were granted."""
    granted = 0
    while limiter.acquire(key, now) == 0:
        granted += 1
        assert granted <= limiter.capacity, "more tokens than the burst allowance"
    return granted


@pytest.mark.parametrize("per_minute", [1, 3, 60, 600])
def test_a_fresh_key_gets_a_burst_of_per_minute(per_minute):
    assert drain(RateLimiter(per_minute), key=1, now=100.0) == per_minute


def test_tokens_refill_at_per_minute_over_sixty_seconds():
    limiter = RateLimiter(30)  # one token every 2 s
    drain(limiter, 1, now=0.0)
    assert limiter.acquire(1, 1.9) > 0
    assert limiter.acquire(1, 2.0) == 0
    assert limiter.acquire(1, 2.0) > 0, "one token refilled, one taken"
    assert drain(limiter, 1, now=12.0) == 5


def test_refill_never_exceeds_the_burst():
    limiter = RateLimiter(5)
    drain(limiter, 1, now=0.0)
    assert drain(limiter, 1, now=1e6) == 5


@pytest.mark.parametrize("per_minute, elapsed, expected", [(30, 0.0, 2), (30, 1.0, 1), (6, 0.0, 10),
                                                           (6, 4.0, 6), (7, 0.0, 9), (1, 0.0, 60),
                                                           (600, 0.0, 1), (1, 59.5, 1)])  # fmt: skip
def test_retry_after_is_the_whole_seconds_until_the_next_token(per_minute, elapsed, expected):
    limiter = RateLimiter(per_minute)
    drain(limiter, 1, now=0.0)
    wait = limiter.acquire(1, elapsed)
    assert type(wait) is int and wait == expected


@pytest.mark.parametrize("per_minute", [1, 2, 7, 13, 59, 61, 97, 600, 1000, 7919])
@pytest.mark.parametrize("partial", [0.0, 0.3, 0.5, 0.99])
def test_retry_after_is_enough_and_not_a_second_more(per_minute, partial):
    """A client that waits Retry-After seconds gets in; one that waits a second less does not."""
    for waited_less in (False, True):
        limiter = RateLimiter(per_minute)
        drain(limiter, 1, now=0.0)
        now = partial * 60 / per_minute  # part of a token refilled since
        wait = limiter.acquire(1, now)
        assert type(wait) is int and wait >= 1
        if waited_less:
            if wait > 1:
                assert limiter.acquire(1, now + wait - 1) > 0
        else:
            assert limiter.acquire(1, now + wait) == 0


@pytest.mark.parametrize("per_minute, elapsed", [(2, 20.0), (1, 59.0), (1, 16.0)])
def test_retry_after_is_exact_when_the_wait_is_whole_seconds(per_minute, elapsed):
    limiter = RateLimiter(per_minute)
    drain(limiter, 1, now=0.0)
    wait = limiter.acquire(1, elapsed)
    assert limiter.acquire(1, elapsed + wait - 1) > 0, f"Retry-After {wait}, yet {wait - 1} s was enough"


def test_refused_requests_take_no_tokens():
    limiter = RateLimiter(60)  # one token a second
    drain(limiter, 1, now=0.0)
    for i in range(10):
        assert limiter.acquire(1, 0.1 * i) == 1
    assert limiter.acquire(1, 1.0) == 0


def test_keys_are_independent():
    limiter = RateLimiter(2)
    drain(limiter, 1, now=0.0)
    assert limiter.acquire(1, 0.0) > 0
    assert drain(limiter, 2, now=0.0) == 2
    assert limiter.acquire(1, 0.0) > 0, "draining key 2 gave key 1 nothing back"


def test_zero_is_no_limit_and_keeps_no_state():
    limiter = RateLimiter(0)
    assert all(limiter.acquire(key % 3, 0.0) == 0 for key in range(10_000))
    assert limiter._buckets == {}


def test_a_bucket_idle_for_a_refill_period_is_dropped():
    limiter = RateLimiter(6)
    drain(limiter, 1, now=0.0)
    drain(limiter, 2, now=50.0)
    assert len(limiter) == 2
    limiter.acquire(3, 61.0)  # the sweep runs first: key 1 was last seen 61 s ago, key 2 11 s ago
    assert sorted(limiter._buckets) == [2, 3]
    assert drain(limiter, 1, now=61.0) == 6, "a dropped bucket is a full one"
    assert drain(limiter, 2, now=61.0) == 1, "key 2 kept its bucket: 11 s refilled one token"


def test_many_keys_seen_once_do_not_stay():
    limiter = RateLimiter(60)
    for key in range(20_000):
        limiter.acquire(key, key * 0.01)  # 100 new keys a second for 200 s
    # A sweep runs at most once a refill period (60 s): what is left is at most two periods' keys.
    assert len(limiter) <= 2 * 6_000


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(1, 120), st.lists(st.tuples(st.integers(0, 3), st.floats(0, 90)), max_size=60))
def test_dropping_buckets_never_changes_an_answer(per_minute, steps):
    """The same requests get the same answers from a limiter that never drops a bucket."""
    swept, kept = RateLimiter(per_minute), RateLimiter(per_minute)
    kept._refill_s = float("inf")
    now = 0.0
    for key, gap in steps:
        now += gap
        assert swept.acquire(key, now) == kept.acquire(key, now)


def test_the_default_clock_is_time_monotonic(monkeypatch):
    clock = types.SimpleNamespace(monotonic=lambda: 500.0)
    monkeypatch.setattr(ratelimit, "time", clock)
    limiter = RateLimiter(60)
    drain(limiter, 1, now=500.0)
    assert limiter.acquire(1) == 1
    clock.monotonic = lambda: 501.0
    assert limiter.acquire(1) == 0


def test_only_authenticated_keys_get_a_bucket(make_app):
    """Made-up keys never reach the limiter: only the id of a stored key gets a bucket."""
    app = make_app(rate_limit=5)
    st = app.extensions["spamguard"]
    client = app.test_client()
    for i in range(50):
        r = client.post("/score", json=HAM, headers={"Authorization": f"Bearer sg_made-up-{i}"})
        assert r.status_code == 401
    assert st.limiter._buckets == {}
    key, stored = create_key(st.store, ["blog"])
    assert client.post("/score", json=HAM, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert list(st.limiter._buckets) == [stored.id]


def test_the_api_answers_429_with_the_limiters_retry_after(make_app, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    app = make_app(rate_limit=2)  # one token every 30 s
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    assert [client.post("/score", json=HAM, headers=auth).status_code for _ in range(2)] == [200, 200]
    r = client.post("/score", json=HAM, headers=auth)
    assert r.status_code == 429 and r.headers["Retry-After"] == "30"
    assert r.get_json()["error"]["code"] == "rate_limited"
    now[0] += 29.5
    r = client.post("/score", json=HAM, headers=auth)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    now[0] += 1.0
    assert client.post("/score", json=HAM, headers=auth).status_code == 200
