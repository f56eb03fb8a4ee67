"""The history's retention: prune what is older than SPAMGUARD_HISTORY_RETENTION_DAYS, on a schedule.

Every `spamguard serve` worker, on every replica, runs the `loop` on a daemon thread, and `spamguard
purge` prunes once. The work is idempotent and bounded (history.prune deletes PRUNE_BATCH rows per
statement and pauses between them), so several processes pruning at once only share it; the first
run waits a random part of the interval, so workers started together do not all prune together.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from spamguard import history
from spamguard.background import Loop
from spamguard.store import Store, StoreError

log = logging.getLogger(__name__)

# Seconds between prunes in each worker (the history's oldest day is gone within about this long).
INTERVAL_S = 3600.0
# Pause between two delete statements: lets the /score writers of a busy SQLite database in.
PAUSE_S = 0.05
DAY_S = 86400.0


def prune(store: Store, days: float, pause: Callable[[float], object] | None = None) -> int:
    """Delete history older than `days` (0: keep it forever); return how many comments it dropped.

    `pause(seconds)` sleeps between two delete statements (default: time.sleep).
    """
    if not days > 0:  # 0 keeps the history; so does nan, which no cutoff can be computed from
        return 0
    wait = pause or time.sleep
    return history.prune(store, days * DAY_S, pause=lambda: wait(PAUSE_S))


def loop(store: Store, days: float, interval: float = INTERVAL_S) -> Loop | None:
    """Return the prune loop of a worker (not started; None when days is 0): every `interval` seconds,
    the first time after a random part of it."""
    if not days > 0:
        return None

    def work() -> None:
        dropped = prune(store, days, prune_loop.pause)
        if dropped:
            log.info("pruned %d comments older than %g days from the history", dropped, days)

    prune_loop = Loop("retention", work, interval, first=random.uniform(0.1, 1.0) * interval,
                      expected=(StoreError,), at_exit=store.close)  # fmt: skip
    return prune_loop
