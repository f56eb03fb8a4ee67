"""The background loop every worker's periodic work runs on."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from spamguard.background import Loop


def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def names() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_runs_first_after_first_then_every_interval_and_stops() -> None:
    calls: list[float] = []
    loop = Loop("t-every", lambda: calls.append(time.monotonic()), 0.05, first=0.0).start()
    assert "spamguard-t-every" in names()
    wait_for(lambda: len(calls) >= 3)
    loop.stop()
    assert "spamguard-t-every" not in names()
    done = len(calls)
    time.sleep(0.15)
    assert len(calls) == done, "nothing runs after stop()"


def test_wake_runs_the_work_at_once_and_stop_ends_a_long_wait() -> None:
    calls: list[int] = []
    loop = Loop("t-wake", lambda: calls.append(1), 3600.0).start()
    time.sleep(0.05)
    assert calls == []
    loop.wake()
    wait_for(lambda: calls == [1])
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 1.0


def test_an_exception_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    class Down(Exception):
        pass

    def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise Down("the store is down")
        if len(calls) == 2:
            raise RuntimeError("a bug")

    closed = threading.Event()
    with caplog.at_level(logging.WARNING, logger="spamguard.background"):
        loop = Loop("t-errors", work, 0.01, first=0.0, expected=(Down,), at_exit=closed.set).start()
        wait_for(lambda: len(calls) >= 3)
        loop.stop()
    assert closed.is_set(), "at_exit ran on the loop's thread as it ended"
    records = {r.getMessage(): r for r in caplog.records}
    assert records["t-errors: the store is down"].exc_info is None  # expected: one line
    assert records["t-errors failed"].exc_info is not None  # a surprise: with its traceback


def test_pause_returns_true_at_once_when_stopping() -> None:
    loop = Loop("t-pause", lambda: None, 3600.0)
    assert loop.pause(0.01) is False
    loop.stop()
    started = time.monotonic()
    assert loop.pause(10) is True
    assert time.monotonic() - started < 1.0


def test_run_in_the_foreground_until_stopped_from_elsewhere() -> None:
    calls: list[int] = []
    loop = Loop("t-fg", lambda: calls.append(1), 0.01, first=0.0)
    threading.Timer(0.1, loop.stop).start()
    loop.run()
    assert calls
