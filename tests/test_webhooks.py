"""Webhooks: a verdict reaches a real local receiver, signed, after it first fails; claims never overlap."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from spamguard import moderation_store as ms
from spamguard import webhooks
from spamguard.policy import Reason, Thresholds, Verdict

SECRET = "whsec-test"


class Receiver:
    """An HTTP server on 127.0.0.1 answering the statuses queued in `answers` (then 200)."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def held(store, cid: str) -> int:  # type: ignore[no-untyped-def]
    v = Verdict("hold", 0.6, [Reason("link:shortener", 1.0, "x")], "v1", "c1", Thresholds(0.2, 0.9))
    store.insert_comment("blog", cid, {"id": cid, "content": "hello"}, v)
    return ms.get_by_pk(store, ms.get_by_id(store, "blog", cid).pk).pk


def test_verdict_reaches_the_platform_after_it_recovers(store, receiver) -> None:  # type: ignore[no-untyped-def]
    ms.set_webhook(store, "blog", receiver.url, SECRET)
    pk = held(store, "wp-1")
    ms.decide(store, pk, "spam", "ann")
    receiver.answers = [503]
    assert webhooks.run_once(store, retry_s=0.05, max_attempts=5) == 1
    [log] = webhooks.deliveries(store)
    assert (log["state"], log["attempts"], log["last_status"]) == ("pending", 1, 503)
    assert webhooks.run_once(store, retry_s=0.05, max_attempts=5) == 0, "not due yet: backoff"
    time.sleep(0.1)
    assert webhooks.run_once(store, retry_s=0.05, max_attempts=5) == 1
    [log] = webhooks.deliveries(store)
    assert (log["state"], log["attempts"], log["last_status"], log["delivered_at"] is not None) == (
        "delivered", 2, 200, True)  # fmt: skip
    assert [a["http_status"] for a in log["log"]] == [503, 200]
    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert receiver.received[0][1] == body, "the retry sends the same body"
    payload = json.loads(body)
    expected = {"event": "verdict", "site": "blog", "id": "wp-1", "verdict": "spam", "status": "rejected",
                "previous_status": "held", "moderator": "ann"}  # fmt: skip
    assert payload == expected | {"decided_at": payload["decided_at"]}
    signature, stamp = headers[webhooks.SIGNATURE_HEADER], headers[webhooks.TIMESTAMP_HEADER]
    assert signature.startswith("sha256=") and webhooks.verify(SECRET, stamp, body, signature)
    assert not webhooks.verify("other", stamp, body, signature)
    assert not webhooks.verify(SECRET, stamp, body + b" ", signature)
    assert not webhooks.verify(SECRET, stamp, body, signature, now=int(stamp) + 3600), "a replay is stale"
    assert headers[webhooks.DELIVERY_HEADER] == str(log["id"])
    assert webhooks.run_once(store, retry_s=0.05, max_attempts=5) == 0, "delivered once"


def test_a_platform_that_stays_down_keeps_the_verdict(store, receiver) -> None:  # type: ignore[no-untyped-def]
    ms.set_webhook(store, "blog", "http://127.0.0.1:9/nothing-listens", SECRET)
    ms.decide(store, held(store, "a"), "ham", "ann")
    for _ in range(3):
        webhooks.run_once(store, retry_s=0.01, max_attempts=3, timeout=2)
        time.sleep(0.05)
    [log] = webhooks.deliveries(store)
    assert (log["state"], log["attempts"]) == ("failed", 3)
    assert all(a["error"] for a in log["log"])
    ms.set_webhook(store, "blog", receiver.url, SECRET)  # the platform is fixed
    assert webhooks.retry_failed(store) == 1
    assert webhooks.run_once(store, retry_s=0.01, max_attempts=3) == 1
    assert webhooks.deliveries(store)[0]["state"] == "delivered"
    assert json.loads(receiver.received[0][1])["verdict"] == "ham"


