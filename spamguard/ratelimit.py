"""Per-key rate limit: a token bucket per API key, in each worker process.

The buckets live in the worker's memory, so with N gunicorn workers a key may get up to N times
SPAMGUARD_RATE_LIMIT per minute in the worst case (requests spread over every worker). That is
enough to stop a runaway client without a shared store on the hot path.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """Allow `per_minute` requests per key, in bursts of up to `per_minute`."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()
        # A bucket left alone this long is full again, the same as no bucket: it is dropped then.
        self._refill_s = 60.0
        self._next_sweep = 0.0

    def acquire(self, key: int, now: float | None = None) -> int:
        """Take one token for a key: 0 if allowed, else the seconds to wait (Retry-After)."""
        if self.capacity <= 0:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            # Less a hair: float error must not turn a wait of exactly n seconds into n + 1.
            return max(1, math.ceil((1.0 - tokens) / self.rate - 1e-9))

    def _sweep(self, now: float) -> None:
        """Drop the buckets that have refilled (at most once a refill period), so memory follows the
        keys in use rather than every key ever seen."""
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self._refill_s}
        self._next_sweep = now + self._refill_s

    def __len__(self) -> int:
        """Return how many keys have a bucket (the ones used within the last refill period or so)."""
        return len(self._buckets)
