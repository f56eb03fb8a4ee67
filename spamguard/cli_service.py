"""Commands of the service: serve, keys, settings, db."""

from __future__ import annotations

from pathlib import Path

import click

from spamguard.cli import main
from spamguard.settings import Settings, SettingsError, load_settings


def _settings(**overrides: object) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    changes = {k: v for k, v in overrides.items() if v is not None}
    try:
        return settings.replace(**changes)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    from spamguard.store import Store, StoreError

    try:
        store = Store(settings.database_url)
        store.upgrade()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    return store


@main.command()
@click.option("--model", type=click.Path(path_type=Path), help="Model registry or version directory.")
@click.option("--host", help="Address to listen on (SPAMGUARD_HOST).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (SPAMGUARD_PORT).")
@click.option("--workers", type=click.IntRange(1), help="Worker processes (SPAMGUARD_WORKERS).")
@click.option(
    "--threads", type=click.IntRange(1), help="Threads per worker (SPAMGUARD_THREADS; 1: sync workers)."
)
@click.option("--dev", is_flag=True, help="Run Flask's development server with the reloader instead.")
def serve(model: Path | None, host: str | None, port: int | None, workers: int | None, threads: int | None,
          dev: bool) -> None:  # fmt: skip
    """Serve POST /score and the health, metrics and OpenAPI endpoints."""
    import logging

    settings = _settings(model=model, host=host, port=port, workers=workers, threads=threads)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    )
    if dev:
        from spamguard.app import create_app

        create_app(settings).run(settings.host, settings.port, debug=True, use_reloader=True)
        return
    from spamguard.server import ServeError
    from spamguard.server import serve as run
    from spamguard.store import StoreError

    try:
        run(settings)
    except (StoreError, ServeError) as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def keys() -> None:
    """Create, list and revoke the per-site API keys of POST /score."""


@keys.command("create")
@click.option(
    "--site", "sites", multiple=True, required=True, help="Site the key may score for (repeatable)."
)
def keys_create(sites: tuple[str, ...]) -> None:
    """Create a key and print it once: only its hash is stored."""
    from spamguard.keys import create_key

    try:
        key, stored = create_key(_store(_settings()), sites)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(key)
    click.echo(
        f"key {stored.id} for {', '.join(stored.sites)}: store it now, it cannot be shown again", err=True
    )


@keys.command("list")
def keys_list() -> None:
    """List keys: id, shown prefix, sites, created and revoked times."""
    from spamguard.keys import list_keys

    for k in list_keys(_store(_settings())):
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        click.echo(f"{k.id}\t{k.prefix}…\t{','.join(k.sites)}\tcreated {k.created_at}\t{state}")


@keys.command("revoke")
@click.argument("key")
def keys_revoke(key: str) -> None:
    """Revoke KEY (its id or its shown prefix); workers stop accepting it within SPAMGUARD_KEY_CACHE_S."""
    from spamguard.keys import UnknownKey, revoke_key

    try:
        revoked = revoke_key(_store(_settings()), key)
    except UnknownKey as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked key {revoked.id} ({revoked.prefix}…) for {', '.join(revoked.sites)}")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the documentation table (docs/settings.md) instead.")
def settings_command(markdown: bool) -> None:
    """Show every SPAMGUARD_* setting with its current value and what it does."""
    from dataclasses import fields

    from spamguard.settings import describe, env_name, markdown_table

    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    current = _settings()
    helps = {var: help for var, _, help in describe()}
    for f in fields(current):
        var = env_name(f.name)
        click.echo(f"{var}={getattr(current, f.name)}\n    {helps[var]}")


@main.group()
def db() -> None:
    """Manage the database: schema upgrades and backups."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to this version of spamguard."""
    store = _store(_settings())
    click.echo(f"{store.safe_url()}: schema version {store.upgrade()}")


@db.command("backup")
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
def db_backup(dest: Path) -> None:
    """Copy the SQLite database to DEST (a new file) while the service runs.

    The copy is consistent (what was committed when it began) and checked before it is written under
    DEST. To restore: stop the service, put the copy in place of the database file, delete that
    file's -wal and -shm companions, start. PostgreSQL: use pg_dump.
    """
    from spamguard.store import Store, StoreError

    try:  # not _store(): a backup reads, it never upgrades the schema of the database it copies
        store = Store(_settings().database_url)
        comments = store.backup(dest)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    size = dest.stat().st_size / (1 << 20)
    click.echo(f"backed up {store.safe_url()} to {dest}: {comments} comments, {size:.1f} MiB")
