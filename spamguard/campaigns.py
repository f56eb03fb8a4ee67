"""Campaigns in the held queue: near-duplicate held comments, shown as one group and decided at once.

Two held comments belong to one campaign when their SimHash sketches are within
`history.NEAR_DUP_BITS` bits, the rule the history signals use. The sketch is the one the history
kept for the comment, or (history pruned, or a comment held before it had one) computed from the
stored text. Grouping is greedy and deterministic: oldest first, a comment joins the oldest campaign
whose first comment (its representative, whose pk is the campaign's id) is near it, so every member
is a near-duplicate of the text the moderator sees.

Deciding a campaign decides each member with `moderation_store.decide`, one transaction per comment:
each gets its own verdict, audit row, webhook delivery and label, as a single decision would, and a
member someone decided meanwhile is a conflict, reported, not overwritten.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from spamguard import history
from spamguard import moderation_store as ms
from spamguard.normalize import normalize
from spamguard.store import Store

# Held comments read per grouping (oldest first): bounds the queue page's cost on a huge backlog.
MAX_SCAN = 2000
MIN_MEMBERS = 2  # a group of one is just a comment
SHOWN_AUTHORS = 5


@dataclass(frozen=True, slots=True)
class Campaign:
    """Held near-duplicates, oldest first: the first is the representative, whose pk is the id."""

    comments: tuple[ms.ModeratedComment, ...]
    authors: tuple[str, ...]  # distinct author names (else e-mails, IPs), at most SHOWN_AUTHORS
    author_count: int

    @property
    def representative(self) -> ms.ModeratedComment:
        """The oldest member: every other one is a near-duplicate of it."""
        return self.comments[0]

    @property
    def id(self) -> int:
        """The campaign's id: its representative's pk."""
        return self.comments[0].pk

    @property
    def members(self) -> tuple[int, ...]:
        """Every member's pk, oldest first."""
        return tuple(c.pk for c in self.comments)


@dataclass(slots=True)
class Outcome:
    """What deciding a campaign did to each member."""

    decided: list[ms.ModeratedComment] = field(default_factory=list)
    conflicts: list[ms.ModeratedComment] = field(default_factory=list)  # decided by someone else first
    skipped: list[int] = field(default_factory=list)  # not (or no longer) near the representative


class NoSketch(ValueError):
    """The comment is too short to compare (under history.MIN_SKETCH_WORDS words)."""


def sketch_of(content: Any) -> int | None:
    """Return the sketch of a comment's text as the history computes it (None when too short)."""
    if not isinstance(content, str) or not content:
        return None
    words = history.words_of(normalize(content))
    return history.simhash(words) if len(words) >= history.MIN_SKETCH_WORDS else None


def _held(store: Store, site: str | None) -> list[tuple[int, str, int | None]]:
    """Return (pk, site, sketch) of the oldest MAX_SCAN held comments (of a site, or all)."""
    where, params = "c.status = 'held'", {"n": MAX_SCAN}
    if site:
        where += " AND c.site = :site"
        params["site"] = site
    # The record (for its text) only where the history has no sketch.
    rows = store.execute(
        "SELECT c.id, c.site, h.simhash, CASE WHEN h.simhash IS NULL THEN c.record END FROM comments c"
        " LEFT JOIN history h ON h.site = c.site AND h.comment_id = c.comment_id"
        f" WHERE {where} ORDER BY c.id LIMIT :n",
        params,
    ).fetchall()
    return [
        (int(pk), name, _stored_or_computed(int(pk), stored, record)) for pk, name, stored, record in rows
    ]


# Sketches computed from stored text (no history row), by (pk, hash of the record): a comment's text
# never changes, and computing is ~0.1 ms a comment, too slow to repeat for every queue page.
_computed: dict[tuple[int, int], int | None] = {}
MAX_COMPUTED = 20_000


def _stored_or_computed(pk: int, stored: Any, record: str | None) -> int | None:
    """Return the history's sketch (kept as a signed BIGINT), or one computed from the stored text."""
    if stored is not None:
        return int(stored) & ((1 << 64) - 1)
    key = (pk, hash(record))
    if key not in _computed:
        if len(_computed) >= MAX_COMPUTED:
            _computed.clear()
        try:
            content = json.loads(record or "{}").get("content")
        except (ValueError, AttributeError):
            content = None
        _computed[key] = sketch_of(content)
    return _computed[key]


