"""Webhooks: each verdict POSTed to its site's URL, signed, retried with backoff, from an outbox.

`moderation_store.decide` writes a `webhook_deliveries` row in the verdict's own transaction (the
outbox), so a verdict is never lost when the platform is down or a worker dies. Any number of
delivery loops (a thread in every `spamguard serve` worker, on every replica, and/or
`spamguard webhooks run`) share the rows: each claims due deliveries for a lease
(`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)` on PostgreSQL; the same UPDATE under
SQLite's single writer), so one delivery is attempted by one loop at a time. Delivery is at least
once: a loop dying between the platform's 2xx and the bookkeeping means a second POST after the
lease, with the same `X-Spamguard-Delivery` id.

The body is JSON; `X-Spamguard-Signature: sha256=<hex>` is HMAC-SHA256 with the site's secret over
`<X-Spamguard-Timestamp>.<raw body>` (unix seconds), so a receiver can refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from spamguard import __version__
from spamguard.background import Loop
from spamguard.moderation_store import webhook_of
from spamguard.store import Store, StoreError, utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Spamguard-Signature"
TIMESTAMP_HEADER = "X-Spamguard-Timestamp"
DELIVERY_HEADER = "X-Spamguard-Delivery"
# A platform must answer within this; a slow one is retried like a failing one.
TIMEOUT_S = 10.0
# A claimed delivery not finished in this time (its loop died) is claimed again by another loop.
LEASE_S = 60.0
MAX_DELAY_S = 3600.0
# Deliveries one loop claims at a time: small, so other loops share a backlog.
BATCH = 10
# Seconds a receiver should accept between the timestamp and its clock (see `verify`).
TOLERANCE_S = 300

# Set by a verdict in this process, so the worker's loop delivers at once instead of at its next poll.
_loops: weakref.WeakSet[Loop] = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verdict to POST to one site."""

    id: int
    site: str
    url: str
    payload: str
    attempts: int


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value of a body sent at `timestamp`."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """Check a delivery as a receiver should: signature (constant-time) and a recent timestamp."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > TOLERANCE_S:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _later(seconds: float) -> str:
    return _iso(datetime.now(UTC) + timedelta(seconds=seconds))


def wake() -> None:
    """Tell this process's delivery loop there is something to send."""
    for delivery_loop in list(_loops):
        delivery_loop.wake()


