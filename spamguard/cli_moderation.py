"""Commands of moderation: moderators, sites and webhooks, labels, purge."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from spamguard.cli import FiniteRange, main, writing
from spamguard.cli_service import _settings

if TYPE_CHECKING:
    from spamguard.settings import Settings
    from spamguard.store import Store
from spamguard.cli_service import _store as _open_store

# 100 years: a cutoff further back finds nothing, and one near year 1 cannot be computed at all.
MAX_AGE_DAYS = 36500


def _store(settings: Settings) -> Store:
    """Open (and upgrade) the store for this command; it is closed when the command ends."""
    store: Store = _open_store(settings)
    click.get_current_context().call_on_close(store.close)
    return store


def _checked_site(site: str) -> str:
    from spamguard.keys import check_site

    try:
        check_site(site)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return site


def _password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True))


@main.group()
def moderators() -> None:
    """Add, list and remove moderators; make their API tokens."""


@moderators.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def moderators_add(name: str, password_stdin: bool) -> None:
    """Add moderator NAME (asks for a password; it is stored as a scrypt hash)."""
    from spamguard.moderators import ModeratorError, add_moderator

    store = _store(_settings())
    try:
        add_moderator(store, name, _password(name, password_stdin))
    except ModeratorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added moderator {name}: log in at /moderate, or make a token with `moderators token {name}`")


@moderators.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def moderators_password(name: str, password_stdin: bool) -> None:
    """Set a new password for moderator NAME."""
    from spamguard.moderators import ModeratorError, set_password

    try:
        set_password(_store(_settings()), name, _password(name, password_stdin))
    except ModeratorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"changed the password of {name}")


@moderators.command("token")
@click.argument("name")
def moderators_token(name: str) -> None:
    """Make an API token for moderator NAME and print it once (only its hash is stored)."""
    from spamguard.moderators import ModeratorError, create_token

    try:
        token = create_token(_store(_settings()), name)
    except ModeratorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)
    click.echo(f"token for {name}: store it now, it cannot be shown again", err=True)


@moderators.command("remove")
@click.argument("name")
def moderators_remove(name: str) -> None:
    """Remove moderator NAME: no more logins, every token revoked; their verdicts stay."""
    from spamguard.moderators import ModeratorError, remove_moderator

    try:
        remove_moderator(_store(_settings()), name)
    except ModeratorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed moderator {name}")


@moderators.command("list")
def moderators_list() -> None:
    """List moderators: name, added, removed."""
    from spamguard.moderators import list_moderators

    for m in list_moderators(_store(_settings())):
        state = f"removed {m.removed_at}" if m.removed_at else "active"
        click.echo(f"{m.name}\tadded {m.created_at}\t{state}")


@main.group()
def sites() -> None:
    """Per-site settings: the verdict webhook."""


@sites.command("set-webhook")
@click.argument("site")
@click.argument("url", required=False)
@click.option("--secret", help="Shared secret the HMAC-SHA256 signature is made with.")
@click.option("--remove", is_flag=True, help="Remove the site's webhook instead.")
def sites_set_webhook(site: str, url: str | None, secret: str | None, remove: bool) -> None:
    """POST every verdict on SITE's comments to URL, signed with --secret."""
    from urllib.parse import urlsplit

    from spamguard.moderation_store import set_webhook

    _checked_site(site)
    store = _store(_settings())
    if remove:
        set_webhook(store, site, None, None)
        click.echo(f"{site}: no webhook")
        return
    if not url or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise click.ClickException("give the webhook's http:// or https:// URL (or --remove)")
    if not url.isprintable() or " " in url:
        raise click.ClickException(f"{url!r} holds spaces or control characters: percent-encode them")
    if not secret:
        raise click.ClickException("give --secret: the platform checks the signature with it")
    set_webhook(store, site, url, secret)
    click.echo(f"{site}: verdicts go to {url}")


@main.group()
def webhooks() -> None:
    """Deliver verdict webhooks and read their delivery log."""