def test_an_unusable_url_or_an_answer_that_is_not_http_is_a_failed_attempt(store) -> None:  # type: ignore[no-untyped-def]
    # http.client's InvalidURL and BadStatusLine are neither OSError nor ValueError: they once escaped
    # the attempt, which then stayed claimed and was retried forever with 0 attempts counted.
    garbage = socket.create_server(("127.0.0.1", 0))

    def answer_garbage() -> None:
        conn, _ = garbage.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"not http at all\r\n\r\n")

    threading.Thread(target=answer_garbage, daemon=True).start()
    for n, (url, error) in enumerate(
        [
            (f"http://127.0.0.1:{garbage.getsockname()[1]}/hook", "BadStatusLine"),
            ("http://127.0.0.1:9/hook\r\nX-Injected: 1", "InvalidURL"),  # stored before URLs were checked
        ]
    ):
        ms.set_webhook(store, "blog", url, SECRET)
        if n == 0:
            ms.decide(store, held(store, "a"), "ham", "ann")
        time.sleep(0.05)  # past the previous attempt's backoff
        assert webhooks.run_once(store, retry_s=0.01, max_attempts=2, timeout=5) == 1
        [log] = webhooks.deliveries(store)
        assert log["last_error"].startswith(error), log["last_error"]
    assert (log["state"], log["attempts"]) == ("failed", 2)
    garbage.close()


def test_redirects_are_failures(store, receiver) -> None:  # type: ignore[no-untyped-def]
    ms.set_webhook(store, "blog", receiver.url, SECRET)
    ms.decide(store, held(store, "a"), "ham", "ann")
    receiver.answers = [302]
    webhooks.run_once(store, retry_s=10, max_attempts=3)
    assert webhooks.deliveries(store)[0]["last_status"] == 302 and len(receiver.received) == 1


def test_no_webhook_no_delivery_and_removed_webhook_cancels(store, receiver) -> None:  # type: ignore[no-untyped-def]
    ms.decide(store, held(store, "a"), "ham", "ann")
    assert webhooks.deliveries(store) == []
    ms.set_webhook(store, "blog", receiver.url, SECRET)
    ms.decide(store, held(store, "b"), "ham", "ann")
    with pytest.raises(ms.Conflict):
        ms.decide(store, ms.get_by_id(store, "blog", "b").pk, "spam", "bo")
    assert len(webhooks.deliveries(store)) == 1, "a lost conflict sends nothing"
    ms.set_webhook(store, "blog", None, None)
    webhooks.run_once(store, retry_s=1, max_attempts=3)
    assert webhooks.deliveries(store)[0]["state"] == "cancelled" and receiver.received == []


def test_concurrent_claims_never_overlap(store) -> None:  # type: ignore[no-untyped-def]
    ms.set_webhook(store, "blog", "http://127.0.0.1:9/x", SECRET)
    for i in range(40):
        ms.decide(store, held(store, f"c{i}"), "spam", "ann")
    claimed: list[list[int]] = [[], [], []]

    def claimer(n: int) -> None:
        try:
            while batch := webhooks.claim(store, limit=3):
                claimed[n] += [d.id for d in batch]
        finally:
            store.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sum(claimed, [])
    assert sorted(everything) == sorted(set(everything)) and len(everything) == 40
    assert webhooks.claim(store) == [], "claimed ones are leased"
    store.execute("UPDATE webhook_deliveries SET claimed_until = '2000-01-01T00:00:00.000000Z'")
    assert len(webhooks.claim(store, limit=100)) == 40, "an expired lease is claimed again"


def test_verdict_through_the_api_wakes_delivery(client, store, receiver, cheap_scrypt) -> None:  # type: ignore[no-untyped-def]
    from spamguard import moderators as mo

    mo.add_moderator(store, "ann", "password-ann")
    token = mo.create_token(store, "ann")
    ms.set_webhook(store, "blog", receiver.url, SECRET)
    loop = webhooks.loop(store, retry_s=0.05, max_attempts=3, interval=30).start()
    try:
        time.sleep(0.2)
        pk = held(store, "wp-9")
        r = client.post(
            f"/moderation/{pk}", json={"verdict": "ham"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.received, "woken by the verdict, not after the 30 s poll"
    finally:
        loop.stop()