def _author(comment: ms.ModeratedComment) -> str:
    record = comment.record
    for name in ("author_name", "author_email", "author_ip"):
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:100]
    return "anonymous"


def campaigns(store: Store, site: str | None = None) -> list[Campaign]:
    """Group the held comments (of a site, or all) into campaigns of MIN_MEMBERS or more, oldest first."""
    leaders: list[int] = []  # sketches of the campaigns' first comments
    members: dict[int, list[int]] = {}
    buckets: dict[tuple[str, int, int], list[int]] = defaultdict(list)  # (site, band no., band) -> leaders
    for pk, name, sketch in _held(store, site):
        if sketch is None:
            continue
        split = history.bands(sketch)
        joined = None
        for i, band in enumerate(split):
            for n in buckets.get((name, i, band), ()):
                if (joined is None or n < joined) and history.hamming(
                    leaders[n], sketch
                ) <= history.NEAR_DUP_BITS:
                    joined = n
        if joined is None:
            joined = len(leaders)
            leaders.append(sketch)
            for i, band in enumerate(split):
                buckets[(name, i, band)].append(joined)
        members.setdefault(joined, []).append(pk)
    groups = [pks for pks in members.values() if len(pks) >= MIN_MEMBERS]
    found = _comments(store, [pk for pks in groups for pk in pks])
    out = []
    for pks in groups:
        group = [found[pk] for pk in pks if pk in found]  # one decided meanwhile is left out
        if len(group) < MIN_MEMBERS:
            continue
        authors = list(dict.fromkeys(_author(c) for c in group))
        out.append(Campaign(tuple(group), tuple(authors[:SHOWN_AUTHORS]), len(authors)))
    return out


def _comments(store: Store, pks: list[int]) -> dict[int, ms.ModeratedComment]:
    """Return the held comments of some pks, by pk."""
    if not pks:
        return {}
    params = {f"p{i}": pk for i, pk in enumerate(pks)}
    listed = ", ".join(":" + k for k in params)
    rows = store.execute(
        f"SELECT {ms._COLUMNS} FROM comments WHERE status = 'held' AND id IN ({listed})", params
    )
    return {c.pk: c for c in map(ms._comment, rows.fetchall())}


def decide(store: Store, pk: int, verdict: str, moderator: str, members: list[int] | None = None) -> Outcome:
    """Decide the campaign of comment `pk`: every held comment of its site near its text.

    With `members` (the pks a moderator was shown), decide those of them that are still near it;
    without, every held near-duplicate as it stands now (the representative included, if held).
    Raises moderation_store.NotFound, or NoSketch when the comment is too short to compare.
    """
    if verdict not in ms.VERDICTS:
        raise ValueError(f"a verdict is 'ham' or 'spam', not {verdict!r}")
    leader = ms.get_by_pk(store, pk)
    if leader is None:
        raise ms.NotFound(f"no comment {pk}")
    row = store.execute(
        "SELECT simhash FROM history WHERE site = :site AND comment_id = :cid",
        {"site": leader.site, "cid": leader.comment_id},
    ).fetchone()
    sketch = _stored_or_computed(leader.pk, row[0] if row else None, json.dumps(leader.record))
    if sketch is None:
        raise NoSketch(
            f"comment {pk} is too short to have near-duplicates (under {history.MIN_SKETCH_WORDS} words)"
        )
    held = {p: s for p, _, s in _held(store, leader.site)}
    near = {
        p for p, s in held.items() if s is not None and history.hamming(s, sketch) <= history.NEAR_DUP_BITS
    }
    outcome = Outcome()
    targets = sorted(near) if members is None else [p for p in dict.fromkeys(members) if p in near]
    for other in [] if members is None else [p for p in dict.fromkeys(members) if p not in near]:
        # Decided since it was shown: a conflict that tells by whom. Held but not near (another
        # site's, another text): left as it is.
        current = ms.get_by_pk(store, other) if other not in held else None
        if current is not None and current.status != "held":
            outcome.conflicts.append(current)
        else:
            outcome.skipped.append(other)
    for target in targets:
        try:
            outcome.decided.append(ms.decide(store, target, verdict, moderator, expected_status="held"))
        except ms.Conflict as exc:
            outcome.conflicts.append(exc.current)
        except ms.NotFound:
            outcome.skipped.append(target)
    return outcome