@webhooks.command("log")
@click.option("--site", help="Only this site's deliveries.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="How many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines, with every attempt.")
def webhooks_log(site: str | None, limit: int, as_json: bool) -> None:
    """Show recent deliveries, newest first: state, attempts, last answer."""
    import json

    from spamguard.webhooks import deliveries

    for d in deliveries(_store(_settings()), limit, site):
        if as_json:
            click.echo(json.dumps(d, ensure_ascii=False))
            continue
        answer = d["last_error"] or d["last_status"] or "-"
        p = d["payload"]
        click.echo(f"{d['id']}\t{d['created_at']}\t{d['site']}\t{p.get('id')} {p.get('verdict')}\t"
                   f"{d['state']}\tattempts {d['attempts']}\t{answer}")  # fmt: skip


@webhooks.command("run")
@click.option("--once", is_flag=True, help="Deliver what is due now and exit.")
def webhooks_run(once: bool) -> None:
    """Deliver due webhooks (each `serve` worker does this too; any number may run at once)."""
    from spamguard import webhooks as wh

    settings = _settings()
    store = _store(settings)
    if once:
        n = wh.run_once(store, settings.webhook_retry_s, settings.webhook_max_attempts)
        click.echo(f"attempted {n} deliveries")
        return
    try:
        wh.loop(store, settings.webhook_retry_s, settings.webhook_max_attempts).run()
    except KeyboardInterrupt:
        pass


@webhooks.command("retry")
@click.option("--site", help="Only this site's deliveries.")
def webhooks_retry(site: str | None) -> None:
    """Make failed deliveries pending again (after the platform is fixed)."""
    from spamguard.webhooks import retry_failed

    click.echo(f"{retry_failed(_store(_settings()), site)} deliveries to retry")


@main.group()
def labels() -> None:
    """Human labels in the store (verdicts and feedback), the next training data."""


@labels.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, allow_dash=True))
def labels_export(file: str) -> None:
    """Write every human label as JSON Lines (contract records with `label`) to FILE; `-`: stdout.

    A file is replaced whole once every label is written, so a failed export leaves it as it was.
    """
    import json
    from pathlib import Path

    from spamguard.moderation_store import labelled_records

    records = labelled_records(_store(_settings()))
    path = Path(file)
    # Replacing a named pipe or a device (/dev/stdout) with a new file is not what was asked.
    atomic = file != "-" and (path.is_file() or not path.exists())
    with writing(None if file == "-" else file), click.open_file(file, "w", "utf-8", atomic=atomic) as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    click.echo(f"wrote {len(records)} labels to {'stdout' if file == '-' else file}", err=file == "-")


@main.command()
@click.option(
    "--older-than",
    "days",
    type=FiniteRange(0, MAX_AGE_DAYS),
    required=True,
    help="Age in days of the comments to purge (at most 100 years).",
)
@click.option(
    "--whole-rows/--fields-only",
    default=None,
    help="Delete whole rows, or only the personal fields (default: SPAMGUARD_PURGE_WHOLE_ROWS).",
)
@click.option(
    "--history-days", type=FiniteRange(0, MAX_AGE_DAYS), default=None,
    help="Also prune the history older than this many days (default: SPAMGUARD_HISTORY_RETENTION_DAYS; "
    "0: keep it).",
)  # fmt: skip
def purge(days: float, whole_rows: bool | None, history_days: float | None) -> None:
    """Drop decided comments' personal fields (IP, e-mail, user agent) or whole rows; never held ones.

    Also prunes the signals' history past its retention, as each `serve` worker does hourly.
    """
    from spamguard import retention
    from spamguard.moderation_store import purge as run

    settings = _settings()
    whole = settings.purge_whole_rows if whole_rows is None else whole_rows
    store = _store(settings)
    n = run(store, days, whole_rows=whole)
    what = "deleted" if whole else "removed personal fields from"
    click.echo(f"{what} {n} decided comments older than {days:g} days")
    keep = settings.history_retention_days if history_days is None else history_days
    if keep > 0:
        click.echo(
            f"pruned {retention.prune(store, keep)} comments older than {keep:g} days from the history"
        )


def store_labels_for_training() -> tuple[list, str] | None:  # type: ignore[type-arg]
    """Return the store's human labels as comments and the store's URL, or None if there is no store.

    A SQLite file that does not exist means no store (nothing was ever served); a configured
    PostgreSQL that cannot be read is an error, not a silent fallback to files only.
    """
    from pathlib import Path

    from spamguard.moderation_store import labelled_records
    from spamguard.store import SCHEMA_VERSION, Store, StoreError
    from training.pipeline import store_labels

    settings = _settings()
    store = Store(settings.database_url)
    if store.path is not None and not Path(store.path).exists():
        return None
    try:
        version = store.schema_version()
        if version < SCHEMA_VERSION:
            raise click.ClickException(
                f"{store.safe_url()} is at schema version {version}: run `spamguard db upgrade` "
                "(or train with --no-store)"
            )
        return store_labels(labelled_records(store)), store.safe_url()
    except StoreError as exc:
        raise click.ClickException(f"{exc} (or train with --no-store)") from None
    finally:
        store.close()
