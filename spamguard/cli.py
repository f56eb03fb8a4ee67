"""The `spamguard` command line: a thin shell over the library."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spamguard")
def main() -> None:
    """Self-hosted comment-spam filter: train, score, evaluate, serve, moderate."""


# Command groups live in modules of their own, one concern each; importing them registers them.
from spamguard import cli_lists, cli_model, cli_moderation, cli_quickstart, cli_service  # noqa: E402,F401
