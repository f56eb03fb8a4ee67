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


def _held(store: Store, site: str | None) -> list[tuple[ms.ModeratedComment, int | None]]:
    """Return the oldest MAX_SCAN held comments (of a site, or all) with their sketches."""
    where, params = "c.status = 'held'", {"n": MAX_SCAN}
    if site:
        where += " AND c.site = :site"
        params["site"] = site
    columns = ", ".join(f"c.{name.strip()}" for name in ms._COLUMNS.split(","))
    rows = store.execute(
        f"SELECT {columns}, h.simhash FROM comments c"
        " LEFT JOIN history h ON h.site = c.site AND h.comment_id = c.comment_id"
        f" WHERE {where} ORDER BY c.id LIMIT :n",
        params,
    ).fetchall()
    out = []
    for row in rows:
        comment = ms._comment(row[:-1])
        out.append((comment, _stored_or_computed(row[-1], comment)))
    return out


def _stored_or_computed(stored: Any, comment: ms.ModeratedComment) -> int | None:
    """Return the history's sketch (kept as a signed BIGINT), or one computed from the stored text."""
    if stored is not None:
        return int(stored) & ((1 << 64) - 1)
    return sketch_of(comment.record.get("content"))


def _author(comment: ms.ModeratedComment) -> str:
    record = comment.record
    for name in ("author_name", "author_email", "author_ip"):
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:100]
    return "anonymous"


def campaigns(store: Store, site: str | None = None) -> list[Campaign]:
    """Group the held comments (of a site, or all) into campaigns of MIN_MEMBERS or more, oldest first."""
    leaders: list[tuple[ms.ModeratedComment, int]] = []
    members: dict[int, list[ms.ModeratedComment]] = {}
    buckets: dict[tuple[str, int, int], list[int]] = defaultdict(list)  # (site, band no., band) -> leaders
    for comment, sketch in _held(store, site):
        if sketch is None:
            continue
        split = history.bands(sketch)
        joined = None
        for i, band in enumerate(split):
            for n in buckets.get((comment.site, i, band), ()):
                if (joined is None or n < joined) and history.hamming(
                    leaders[n][1], sketch
                ) <= history.NEAR_DUP_BITS:
                    joined = n
        if joined is None:
            joined = len(leaders)
            leaders.append((comment, sketch))
            for i, band in enumerate(split):
                buckets[(comment.site, i, band)].append(joined)
        members.setdefault(joined, []).append(comment)
    out = []
    for n in range(len(leaders)):
        group = members[n]
        if len(group) < MIN_MEMBERS:
            continue
        authors = list(dict.fromkeys(_author(c) for c in group))
        out.append(Campaign(tuple(group), tuple(authors[:SHOWN_AUTHORS]), len(authors)))
    return out


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
    sketch = _stored_or_computed(row[0] if row else None, leader)
    if sketch is None:
        raise NoSketch(
            f"comment {pk} is too short to have near-duplicates (under {history.MIN_SKETCH_WORDS} words)"
        )
    held = {c.pk: s for c, s in _held(store, leader.site)}
    near = {
        p for p, s in held.items() if s is not None and history.hamming(s, sketch) <= history.NEAR_DUP_BITS
    }
    outcome = Outcome()
    if members is None:
        targets = sorted(near)
    else:
        # A member no longer held is tried all the same: its conflict tells who decided it.
        targets = [p for p in dict.fromkeys(members) if p in near or p not in held]
        outcome.skipped = [p for p in dict.fromkeys(members) if p in held and p not in near]
    for target in targets:
        try:
            outcome.decided.append(ms.decide(store, target, verdict, moderator, expected_status="held"))
        except ms.Conflict as exc:
            outcome.conflicts.append(exc.current)
        except ms.NotFound:
            outcome.skipped.append(target)
    return outcome
