"""Tests for the shared parts of the command line (spamguard.cli): option types and OS errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from spamguard.cli import FiniteRange, writing


@click.command()
@click.option("--days", type=FiniteRange(0, 10))
@click.option("--out", type=click.Path())
def tool(days: float | None, out: str | None) -> None:
    """A command using the shared helpers."""
    if out:
        with writing(out), open(out, "w") as f:
            f.write("x")
    click.echo(repr(days))


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "11", "-1", "soon"])
def test_finite_range_refuses_what_is_not_a_number_in_it(value):
    result = CliRunner().invoke(tool, ["--days", value])
    assert result.exit_code == 2 and "Invalid value for '--days'" in result.stderr


def test_finite_range_takes_its_bounds():
    assert CliRunner().invoke(tool, ["--days", "10"]).stdout == "10.0\n"
    assert CliRunner().invoke(tool, ["--days", "0"]).stdout == "0.0\n"


def test_writing_names_the_path_and_the_reason(tmp_path):
    out = tmp_path / "missing" / "f"
    result = CliRunner().invoke(tool, ["--out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr == f"Error: cannot write {out}: No such file or directory\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_os_error_no_command_caught_is_one_line():
    command = [sys.executable, "-c", "from spamguard.cli import main; main()", "settings"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "Error: No space left on device\n"
