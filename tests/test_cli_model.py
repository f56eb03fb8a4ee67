"""Tests for the model commands (train, score, evaluate, models) through click's CliRunner."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from spamguard import registry
from spamguard.cli import main
from spamguard.features import FeatureSpace
from spamguard.policy import DECISIONS
from training import fit


def walk(command: click.Command, path: tuple[str, ...] = ()):
    """Yield (path, command) for a command and all its subcommands."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def small_training(monkeypatch):
    """Make `spamguard train` fit in a small feature space, so a test trains in about a second."""
    monkeypatch.setattr(
        fit, "TrainConfig", functools.partial(fit.TrainConfig, space=FeatureSpace(10, 11), folds=3)
    )


@pytest.fixture
def labelled_file(tmp_path, demo_comments) -> Path:
    """A JSON Lines file of 80 labelled demo comments (40 of each class)."""
    spam = [c for c in demo_comments if c.label == 1][:40]
    ham = [c for c in demo_comments if c.label == 0][:40]
    return write_jsonl(tmp_path / "labelled.jsonl", [c.to_record() for c in spam + ham])


def two_versions(root: Path) -> tuple[str, str]:
    """Give a registry a second version (a copy of the first under another name)."""
    first = registry.current_version(root)
    target = root / registry.VERSIONS / "v2"
    shutil.copytree(root / registry.VERSIONS / first, target)
    manifest = json.loads((target / registry.MANIFEST).read_text())
    manifest.update(version="v2", created="2999-01-01T00:00:00+00:00")
    (target / registry.MANIFEST).write_text(json.dumps(manifest))
    return first, "v2"


# --- help ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p, _ in walk(main)], ids=lambda p: " ".join(p) or "spamguard")
def test_every_command_has_help(runner, path):
    command = dict(walk(main))[path]
    assert command.help and command.help.strip()
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"
    result = runner.invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and command.help.split("\n")[0][:30] in result.output


# --- train --------------------------------------------------------------------------------------------


def test_train(runner, tmp_path, labelled_file, small_training):
    out = tmp_path / "models"
    result = runner.invoke(main, ["train", str(labelled_file), "--out", str(out), "--C", "2"])
    assert result.exit_code == 0, result.output
    version = registry.current_version(out)
    assert f"trained {version} on 80 comments" in result.output
    assert "out-of-fold ROC AUC" in result.output and f"now current in {out}" in result.output
    manifest = registry.verify(out / registry.VERSIONS / version)
    assert manifest["config"]["C"] == 2.0
    assert manifest["data"]["files"] == {str(labelled_file): registry.sha256_file(labelled_file)}


def test_train_twice_keeps_both_versions(runner, tmp_path, labelled_file, small_training, monkeypatch):
    out = tmp_path / "models"
    names = iter(["first", "second"])
    monkeypatch.setattr(registry, "new_version_name", lambda digest: next(names))
    for _ in range(2):
        assert runner.invoke(main, ["train", str(labelled_file), "--out", str(out)]).exit_code == 0
    assert registry.current_version(out) == "second"
    assert registry.rollback(out) == "first"


def test_train_refuses_too_few_examples(runner, tmp_path, demo_comments):
    few = write_jsonl(tmp_path / "few.jsonl", [c.to_record() for c in demo_comments[:25]])  # all spam
    result = runner.invoke(main, ["train", str(few), "--out", str(tmp_path / "models")])
    assert result.exit_code == 1
    assert "training needs at least 20 labelled examples of each class" in result.output
    assert not (tmp_path / "models" / registry.CURRENT).exists()


