"""Commands of site screening: allow/deny lists and per-site policy (enforce or shadow mode)."""

from __future__ import annotations

import json

import click

from spamguard.cli import main
from spamguard.cli_moderation import _checked_site, _store, sites
from spamguard.cli_service import _settings


def _kind(kind: str) -> tuple[str, str]:
    from spamguard import lists

    try:
        return lists.parse_kind(kind)
    except lists.ListError as exc:
        raise click.ClickException(str(exc)) from None


@main.group("lists")
def lists_group() -> None:
    """Per-site allow and deny lists: a deny hit rejects, an allow hit approves (unless the honeypot)."""


@lists_group.command("add")
@click.argument("site")
@click.argument("kind", metavar="KIND")
@click.argument("value")
def lists_add(site: str, kind: str, value: str) -> None:
    """Add VALUE to SITE's KIND list (KIND: allow-email, deny-domain, deny-ip, deny-regex …)."""
    from spamguard import lists

    action, kind_ = _kind(kind)
    try:
        entry = lists.add(_store(_settings()), _checked_site(site), action, kind_, value)
    except lists.ListError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{site}: {entry.action}-{entry.kind} {entry.value}")


@lists_group.command("remove")
@click.argument("site")
@click.argument("kind", metavar="KIND")
@click.argument("value")
def lists_remove(site: str, kind: str, value: str) -> None:
    """Remove VALUE from SITE's KIND list."""
    from spamguard import lists

    action, kind_ = _kind(kind)
    if not lists.remove(_store(_settings()), _checked_site(site), action, kind_, value):
        raise click.ClickException(f"{site} has no {kind} entry {value!r}: see `spamguard lists show {site}`")
    click.echo(f"{site}: removed {kind} {value}")


@lists_group.command("show")
@click.argument("site")
@click.argument("kind", required=False, metavar="[KIND]")
def lists_show(site: str, kind: str | None) -> None:
    """Print SITE's list entries (of one KIND, or all): kind, value, when added."""
    from spamguard import lists

    wanted = _kind(kind) if kind else None
    for e in lists.entries(_store(_settings()), _checked_site(site)):
        if wanted is None or (e.action, e.kind) == wanted:
            click.echo(f"{e.action}-{e.kind}\t{e.value}\t{e.created_at}")


@sites.command("policy")
@click.argument("site")
@click.option("--type", "comment_type", default="", help="Comment type this policy is for (default: all).")
@click.option(
    "--mode", type=click.Choice(["enforce", "shadow"]), help="shadow: decide and record, answer approve."
)
@click.option("--approve-below", type=float, help="Scores below this approve (default: the model's).")
@click.option("--reject-at", type=float, help="Scores at or above this reject (over 1: never by score).")
@click.option("--trusted", type=click.Choice(["on", "off"]), help="The trusted-commenter rule.")
@click.option(
    "--trusted-min", type=int, help="Approved comments of an e-mail (and no spam) that make it trusted."
)
@click.option(
    "--velocity", "velocity", multiple=True, metavar="KIND=N/N/N",
    help="Earlier comments per 1 min/1 h/1 day from one ip, email, url_domain or link_domain that hold a "
    "comment (off: no limit; KIND=default: back to the default). Repeatable.",
)  # fmt: skip
def sites_policy(site: str, comment_type: str, mode: str | None, approve_below: float | None,
                 reject_at: float | None, trusted: str | None, trusted_min: int | None,
                 velocity: tuple[str, ...]) -> None:  # fmt: skip
    """Show, or with options change, SITE's policy; prints the policy as JSON."""
    from spamguard import site_policy

    try:
        limits = dict(site_policy.parse_velocity(v) for v in velocity)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    store = _store(_settings())
    changes = {
        "mode": mode,
        "approve_below": approve_below,
        "reject_at": reject_at,
        "trusted": None if trusted is None else trusted == "on",
        "trusted_min": trusted_min,
        "velocity": limits or None,
    }
    if any(v is not None for v in changes.values()):
        try:
            site_policy.set_policy(store, _checked_site(site), comment_type, **changes)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    found = site_policy.policies(store, site)
    policy = found.get(comment_type) or found.get("") or site_policy.SitePolicy()
    click.echo(json.dumps({"site": site, "comment_type": comment_type or "*", **policy.to_dict()}))
