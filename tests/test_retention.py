"""History retention: bounded pruning, the schedule in every worker, `spamguard purge`, the setting."""

from __future__ import annotations

import threading
import time

import pytest

from spamguard import history, retention
from spamguard.cli import main
from spamguard.comment import parse_record
from spamguard.settings import SettingsError, load_settings

DAY = 86400.0
NOW = 1_900_000_000.0


def remember(store, cid: str, days_old: float) -> None:  # type: ignore[no-untyped-def]
    record = {"content": f"comment {cid} with words enough to have a sketch", "author_ip": "203.0.113.9",
              "author_email": f"{cid}@example.org"}  # fmt: skip
    history.record(
        store, "blog", cid, history.facts(parse_record(record)), "approve", now=NOW - days_old * DAY
    )


def count(store, table: str) -> int:  # type: ignore[no-untyped-def]
    return int(store.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_prune_deletes_only_old_history_in_bounded_batches(store) -> None:  # type: ignore[no-untyped-def]
    for i in range(7):
        remember(store, f"old{i}", 40)
    remember(store, "new", 1)
    assert count(store, "history") == 8 and count(store, "history_keys") == 16
    pauses = []
    dropped = history.prune(store, 30 * DAY, now=NOW, batch=3, pause=lambda: pauses.append(1))
    assert dropped == 7
    assert [r[0] for r in store.execute("SELECT comment_id FROM history").fetchall()] == ["new"]
    assert count(store, "history_keys") == 2
    assert len(pauses) == 4 + 2  # 14 keys in batches of 3 (4 full), 7 comments (2 full)
    assert history.prune(store, 30 * DAY, now=NOW) == 0


def test_retention_zero_keeps_everything(store) -> None:  # type: ignore[no-untyped-def]
    remember(store, "ancient", 10_000)
    assert retention.prune(store, 0) == 0 and retention.loop(store, 0) is None
    assert count(store, "history") == 1


def test_the_loop_prunes_on_its_schedule_and_stops(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(history, "clock", lambda: NOW)
    remember(store, "old", 40)
    remember(store, "new", 1)
    loop = retention.loop(store, 30, interval=0.05)
    assert loop is not None
    loop.start()
    deadline = time.monotonic() + 10
    while count(store, "history") == 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert count(store, "history") == 1
    loop.stop()
    assert not [t for t in threading.enumerate() if t.name == "spamguard-retention"]


def test_every_worker_starts_the_schedule(make_app) -> None:  # type: ignore[no-untyped-def]
    def loops(**changes: object) -> set[str]:
        return {loop.name for loop in make_app(**changes).extensions["spamguard"].loops}

    assert "retention" in loops(background=True, history_retention_days=30)
    assert "retention" not in loops(background=True, history_retention_days=0)
    assert loops(history_retention_days=30) == set()


def test_purge_prunes_the_history(runner, settings, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SPAMGUARD_DATABASE_URL", settings.database_url)
    now = time.time()
    monkeypatch.setattr(history, "clock", lambda: now)
    remember(store, "old", (NOW - now) / DAY + 100)  # 100 days before now
    remember(store, "recent", (NOW - now) / DAY + 10)
    result = runner.invoke(main, ["purge", "--older-than", "30", "--history-days", "0"])
    assert result.exit_code == 0, result.output
    assert "history" not in result.output and count(store, "history") == 2
    result = runner.invoke(main, ["purge", "--older-than", "30"])  # the default: 90 days
    assert result.exit_code == 0, result.output
    assert "pruned 1 comments older than 90 days from the history" in result.output
    assert [r[0] for r in store.execute("SELECT comment_id FROM history").fetchall()] == ["recent"]
    monkeypatch.setenv("SPAMGUARD_HISTORY_RETENTION_DAYS", "5")
    assert (
        "pruned 1 comments older than 5 days" in runner.invoke(main, ["purge", "--older-than", "30"]).output
    )


@pytest.mark.parametrize("value", ["-1", "soon", "inf"])
def test_bad_retention_is_refused_with_the_variable_named(value: str) -> None:
    with pytest.raises(SettingsError, match="SPAMGUARD_HISTORY_RETENTION_DAYS"):
        load_settings({"SPAMGUARD_HISTORY_RETENTION_DAYS": value})


def test_nan_days_keep_the_history(store) -> None:  # type: ignore[no-untyped-def]
    remember(store, "old", 1000)
    assert retention.prune(store, float("nan")) == 0
    assert retention.loop(store, float("nan")) is None
    assert count(store, "history") == 1