def test_train_rejects_a_file_of_unknown_shape(runner, tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("foo,bar\n1,2\n")
    result = runner.invoke(main, ["train", str(odd), "--out", str(tmp_path / "models")])
    assert result.exit_code == 1
    assert f"{odd}: not a known comment file" in result.output
    assert "COMMENT_ID, AUTHOR, DATE, CONTENT, CLASS" in result.output  # names what it expected


def test_missing_path_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["train", str(tmp_path / "nothing.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output


# --- score --------------------------------------------------------------------------------------------


def test_score_prints_one_line_per_record_in_order(runner, tmp_path, demo_registry):
    records = [
        {"id": "z", "content": "Buy cheap pills at http://bit.ly/x now!!!"},
        {"content": "No id on this one, thanks for the post."},
        {"id": 42, "content": "Thanks, the postgres part helped.", "honeypot": "filled"},
        {"id": "a", "content": "", "author_email": "x@mailinator.com"},
    ]
    first = write_jsonl(tmp_path / "first.jsonl", records)
    second = write_jsonl(tmp_path / "second.jsonl", [{"id": "last", "content": "Great recipe."}])
    result = runner.invoke(main, ["score", str(first), str(second), "--model", str(demo_registry)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["z", "first:2", "42", "a", "last"]
    for line in lines:
        assert line["decision"] in DECISIONS and 0.0 <= line["score"] <= 1.0
        assert line["model_version"] == registry.current_version(demo_registry)
        assert all(set(r) == {"signal", "weight", "detail"} for r in line["reasons"])
    assert lines[2]["decision"] == "reject" and lines[2]["reasons"][0]["signal"] == "rule:honeypot_filled"


def test_score_reads_other_formats_and_a_version_dir(runner, tmp_path, demo_registry):
    youtube = tmp_path / "yt.csv"
    youtube.write_text(
        "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n"
        "c1,Ann,2014-01-01T00:00:00,Check out my channel http://bit.ly/x\ufeff,1\n"
        "c2,Bo,2014-01-02T00:00:00,love this song,0\n"
    )
    result = runner.invoke(main, ["score", str(youtube), "--model", str(registry.resolve(demo_registry))])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["c1", "c2"]


def test_score_without_a_model_says_what_to_do(runner, tmp_path):
    data = write_jsonl(tmp_path / "in.jsonl", [{"content": "hi"}])
    result = runner.invoke(main, ["score", str(data), "--model", str(tmp_path / "models")])
    assert result.exit_code == 1
    assert "no model registry at" in result.output and "spamguard train" in result.output
    assert result.stdout == ""


def test_score_refuses_a_tampered_model(runner, tmp_path, registry_dir):
    artifact = registry.resolve(registry_dir) / registry.ARTIFACT
    artifact.write_bytes(artifact.read_bytes()[:-10])
    data = write_jsonl(tmp_path / "in.jsonl", [{"content": "hi"}])
    result = runner.invoke(main, ["score", str(data), "--model", str(registry_dir)])
    assert result.exit_code == 1 and "altered or truncated" in result.output


def test_score_reports_a_bad_record_with_its_line(runner, tmp_path, demo_registry):
    data = tmp_path / "in.jsonl"
    data.write_text('{"content": "ok"}\n{"content": 5}\n')
    result = runner.invoke(main, ["score", str(data), "--model", str(demo_registry)])
    assert result.exit_code == 1
    assert f"{data}: line 2: 'content' must be a string" in result.output


# --- evaluate -----------------------------------------------------------------------------------------


def test_evaluate_json(runner, labelled_file, demo_registry):
    result = runner.invoke(main, ["evaluate", str(labelled_file), "--model", str(demo_registry), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["rows"] == 80 and metrics["spam"] == 40 and metrics["ham"] == 40
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert sum(sum(row.values()) for row in metrics["matrix"].values()) == 80
    assert "report" not in metrics


def test_evaluate_text_and_report(runner, tmp_path, labelled_file, demo_registry):
    report = tmp_path / "out" / "report.html"
    report.parent.mkdir()
    result = runner.invoke(
        main, ["evaluate", str(labelled_file), "--model", str(demo_registry), "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert "ROC AUC" in result.output and "decisions" in result.output
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3


def test_evaluate_needs_labels(runner, tmp_path, demo_registry):
    data = write_jsonl(tmp_path / "unlabelled.jsonl", [{"content": "hi"}])
    result = runner.invoke(main, ["evaluate", str(data), "--model", str(demo_registry)])
    assert result.exit_code == 1 and "no labelled comments to evaluate on" in result.output


# --- models -------------------------------------------------------------------------------------------


def test_models_list(runner, registry_dir):
    first, second = two_versions(registry_dir)
    result = runner.invoke(main, ["models", "list", "--model", str(registry_dir)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"* {first} ") and lines[1].startswith(f"  {second} ")


def test_models_promote_and_rollback(runner, registry_dir):
    first, second = two_versions(registry_dir)
    result = runner.invoke(main, ["models", "promote", second, "--model", str(registry_dir)])
    assert result.exit_code == 0 and f"{second} is now current" in result.output
    assert registry.current_version(registry_dir) == second
    result = runner.invoke(main, ["models", "rollback", "--model", str(registry_dir)])
    assert result.exit_code == 0 and f"rolled back to {first}" in result.output
    assert registry.current_version(registry_dir) == first


@pytest.mark.parametrize("version", ["nope", "../versions", "../../etc/passwd"])
def test_models_promote_refuses_unknown_versions(runner, registry_dir, version):
    before = registry.current_version(registry_dir)
    result = runner.invoke(main, ["models", "promote", version, "--model", str(registry_dir)])
    assert result.exit_code == 1 and "see `spamguard models list`" in result.output
    assert registry.current_version(registry_dir) == before


def test_models_promote_refuses_a_tampered_version(runner, registry_dir):
    _, second = two_versions(registry_dir)
    manifest_path = registry_dir / registry.VERSIONS / second / registry.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["libraries"]["scikit-learn"] = "0.1"
    manifest_path.write_text(json.dumps(manifest))
    result = runner.invoke(main, ["models", "promote", second, "--model", str(registry_dir)])
    assert result.exit_code == 1 and "trained with scikit-learn 0.1" in result.output
    assert registry.current_version(registry_dir) != second


def test_models_rollback_without_history(runner, registry_dir):
    result = runner.invoke(main, ["models", "rollback", "--model", str(registry_dir)])
    assert result.exit_code == 1 and "no earlier version to roll back to" in result.output


# --- progress on a terminal ---------------------------------------------------------------------------


def run_with_stderr(args: list[str], terminal: bool, out: Path) -> tuple[str, str]:
    """Run the real command with stderr on a pseudo-terminal (or a pipe); return (stdout, stderr)."""
    import os
    import pty
    import subprocess
    import sys

    command = [sys.executable, "-c", "from spamguard.cli import main; main()", *args]
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
        return done.stdout, done.stderr
    leader, follower = pty.openpty()
    with out.open("w") as stdout:  # a file: a full pipe would block the child while we read the terminal
        proc = subprocess.Popen(command, stdout=stdout, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    return out.read_text(), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_long_runs_show_progress_on_a_terminal_only(tmp_path, demo_registry, demo_comments, command):
    data = write_jsonl(tmp_path / "many.jsonl", [c.to_record() for c in demo_comments] * 3)
    rows = len(demo_comments) * 3
    args = [command, str(data), "--model", str(demo_registry)]
    out, err = run_with_stderr(args, terminal=True, out=tmp_path / "out")
    assert "scoring" in err and "100%" in err, err[-500:]
    assert "scoring" not in out  # the bar never mixes into the results
    piped_out, piped_err = run_with_stderr(args, terminal=False, out=tmp_path / "piped")
    assert piped_err == ""
    assert piped_out == out
    if command == "score":
        assert len(out.splitlines()) == rows
    else:
        assert f"{rows}" in out


def test_models_list_with_a_broken_current_warns_and_lists(runner, registry_dir):
    version = registry.current_version(registry_dir)
    (registry_dir / registry.CURRENT).write_text("../../etc\n")
    result = runner.invoke(main, ["models", "list", "--model", str(registry_dir)])
    assert result.exit_code == 0, result.output
    assert "not a version name" in result.stderr and f"  {version}" in result.stdout


# --- misuse and OS errors: one line on stderr, never a traceback --------------------------------------


def run_real(args: list[str], stdout=None) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """Run the real command (stdout to a file object if given); return the finished process."""
    command = [sys.executable, "-c", "from spamguard.cli import main; main()", *args]
    return subprocess.run(
        command, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120
    )


needs_dev_full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


@pytest.mark.parametrize(
    ("option", "value"),
    [("--C", "nan"), ("--C", "inf"), ("--C", "0"), ("--C", "-1"), ("--C", "1e308"),
     ("--max-ham-rejected", "nan"), ("--max-ham-rejected", "inf"), ("--max-ham-rejected", "-0.1"),
     ("--max-spam-approved", "nan"), ("--max-spam-approved", "2")],
)  # fmt: skip
def test_train_options_must_be_finite_and_in_range(runner, tmp_path, option, value):
    data = write_jsonl(tmp_path / "d.jsonl", [{"content": "hi", "label": "ham"}])
    result = runner.invoke(main, ["train", str(data), "--out", str(tmp_path / "m"), option, value])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"Invalid value for '{option}'" in result.stderr
    assert not (tmp_path / "m").exists()


def test_train_out_must_be_a_directory(runner, tmp_path, labelled_file, small_training):
    result = runner.invoke(main, ["train", str(labelled_file), "--out", str(labelled_file)])
    assert result.exit_code == 2 and f"Directory '{labelled_file}' is a file" in result.stderr
    under_a_file = labelled_file / "models"
    result = runner.invoke(main, ["train", str(labelled_file), "--out", str(under_a_file), "--no-store"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"Error: cannot write the model to {under_a_file}: Not a directory" in result.stderr


def test_evaluate_report_in_a_missing_directory(runner, tmp_path, labelled_file, demo_registry):
    report = tmp_path / "missing" / "r.html"
    result = runner.invoke(
        main, ["evaluate", str(labelled_file), "--model", str(demo_registry), "--report", str(report)]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"Error: cannot write {report}: No such file or directory" in result.stderr


@needs_dev_full
def test_evaluate_report_on_a_full_disk(runner, labelled_file, demo_registry):
    args = ["evaluate", str(labelled_file), "--model", str(demo_registry), "--report", "/dev/full"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Error: cannot write /dev/full: No space left on device" in result.stderr


@needs_dev_full
@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_stdout_on_a_full_disk(labelled_file, demo_registry, command):
    with open("/dev/full", "w") as full:
        done = run_real([command, str(labelled_file), "--model", str(demo_registry)], stdout=full)
    assert done.returncode == 1
    assert done.stderr == "Error: cannot write standard output: No space left on device\n"


def test_score_into_a_closed_pipe_exits_quietly(tmp_path, demo_registry, demo_comments):
    data = write_jsonl(tmp_path / "many.jsonl", [c.to_record() for c in demo_comments] * 20)
    command = [sys.executable, "-c", "from spamguard.cli import main; main()", "score", str(data),
               "--model", str(demo_registry)]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout.readline().startswith("{")  # then the reader goes, as `| head -1` does
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=120) != 0
    assert "Traceback" not in stderr and "Error" not in stderr, stderr


@pytest.mark.parametrize("command", [["list"], ["promote", "v1"], ["rollback"]])
def test_models_commands_need_a_registry(runner, tmp_path, command):
    missing = tmp_path / "nowhere"
    result = runner.invoke(main, ["models", *command, "--model", str(missing)])
    assert result.exit_code == 1, result.output
    assert f"Error: no model registry at {missing}: run `spamguard train data/` first" in result.stderr
    a_file = write_jsonl(tmp_path / "f.jsonl", [])
    result = runner.invoke(main, ["models", *command, "--model", str(a_file)])
    assert result.exit_code == 1 and "is a file, not a model registry" in result.stderr


def test_models_list_of_an_empty_registry_says_so(runner, tmp_path):
    result = runner.invoke(main, ["models", "list", "--model", str(tmp_path)])
    assert result.exit_code == 0 and result.stdout == ""
    assert "holds no model versions yet" in result.stderr


def test_score_skips_a_named_pipe_in_a_directory_and_refuses_one_named(runner, tmp_path, demo_registry):
    from tests.test_loaders import fifo_at

    root = tmp_path / "in"
    root.mkdir()
    write_jsonl(root / "a.jsonl", [{"id": "a", "content": "hi"}])
    with fifo_at(root / "p.jsonl") as pipe:
        result = runner.invoke(main, ["score", str(root), "--model", str(demo_registry)])
        assert result.exit_code == 0, result.output
        assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a"]
        assert f"warning: skipped {pipe}: not a regular file" in result.stderr
        result = runner.invoke(main, ["score", str(pipe), "--model", str(demo_registry)])
        assert result.exit_code == 1 and f"Error: {pipe}: not a regular file" in result.stderr
