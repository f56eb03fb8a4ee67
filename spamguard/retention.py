"""The history's retention: prune what is older than SPAMGUARD_HISTORY_RETENTION_DAYS, on a schedule.

Every `spamguard serve` worker, on every replica, runs `loop` on a daemon thread, and `spamguard
purge` prunes once. The work is idempotent and bounded (history.prune deletes PRUNE_BATCH rows per
statement and pauses between them), so several processes pruning at once only share it; the first
run waits a random part of the interval, so workers started together do not all prune together.
"""

from __future__ import annotations

import logging
import random
import threading

from spamguard import history
from spamguard.store import Store, StoreError

log = logging.getLogger(__name__)

# Seconds between prunes in each worker (the history's oldest day is gone within about this long).
INTERVAL_S = 3600.0
# Pause between two delete statements: lets the /score writers of a busy SQLite database in.
PAUSE_S = 0.05
DAY_S = 86400.0


def prune(store: Store, days: float, stop: threading.Event | None = None) -> int:
    """Delete history older than `days` (0: keep it forever); return how many comments it dropped."""
    if days <= 0:
        return 0
    wait = stop.wait if stop is not None else threading.Event().wait
    return history.prune(store, days * DAY_S, pause=lambda: wait(PAUSE_S))


def loop(store: Store, days: float, stop: threading.Event, interval: float = INTERVAL_S) -> None:
    """Prune every `interval` seconds (the first time after a random part of it) until `stop` is set."""
    delay = random.uniform(0.1, 1.0) * interval
    while not stop.wait(delay):
        try:
            dropped = prune(store, days, stop)
        except StoreError as exc:
            log.warning("history prune: %s", exc)
        else:
            if dropped:
                log.info("pruned %d comments older than %g days from the history", dropped, days)
        delay = interval
    store.close()


def start(store: Store, days: float, interval: float = INTERVAL_S) -> threading.Event | None:
    """Start the prune loop on a daemon thread (none when days is 0); return the event that stops it."""
    if days <= 0:
        return None
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(store, days, stop, interval), name="spamguard-retention",
                              daemon=True)  # fmt: skip
    thread.start()
    return stop
