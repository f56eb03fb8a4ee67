"""The learning loop: verdicts and feedback are labels, the model's decisions never; train uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spamguard import moderation_store as ms
from spamguard.cli import main
from spamguard.policy import Reason, Thresholds, Verdict
from tests.conftest import demo_records


def put(store, cid: str, content: str, decision: str = "hold") -> int:  # type: ignore[no-untyped-def]
    v = Verdict(decision, 0.5, [Reason("x", 1.0, "")], "v1", "c", Thresholds(0.2, 0.9))
    store.insert_comment(
        "blog", cid, {"id": cid, "site": "blog", "content": content, "author_ip": "203.0.113.9"}, v
    )
    return ms.get_by_id(store, "blog", cid).pk


@pytest.fixture
def cli_env(monkeypatch, database_url) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SPAMGUARD_DATABASE_URL", database_url)


def test_only_human_labels_and_the_latest_wins(store) -> None:  # type: ignore[no-untyped-def]
    put(store, "model-approved", "fine", "approve")
    put(store, "model-rejected", "spammy", "reject")
    put(store, "held", "unsure")
    ms.decide(store, put(store, "v1", "pills pills"), "spam", "ann")
    ms.decide(store, put(store, "v2", "nice post"), "ham", "ann")
    ms.feedback(store, "blog", "v2", "spam")  # the platform later says v2 was spam after all
    ms.feedback(store, "blog", "model-approved", "spam")
    store.add_feedback("blog", None, "ham", {"content": "reported by akismet", "site": "blog"}, "akismet")
    got = {r["content"]: r["label"] for r in ms.labelled_records(store)}
    assert got == {"pills pills": "spam", "nice post": "spam", "fine": "spam", "reported by akismet": "ham"}
    # A moderator's later verdict beats earlier feedback.
    ms.decide(
        store, ms.get_by_id(store, "blog", "model-approved").pk, "ham", "bo", expected_status="approved"
    )
    assert {r["content"]: r["label"] for r in ms.labelled_records(store)}["fine"] == "ham"


def test_labels_export(store, runner, cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ms.decide(store, put(store, "a", "pills"), "spam", "ann")
    put(store, "b", "held one")
    out = tmp_path / "labels.jsonl"
    result = runner.invoke(main, ["labels", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 1 labels" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [
        {"id": "a", "site": "blog", "content": "pills", "author_ip": "203.0.113.9", "label": "spam"}
    ]


def test_train_uses_store_labels_and_a_human_label_wins(store, runner, cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = demo_records()
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    # A comment the file calls ham, that a moderator called spam; and a new one only the store has.
    file_ham = next(r for r in records if r["label"] == "ham")["content"]
    ms.decide(store, put(store, "x", file_ham), "spam", "ann")
    ms.decide(store, put(store, "y", "A brand new comment nobody labelled before"), "ham", "ann")
    put(store, "z", "held, never a label")
    out = tmp_path / "models"
    result = runner.invoke(main, ["train", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "used 2 human labels from the store" in result.output
    manifest = json.loads(next(out.glob("versions/*/manifest.json")).read_text())
    data_info = manifest["data"]
    assert data_info["store_labels"] == 2
    assert data_info["rows_per_source"]["store"] == {"spam": 1, "ham": 1}
    distinct = len({" ".join(r["content"].split()) for r in records})
    assert data_info["rows"] == distinct + 1, "the relabelled comment counts once, the new one adds one"
    result = runner.invoke(main, ["train", str(data), "--out", str(out), "--no-store"])
    assert result.exit_code == 0 and "human labels" not in result.output


def test_train_without_a_store_uses_files_only(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_records()))
    result = runner.invoke(main, ["train", str(data), "--out", str(tmp_path / "models")])
    assert result.exit_code == 0, result.output
    assert "human labels" not in result.output


def test_labels_export_dash_is_stdout(store, runner, cli_env, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ms.decide(store, put(store, "a", "pills"), "spam", "ann")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["labels", "export", "-"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a"]
    assert "wrote 1 labels to stdout" in result.stderr
    assert not (tmp_path / "-").exists()
    assert "`-`: stdout" in runner.invoke(main, ["labels", "export", "--help"]).output


def test_labels_export_to_a_missing_directory(store, runner, cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "missing" / "labels.jsonl"
    result = runner.invoke(main, ["labels", "export", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"Error: cannot write {out}: No such file or directory" in result.stderr


def test_labels_export_writes_into_a_named_pipe(store, runner, cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import threading

    ms.decide(store, put(store, "a", "pills"), "spam", "ann")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_text()), daemon=True)
    reader.start()
    result = runner.invoke(main, ["labels", "export", str(pipe)])
    assert result.exit_code == 0, result.output
    reader.join(timeout=10)
    assert pipe.is_fifo(), "the pipe is written to, not replaced by a file"
    assert [json.loads(line)["id"] for line in got[0].splitlines()] == ["a"]
