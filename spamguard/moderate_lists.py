"""Allow and deny lists in the moderation web UI (/moderate/lists): view, add and remove a site's entries.

The same functions as `spamguard lists` (spamguard/lists.py): every change bumps the config version,
so each worker picks it up within site_policy.CONFIG_CHECK_S, without a restart. The routes are added
to the moderation blueprint (create_app imports this module before registering it), so they share the
queue's guard (login, CSRF on every POST), its security headers and its error pages.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from spamguard import lists
from spamguard import moderation_store as ms
from spamguard.keys import check_site
from spamguard.moderate import BadInput, bp

log = logging.getLogger(__name__)

KIND_CHOICES = [f"{action}-{kind}" for action in lists.ACTIONS for kind in lists.KINDS]
# Sites offered in the chooser: those with held or decided comments, and those with list entries.
MAX_SITES = 500


def _store() -> Any:
    return current_app.extensions["spamguard"].store


def sentence(message: str) -> str:
    """Return an error message as a sentence: capital first letter, full stop at the end."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def _site(value: str | None) -> str:
    site = (value or "").strip()
    try:
        return check_site(site[:300])
    except ValueError as exc:
        raise BadInput(sentence(str(exc))) from None


@bp.get("/lists/")
def lists_page() -> str:
    """A site's allow and deny entries, with forms to add and remove them."""
    return _render(request.args.get("site", "").strip()[:300])


def _render(site: str, error: str = "", kind: str = "", value: str = "", status: int = 200) -> Any:
    store = _store()
    if site:
        _site(site)
    known = set(ms.counts_by_site(store))
    rows = store.execute("SELECT DISTINCT site FROM site_lists ORDER BY site LIMIT :n", {"n": MAX_SITES})
    known.update(row[0] for row in rows.fetchall())
    entries = lists.entries(store, site) if site else []
    html = render_template(
        "moderate/lists.html", page="lists", moderator=g.moderator, total_held=ms.held_count(store),
        sites=sorted(known)[:MAX_SITES], site=site, entries=entries, kinds=KIND_CHOICES, error=error,
        kind=kind, value=value,
    )  # fmt: skip
    return html, status


def _form() -> tuple[str, str, str]:
    """Return the site, kind and value of an add or remove form (cut to what an entry can be)."""
    form = request.form
    return (
        _site(form.get("site")),
        form.get("kind", "")[:40],
        form.get("value", "")[: lists.MAX_VALUE_CHARS * 2],
    )


@bp.post("/lists/add")
def lists_add() -> Any:
    """Add an entry to a site's list; an entry that cannot be used is shown with the reason why."""
    site, kind, value = _form()
    try:
        action, kind_ = lists.parse_kind(kind)
        entry = lists.add(_store(), site, action, kind_, value)
    except lists.ListError as exc:
        return _render(site, sentence(str(exc)), kind, value, 400)
    log.info("moderator %s added %s-%s entry to site %s", g.moderator, entry.action, entry.kind, site)
    flash(f"Added {entry.action}-{entry.kind} “{entry.value}” to {site}.", "info")
    return redirect(url_for("moderate.lists_page", site=site))


@bp.post("/lists/remove")
def lists_remove() -> BaseResponse:
    """Remove an entry from a site's list."""
    site, kind, value = _form()
    try:
        action, kind_ = lists.parse_kind(kind)
    except lists.ListError as exc:
        raise BadInput(sentence(str(exc))) from None
    if lists.remove(_store(), site, action, kind_, value):
        log.info("moderator %s removed %s entry from site %s", g.moderator, kind, site)
        flash(f"Removed {kind} “{value}” from {site}.", "info")
    else:
        flash(f"{site} has no {kind} entry “{value}”: someone may have removed it already.", "warning")
    return redirect(url_for("moderate.lists_page", site=site))
