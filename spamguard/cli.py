"""The `spamguard` command line: a thin shell over the library."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import Any

import click


@contextlib.contextmanager
def writing(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Turn an OSError while writing `path` (None: standard output) into a one-line CLI error."""
    try:
        yield
    except BrokenPipeError:
        raise  # the reader has gone (`| head -1`): click exits quietly, as Unix tools do
    except OSError as exc:
        where = "standard output" if path is None else str(path)
        raise click.ClickException(f"cannot write {where}: {exc.strerror or exc}") from None


class FiniteRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf, which its comparisons would let through."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


class _Main(click.Group):
    """The top-level group: an OS error that no command turned into a message is still one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise  # click's own quiet exit
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spamguard")
def main() -> None:
    """Self-hosted comment-spam filter: train, score, evaluate, serve, moderate."""


# Command groups live in modules of their own, one concern each; importing them registers them.
from spamguard import cli_lists, cli_model, cli_moderation, cli_quickstart, cli_service  # noqa: E402,F401