def claim(store: Store, limit: int = BATCH, lease_s: float = LEASE_S) -> list[Delivery]:
    """Claim up to `limit` due deliveries for `lease_s` seconds; return them."""
    now = utcnow()
    due = (
        "SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= :now"
        " AND (claimed_until IS NULL OR claimed_until < :now)"
    )
    # A read first: an idle loop never takes SQLite's write lock away from scoring.
    if store.execute(due + " LIMIT 1", {"now": now}).fetchone() is None:
        return []
    lock = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""
    rows = store.execute(
        f"UPDATE webhook_deliveries SET claimed_until = :until WHERE id IN ({due} ORDER BY id LIMIT :n{lock})"
        " RETURNING id, site, url, payload, attempts",
        {"now": now, "until": _later(lease_s), "n": limit},
    ).fetchall()
    return sorted((Delivery(int(r[0]), r[1], r[2], r[3], int(r[4])) for r in rows), key=lambda d: d.id)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer we do not follow: the delivery failed


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, secret: str, delivery_id: int, body: bytes, timeout: float = TIMEOUT_S) -> int:
    """POST a signed body; return the HTTP status (raise OSError when there is none)."""
    timestamp = int(time.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"spamguard/{__version__}",
        TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body),
        DELIVERY_HEADER: str(delivery_id),
    })  # fmt: skip
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def attempt(store: Store, delivery: Delivery, retry_s: float, max_attempts: int,
            timeout: float = TIMEOUT_S) -> bool:  # fmt: skip
    """Try one delivery and record the outcome; return whether the platform took it."""
    hook = webhook_of(store, delivery.site)
    now = utcnow()
    if hook is None:
        store.execute(
            "UPDATE webhook_deliveries SET state = 'cancelled', claimed_until = NULL,"
            " last_error = 'the site has no webhook any more' WHERE id = :id",
            {"id": delivery.id},
        )
        return False
    url, secret = hook
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        status = post(url, secret, delivery.id, delivery.payload.encode("utf-8"), timeout)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    # Refused, timed out, DNS, a URL urllib cannot use, an answer that is not HTTP (http.client's
    # BadStatusLine, InvalidURL… are neither OSError nor ValueError): each is one failed attempt.
    except (OSError, ValueError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    elapsed_ms = (time.perf_counter() - started) * 1000
    attempts = delivery.attempts + 1
    with store.transaction() as run:
        run(
            store.sql(
                "INSERT INTO webhook_attempts (delivery_id, at, http_status, error, elapsed_ms)"
                " VALUES (:d, :at, :s, :e, :ms)"
            ),
            {"d": delivery.id, "at": now, "s": status, "e": error, "ms": round(elapsed_ms, 3)},
        )
        if error is None:
            state, next_at = "delivered", now
        elif attempts >= max_attempts:
            state, next_at = "failed", now
        else:
            delay = min(retry_s * 2 ** (attempts - 1), MAX_DELAY_S) * random.uniform(0.9, 1.1)
            state, next_at = "pending", _later(delay)
        run(
            store.sql(
                "UPDATE webhook_deliveries SET state = :state, attempts = :n, next_attempt_at = :next,"
                " claimed_until = NULL, last_status = :s, last_error = :e, url = :url,"
                " delivered_at = :done WHERE id = :id"
            ),
            {"state": state, "n": attempts, "next": next_at, "s": status, "e": error, "url": url,
             "done": now if error is None else None, "id": delivery.id},
        )  # fmt: skip
    if error is not None:
        log.warning("webhook delivery %s to %s failed (attempt %s, %s): %s", delivery.id, url, attempts,
                    state, error)  # fmt: skip
    return error is None


def run_once(store: Store, retry_s: float, max_attempts: int, timeout: float = TIMEOUT_S) -> int:
    """Deliver what is due now, a batch at a time; return how many deliveries were attempted."""
    done = 0
    while batch := claim(store):
        for delivery in batch:
            attempt(store, delivery, retry_s, max_attempts, timeout)
            done += 1
    return done


def loop(store: Store, retry_s: float, max_attempts: int, interval: float = 1.0) -> Loop:
    """Return the delivery loop (not started): due webhooks every `interval` seconds, or when woken."""
    delivery_loop = Loop("webhooks", lambda: run_once(store, retry_s, max_attempts), interval, first=0.0,
                         expected=(StoreError,), at_exit=store.close)  # fmt: skip
    _loops.add(delivery_loop)
    return delivery_loop


def retry_failed(store: Store, site: str | None = None) -> int:
    """Make failed deliveries pending again (after the platform is fixed); return how many."""
    params: dict[str, Any] = {"now": utcnow()}
    where = "state = 'failed'"
    if site:
        where += " AND site = :site"
        params["site"] = site
    cursor = store.execute(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = :now"
        f" WHERE {where}",
        params,
    )
    return int(cursor.rowcount)


def deliveries(store: Store, limit: int = 50, site: str | None = None) -> list[dict[str, Any]]:
    """Return the delivery log, newest first: each delivery with its state and every attempt."""
    params: dict[str, Any] = {"n": max(1, min(limit, 1000))}
    where = ""
    if site:
        where, params["site"] = "WHERE site = :site", site
    rows = store.execute(
        "SELECT id, site, url, payload, state, attempts, next_attempt_at, last_status, last_error,"
        f" created_at, delivered_at FROM webhook_deliveries {where} ORDER BY id DESC LIMIT :n",
        params,
    ).fetchall()
    names = ("id", "site", "url", "payload", "state", "attempts", "next_attempt_at", "last_status",
             "last_error", "created_at", "delivered_at")  # fmt: skip
    out = [dict(zip(names, row, strict=True)) for row in rows]
    for d in out:
        d["payload"] = json.loads(d["payload"])
        d["log"] = [
            {"at": a[0], "http_status": a[1], "error": a[2], "elapsed_ms": a[3]}
            for a in store.execute(
                "SELECT at, http_status, error, elapsed_ms FROM webhook_attempts WHERE delivery_id = :d"
                " ORDER BY id",
                {"d": d["id"]},
            ).fetchall()
        ]
    return out
