"""Campaigns in the held queue: near-duplicate held comments, shown as one group and decided at once.

Two held comments belong to one campaign when their SimHash sketches are within
`history.NEAR_DUP_BITS` bits, the rule the history signals use. The sketch is the one the history
kept for the comment, or (history pruned, or a comment held before it had one) computed from the
stored text. Grouping is greedy and deterministic: oldest first, a comment joins the oldest campaign
whose first comment (its representative, whose pk is the campaign's id) is near it, so every member
is a near-duplicate of the text the moderator sees.

The campaign of one comment (to decide it, or to show it one by one) is found around that comment,
however long the queue: its held near-duplicates come from the history's band indexes (a sketch within
3 bits of another shares one of its four 16-bit bands exactly), plus the held comments the history has
no row for, their sketches computed. Both reads are bounded; an answer says when a bound was reached.

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
# The campaign of one comment: held comments read per band of its sketch (oldest first), and held
# comments without a history row read (their sketches computed, ~0.1 ms each the first time).
MAX_CANDIDATES = 2000
MAX_UNSKETCHED = 2000
# Members one request decides or shows, each decision its own transaction: the rest on the next call.
MAX_MEMBERS = ms.MAX_PAGE
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
    # A bound (MAX_MEMBERS, MAX_CANDIDATES, MAX_UNSKETCHED) stopped the search: more may be held.
    more: bool = False


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


# Held comments sharing band i of a sketch, oldest first by the history's time (the band index's
# order, so each read stops at :n), with their stored sketches.
_BANDS_SQL = " UNION ALL ".join(
    f"SELECT * FROM (SELECT {i} AS band, c.id, h.simhash FROM history h"
    " JOIN comments c ON c.site = h.site AND c.comment_id = h.comment_id"
    f" WHERE h.site = :site AND h.band{i} = :b{i} AND c.status = 'held' ORDER BY h.at LIMIT :n) AS q{i}"
    for i in range(history.BANDS)
)
_UNSKETCHED_SQL = (
    "SELECT c.id, c.record FROM comments c WHERE c.site = :site AND c.status = 'held' AND NOT EXISTS"
    " (SELECT 1 FROM history h WHERE h.site = c.site AND h.comment_id = c.comment_id) ORDER BY c.id LIMIT :n"
)


def _near(store: Store, site: str, sketch: int) -> tuple[list[int], bool]:
    """Return the pks of a site's held comments within NEAR_DUP_BITS of a sketch, oldest first, and
    whether the search was complete (False when MAX_CANDIDATES or MAX_UNSKETCHED stopped it)."""
    params: dict[str, Any] = {"site": site, "n": MAX_CANDIDATES}
    params.update({f"b{i}": band for i, band in enumerate(history.bands(sketch))})
    rows = store.execute(_BANDS_SQL, params).fetchall()
    read = [0] * history.BANDS
    near: set[int] = set()
    for band, pk, stored in rows:
        read[int(band)] += 1
        if history.hamming(int(stored), sketch) <= history.NEAR_DUP_BITS:
            near.add(int(pk))
    complete = max(read) < MAX_CANDIDATES
    unsketched = store.execute(_UNSKETCHED_SQL, {"site": site, "n": MAX_UNSKETCHED}).fetchall()
    complete = complete and len(unsketched) < MAX_UNSKETCHED
    for pk, record in unsketched:
        computed = _stored_or_computed(int(pk), None, record)
        if computed is not None and history.hamming(computed, sketch) <= history.NEAR_DUP_BITS:
            near.add(int(pk))
    return sorted(near), complete


def _seed(store: Store, pk: int) -> tuple[ms.ModeratedComment, int]:
    """Return comment `pk` and its sketch; raise moderation_store.NotFound, or NoSketch."""
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
    return leader, sketch


def campaign_of(store: Store, pk: int) -> tuple[Campaign | None, bool]:
    """Return the campaign of comment `pk` (its held near-duplicates on its site, at most MAX_MEMBERS,
    oldest first; None when fewer than MIN_MEMBERS), and whether it is whole (no bound was reached).

    Raises moderation_store.NotFound, or NoSketch when the comment is too short to compare.
    """
    leader, sketch = _seed(store, pk)
    near, complete = _near(store, leader.site, sketch)
    found = _comments(store, near[:MAX_MEMBERS])
    group = [found[p] for p in near[:MAX_MEMBERS] if p in found]
    if len(group) < MIN_MEMBERS:
        return None, complete
    authors = list(dict.fromkeys(_author(c) for c in group))
    whole = complete and len(near) <= MAX_MEMBERS
    return Campaign(tuple(group), tuple(authors[:SHOWN_AUTHORS]), len(authors)), whole


def _shown(store: Store, pks: list[int]) -> dict[int, tuple[ms.ModeratedComment, int | None]]:
    """Return comments by pk (any status), each with its sketch (the history's, or computed)."""
    params: dict[str, Any] = {f"p{i}": pk for i, pk in enumerate(p for p in pks if ms._in_range(p))}
    if not params:  # a pk beyond the database's integers names no comment
        return {}
    columns = ", ".join("c." + name.strip() for name in ms._COLUMNS.split(","))
    rows = store.execute(
        f"SELECT {columns}, h.simhash FROM comments c"
        " LEFT JOIN history h ON h.site = c.site AND h.comment_id = c.comment_id"
        f" WHERE c.id IN ({', '.join(':' + k for k in params)})",
        params,
    ).fetchall()
    out: dict[int, tuple[ms.ModeratedComment, int | None]] = {}
    for row in rows:
        comment = ms._comment(row[:-1])
        record = row[3] if row[-1] is None else None
        out[comment.pk] = (comment, _stored_or_computed(comment.pk, row[-1], record))
    return out


def decide(store: Store, pk: int, verdict: str, moderator: str, members: list[int] | None = None) -> Outcome:
    """Decide the campaign of comment `pk`: every held comment of its site near its text.

    With `members` (the pks a moderator was shown), decide those of them that are still near it;
    without, the held near-duplicates as they stand now (the representative included, if held), at
    most MAX_MEMBERS, oldest first: `more` says a bound was reached and there may be others.
    Raises moderation_store.NotFound, or NoSketch when the comment is too short to compare.
    """
    if verdict not in ms.VERDICTS:
        raise ValueError(f"a verdict is 'ham' or 'spam', not {verdict!r}")
    leader, sketch = _seed(store, pk)
    outcome = Outcome()
    if members is None:
        near, complete = _near(store, leader.site, sketch)
        targets, outcome.more = near[:MAX_MEMBERS], not complete or len(near) > MAX_MEMBERS
    else:
        targets = []
        shown = _shown(store, list(dict.fromkeys(members)))
        for other in dict.fromkeys(members):
            current, other_sketch = shown.get(other, (None, None))
            if current is not None and current.status != "held":
                outcome.conflicts.append(current)  # decided since it was shown: tells by whom
            elif (
                current is not None
                and current.site == leader.site
                and other_sketch is not None
                and history.hamming(other_sketch, sketch) <= history.NEAR_DUP_BITS
            ):
                targets.append(other)
            else:  # gone, or held but not near (another site's, another text): left as it is
                outcome.skipped.append(other)
    for target in targets:
        try:
            outcome.decided.append(ms.decide(store, target, verdict, moderator, expected_status="held"))
        except ms.Conflict as exc:
            outcome.conflicts.append(exc.current)
        except ms.NotFound:
            outcome.skipped.append(target)
    return outcome
