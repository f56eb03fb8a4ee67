"""Retention: decided comments lose their personal fields (or whole rows); held comments are never purged."""

from __future__ import annotations

import pytest

from spamguard import moderation_store as ms
from spamguard.cli import main
from spamguard.policy import Reason, Thresholds, Verdict

PERSONAL = {"author_ip": "203.0.113.9", "author_email": "bob@example.org", "user_agent": "Mozilla/5.0"}


def put(store, cid: str, decision: str, days_old: float) -> None:  # type: ignore[no-untyped-def]
    v = Verdict(decision, 0.5, [Reason("x", 1.0, "")], "v1", "c", Thresholds(0.2, 0.9))
    store.insert_comment(
        "blog", cid, {"id": cid, "content": f"text {cid}", "author_name": "Bob", **PERSONAL}, v
    )
    store.execute(
        "UPDATE comments SET created_at = :t WHERE comment_id = :c",
        {"t": f"20{26 - int(days_old // 365):02d}-01-01T00:00:00.000000Z", "c": cid},
    )


@pytest.fixture
def aged(store):  # type: ignore[no-untyped-def]
    put(store, "old-approved", "approve", 800)
    put(store, "old-rejected", "reject", 800)
    put(store, "old-held", "hold", 800)
    put(store, "new-approved", "approve", 0)
    store.add_feedback("blog", "old-approved", "spam", {"content": "x", **PERSONAL}, "api")
    store.execute("UPDATE feedback SET created_at = '2020-01-01T00:00:00.000000Z'")
    return store


def record(store, cid: str) -> dict | None:  # type: ignore[no-untyped-def]
    found = ms.get_by_id(store, "blog", cid)
    return found.record if found else None


def test_personal_fields_go_and_the_rest_stays(aged) -> None:  # type: ignore[no-untyped-def]
    assert ms.purge(aged, 365) == 2
    for cid in ("old-approved", "old-rejected"):
        assert record(aged, cid) == {"id": cid, "content": f"text {cid}", "author_name": "Bob"}
    assert record(aged, "old-held")["author_ip"] == "203.0.113.9", "held comments are never purged"
    assert record(aged, "new-approved")["author_email"] == "bob@example.org"
    assert aged.list_feedback("blog")[0]["record"] == {"content": "x"}
    assert ms.purge(aged, 365) == 0, "nothing left to purge"


def test_whole_rows(aged) -> None:  # type: ignore[no-untyped-def]
    assert ms.purge(aged, 365, whole_rows=True) == 2
    assert record(aged, "old-approved") is None and record(aged, "old-rejected") is None
    assert record(aged, "old-held") is not None and record(aged, "new-approved") is not None


def test_purge_command(aged, runner, monkeypatch, database_url) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SPAMGUARD_DATABASE_URL", database_url)
    result = runner.invoke(main, ["purge", "--older-than", "365"])
    assert result.exit_code == 0, result.output
    assert "removed personal fields from 2 decided comments" in result.output
    monkeypatch.setenv("SPAMGUARD_PURGE_WHOLE_ROWS", "true")
    result = runner.invoke(main, ["purge", "--older-than", "365"])
    assert "deleted 2 decided comments" in result.output
    assert record(aged, "old-held") is not None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "99999999999", "800000", "36501", "-1"])
@pytest.mark.parametrize("option", ["--older-than", "--history-days"])
def test_ages_must_be_finite_and_at_most_100_years(runner, option, value) -> None:  # type: ignore[no-untyped-def]
    args = (
        ["purge", option, value]
        if option == "--older-than"
        else ["purge", "--older-than", "1", option, value]
    )
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"Invalid value for '{option}'" in result.stderr
    assert "not a finite number" in result.stderr or "not in the range 0<=x<=36500" in result.stderr


def test_the_oldest_age_purges_nothing(aged, runner, monkeypatch, database_url) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SPAMGUARD_DATABASE_URL", database_url)
    result = runner.invoke(main, ["purge", "--older-than", "36500", "--history-days", "36500"])
    assert result.exit_code == 0, result.output
    assert "removed personal fields from 0 decided comments older than 36500 days" in result.output
    assert runner.invoke(main, ["purge", "--help"]).output.count("0<=x<=36500") == 2
