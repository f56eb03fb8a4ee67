"""`spamguard quickstart`: a working service from a fresh clone in one command."""

from __future__ import annotations

from pathlib import Path

import click

from spamguard.cli import main
from spamguard.cli_service import _settings, _store, serve

DEMO_SITE = "demo"
DEMO_DATA = Path("data")


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (SPAMGUARD_PORT).")
@click.option("--no-serve", is_flag=True, help="Set up (model, database, key) and stop before serving.")
@click.pass_context
def quickstart(ctx: click.Context, port: int | None, no_serve: bool) -> None:
    """Train a model from data/ if there is none, create a demo key, print a curl line, serve."""
    from spamguard import registry
    from spamguard.keys import create_key
    from spamguard.server import ServeError, address, ensure_port_free

    settings = _settings(port=port)
    if not no_serve:
        # Before the key and the curl line: they would point at whatever server holds the port.
        try:
            ensure_port_free(settings.host, settings.port)
        except ServeError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        has_model = (
            registry.is_version_dir(settings.model) or registry.current_version(settings.model) is not None
        )
        if has_model:
            registry.resolve(settings.model)  # CURRENT must name a version that is there
    except registry.ModelError as exc:
        raise click.ClickException(f"{exc} (or move {settings.model} away to start afresh)") from exc
    if not has_model:
        if not DEMO_DATA.is_dir():
            raise click.ClickException(
                f"no model in {settings.model} and no {DEMO_DATA}/ to train one from: run this in the "
                "spamguard checkout, or set SPAMGUARD_MODEL to a trained registry"
            )
        click.echo(
            f"no model in {settings.model}: training one from {DEMO_DATA}/ (takes about a minute)", err=True
        )
        from spamguard.cli_model import train

        ctx.invoke(train, paths=(str(DEMO_DATA),), out=str(settings.model))
    key, _ = create_key(_store(settings), [DEMO_SITE])
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    body = '{"id": "demo-1", "content": "Cheap meds at http://bit.ly/x", "author_name": "Best Pharmacy"}'
    click.echo("\nspamguard is starting. Try it (this key was just created for site 'demo'):\n", err=True)
    click.echo(
        f"  curl -s -X POST http://{address(host, settings.port)}/score -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d '{body}'\n",
        err=True,
    )
    if not no_serve:
        ctx.invoke(serve, port=port)
