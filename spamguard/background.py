"""Background loops: each worker's periodic work (model reload, spool drain, WAL checkpoints, webhook
delivery, history pruning), every one on a daemon thread of its own, started and stopped the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Loop:
    """Call `work` every `interval` seconds (the first time after `first`, default `interval`).

    `wake()` calls it at once. An exception from `work` is logged and the loop goes on: a background
    thread must outlive any surprise, or its work silently stops. Exceptions of the `expected` types
    (an unreachable store) are one line of warning each, not a traceback. `at_exit` runs on the
    loop's thread as it ends (to close that thread's database connection).
    """

    def __init__(self, name: str, work: Callable[[], object], interval: float, *, first: float | None = None,
                 expected: tuple[type[BaseException], ...] = (),
                 at_exit: Callable[[], object] | None = None) -> None:  # fmt: skip
        self.name = name
        self.work = work
        self.interval = interval
        self.first = interval if first is None else first
        self.expected = expected
        self.at_exit = at_exit
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Loop:
        """Run the loop on a daemon thread named `spamguard-<name>`; return self."""
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self.run, name=f"spamguard-{self.name}", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """Do the work now rather than at the end of the current interval."""
        self._wake.set()

    def pause(self, seconds: float) -> bool:
        """Sleep between two steps of the work; return True (at once) if the loop is being stopped."""
        return self._stopped.wait(seconds)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait up to `timeout` seconds for its thread to end."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        """Run the loop in the calling thread until stop() (a command's foreground loop)."""
        delay = self.first
        try:
            while True:
                self._wake.wait(delay)
                self._wake.clear()
                if self._stopped.is_set():
                    return
                try:
                    self.work()
                except self.expected as exc:
                    log.warning("%s: %s", self.name, exc)
                except Exception:
                    log.exception("%s failed", self.name)
                delay = self.interval
        finally:
            if self.at_exit is not None:
                self.at_exit()
