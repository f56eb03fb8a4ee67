"""Moderation in the store: the held queue, verdicts (atomic, audited), webhook outbox, human labels.

The same `Store` (connections, dialects, migration 3 in store.py) as the scoring path; these are
functions over it, kept apart so store.py stays about scoring. Comments are addressed here by their
primary key `pk` (the store's own id: unique across sites, stable, and the queue's paging order).

A verdict is `ham` (status becomes `approved`) or `spam` (`rejected`). `decide` changes a comment
only if its status is still the one the moderator saw (`held` unless told otherwise), in the same
transaction as its audit row and its webhook delivery row: of two moderators deciding at once one
wins, the other gets `Conflict` carrying the winner's verdict; a verdict is never lost between the
comment and the platform.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from spamguard import history
from spamguard.store import Store, utcnow

VERDICTS = {"ham": "approved", "spam": "rejected"}
# Paging bounds: a page is at most this many items, whatever a client asks.
MAX_PAGE = 500
# Largest primary key either database holds (a signed 64-bit integer): the largest cursor.
MAX_PK = 2**63 - 1
# What a queue search looks in: the record's text fields, not its JSON (where field names match and
# quotes, backslashes, control and non-ASCII characters are escaped).
SEARCH_FIELDS = ("content", "author_name", "author_email", "author_url")
# Held comments one search reads from its cursor on (in batches): bounds a request on a huge queue.
# Matching is in Python (SQLite's LOWER and LIKE fold ASCII only), ~10 µs a comment of 50 words:
# 10,000 read without a match took 105 ms on SQLite, 146 ms on PostgreSQL (2 cores, load ~4.5).
MAX_SEARCH_SCAN = 10_000
SEARCH_BATCH = 1000

_COLUMNS = (
    "id, site, comment_id, record, score, decision, status, reasons, model_version, created_at,"
    " verdict, decided_by, decided_at"
)


class NotFound(LookupError):
    """No comment with that primary key."""


class Conflict(Exception):
    """The comment was decided by someone else first: carries the comment as it now stands."""

    def __init__(self, current: ModeratedComment) -> None:
        who = f" by {current.decided_by}" if current.decided_by else ""
        super().__init__(f"comment {current.pk} is already {current.status}{who}")
        self.current = current


@dataclass(frozen=True, slots=True)
class ModeratedComment:
    """A stored comment with its moderation state (`verdict` is None until a human decides)."""

    pk: int
    site: str
    comment_id: str
    record: dict[str, Any]
    score: float
    decision: str
    status: str
    reasons: list[dict[str, Any]]
    model_version: str | None
    created_at: str
    verdict: str | None
    decided_by: str | None
    decided_at: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the comment as the moderation API's JSON item."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One verdict: who decided what, when, and the status it replaced."""

    id: int
    comment_pk: int
    site: str
    comment_id: str
    verdict: str
    moderator: str
    previous_status: str
    status: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON."""
        return asdict(self)


def _comment(row: tuple) -> ModeratedComment:
    return ModeratedComment(
        pk=int(row[0]), site=row[1], comment_id=row[2], record=json.loads(row[3]), score=float(row[4]),
        decision=row[5], status=row[6], reasons=json.loads(row[7]), model_version=row[8],
        created_at=row[9], verdict=row[10], decided_by=row[11], decided_at=row[12],
    )  # fmt: skip


def _like(text: str) -> str:
    """Escape LIKE's wildcards (the queries say ESCAPE '!')."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _page(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def _in_range(pk: int) -> bool:
    """Whether a pk can be in the database at all (a bigger one overflows its integer: no such row)."""
    return 0 <= int(pk) <= MAX_PK


def parse_pk(text: str) -> int | None:
    """Return the pk a text of ASCII digits names, or None if it is no such text or no pk can be that
    large ("²".isdigit() is true and int("²") fails; a bigger number overflows the database's integer)."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_PK:
        return None
    return int(text)


# -- reading -----------------------------------------------------------------------------------


def queue(
    store: Store,
    site: str | None = None,
    reason: str | None = None,
    search: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[ModeratedComment], str | None]:
    """Return held comments oldest first, and the cursor of the next page (None on the last page).

    `reason` keeps comments with a reason whose signal starts with it (`link:` or `link:shortener`);
    `search` keeps those whose content, author name, e-mail or URL contains it, in any case (Unicode
    case folding). The cursor is the last pk seen, so paging is stable while comments arrive and are
    decided: no item comes twice. A search stops after reading MAX_SEARCH_SCAN held comments: its
    page can then be short, even empty, with a cursor to search on from.
    """
    where = ["status = 'held'"]
    params: dict[str, Any] = {"after": _cursor(cursor), "n": _page(limit) + 1}
    if site:
        where.append("site = :site")
        params["site"] = site
    if reason:
        where.append("reasons LIKE :reason ESCAPE '!'")
        params["reason"] = '%"signal": "' + _like(reason) + "%"
    sql = f"SELECT {_COLUMNS} FROM comments WHERE {' AND '.join(where)} AND id > :after ORDER BY id LIMIT :n"
    if search:
        return _search(store, sql, params, _fold(search))
    rows = store.execute(sql, params).fetchall()
    items = [_comment(r) for r in rows[: params["n"] - 1]]
    more = len(rows) == params["n"]
    return items, (str(items[-1].pk) if more and items else None)


def _fold(text: str) -> str:
    """Return text as search compares it: NFKC-normalised and case-folded (ß ~ SS, Σ ~ σ ~ ς)."""
    return unicodedata.normalize("NFKC", text).casefold()


def _contains(record: str, wanted: str) -> bool:
    """Whether one of a stored record's SEARCH_FIELDS contains the folded text."""
    try:
        fields = json.loads(record)
    except ValueError:
        return False
    return isinstance(fields, dict) and any(
        isinstance(value, str) and wanted in _fold(value) for value in map(fields.get, SEARCH_FIELDS)
    )


def _search(
    store: Store, sql: str, params: dict[str, Any], wanted: str
) -> tuple[list[ModeratedComment], str | None]:
    """Return `queue`'s page of the rows `sql` reads that contain `wanted`, reading batches from the
    cursor on until the page is full, the rows run out or MAX_SEARCH_SCAN were read."""
    page, read = params["n"] - 1, 0
    items: list[ModeratedComment] = []
    while read < MAX_SEARCH_SCAN:
        n = min(SEARCH_BATCH, MAX_SEARCH_SCAN - read)
        rows = store.execute(sql, {**params, "n": n}).fetchall()
        for row in rows:
            if _contains(row[3], wanted):
                if len(items) == page:  # one more than the page: there is a next page
                    return items, str(items[-1].pk)
                items.append(_comment(row))
        if len(rows) < n:
            return items, None
        read += n
        params = {**params, "after": int(rows[-1][0])}
    return items, str(params["after"])  # stopped at the bound: search on from the last one read


def _cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    pk = parse_pk(cursor)
    if pk is None:
        raise ValueError(
            f"'cursor' must be the next_cursor of a previous page, a whole number from 0 to {MAX_PK},"
            f" not {cursor[:40]!r}"
        )
    return pk


def decided(store: Store, limit: int = 50, site: str | None = None, before: int | None = None
            ) -> list[ModeratedComment]:  # fmt: skip
    """Return the most recent approved and rejected comments (by the model or a human), newest first.

    These are the ones to correct: decide them again with `expected_status` set to their status.
    """
    where = ["status <> 'held'"]
    params: dict[str, Any] = {"n": _page(limit)}
    if site:
        where.append("site = :site")
        params["site"] = site
    if before is not None and int(before) <= MAX_PK:  # every pk is below a bigger one
        where.append("id < :before")
        params["before"] = int(before)
    rows = store.execute(
        f"SELECT {_COLUMNS} FROM comments WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT :n", params
    ).fetchall()
    return [_comment(r) for r in rows]


def counts_by_site(store: Store) -> dict[str, dict[str, int]]:
    """Return {site: {"held": n, "approved": n, "rejected": n}} over every stored comment."""
    out: dict[str, dict[str, int]] = {}
    rows = store.execute("SELECT site, status, COUNT(*) FROM comments GROUP BY site, status ORDER BY site")
    for site, status, n in rows.fetchall():
        out.setdefault(site, {"held": 0, "approved": 0, "rejected": 0})[status] = int(n)
    return out


def held_count(store: Store, site: str | None = None) -> int:
    """Return how many comments are held (for one site, or all)."""
    if site is None:
        return int(store.execute("SELECT COUNT(*) FROM comments WHERE status = 'held'").fetchone()[0])
    return int(
        store.execute(
            "SELECT COUNT(*) FROM comments WHERE status = 'held' AND site = :site", {"site": site}
        ).fetchone()[0]
    )


def get_by_pk(store: Store, pk: int) -> ModeratedComment | None:
    """Return the comment with primary key `pk`, or None."""
    if not _in_range(pk):
        return None
    row = store.execute(f"SELECT {_COLUMNS} FROM comments WHERE id = :pk", {"pk": int(pk)}).fetchone()
    return _comment(row) if row else None


def get_by_id(store: Store, site: str, comment_id: str) -> ModeratedComment | None:
    """Return the comment (site, platform id), or None."""
    row = store.execute(
        f"SELECT {_COLUMNS} FROM comments WHERE site = :site AND comment_id = :cid",
        {"site": site, "cid": comment_id},
    ).fetchone()
    return _comment(row) if row else None


def audit(store: Store, limit: int = 100, before: int | None = None, comment_pk: int | None = None
          ) -> list[AuditEntry]:  # fmt: skip
    """Return verdicts newest first (all, or one comment's); page with `before` = the last entry's id."""
    where = ["1 = 1"]
    params: dict[str, Any] = {"n": _page(limit)}
    if before is not None and int(before) <= MAX_PK:  # every id is below a bigger one
        where.append("id < :before")
        params["before"] = int(before)
    if comment_pk is not None:
        if not _in_range(comment_pk):
            return []
        where.append("comment_pk = :cpk")
        params["cpk"] = int(comment_pk)
    rows = store.execute(
        "SELECT id, comment_pk, site, comment_id, verdict, moderator, previous_status, status, created_at"
        f" FROM verdicts WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT :n",
        params,
    ).fetchall()
    return [AuditEntry(int(r[0]), int(r[1]), *r[2:]) for r in rows]


# -- deciding ----------------------------------------------------------------------------------


def decide(store: Store, pk: int, verdict: str, moderator: str, expected_status: str | None = None
           ) -> ModeratedComment:  # fmt: skip
    """Record a moderator's verdict ('ham' or 'spam') on comment `pk`; return the comment as decided.

    The comment changes only if its status is still `expected_status` ('held' by default; pass the
    shown status to correct an approved or rejected one). Raises NotFound, or Conflict with the
    comment as someone else left it. The audit row and the site's webhook delivery (if it has a
    webhook) are written in the same transaction.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"a verdict is 'ham' or 'spam', not {verdict!r}")
    if not _in_range(pk):
        raise NotFound(f"no comment {pk}")
    expected = expected_status or "held"
    status, now = VERDICTS[verdict], utcnow()
    with store.transaction() as run:
        row = run(
            store.sql(
                "UPDATE comments SET status = :status, verdict = :verdict, decided_by = :who,"
                " decided_at = :now WHERE id = :pk AND status = :expected"
                f" RETURNING {_COLUMNS}"
            ),
            {"status": status, "verdict": verdict, "who": moderator, "now": now, "pk": int(pk),
             "expected": expected},
        ).fetchone()  # fmt: skip
        if row is None:
            current = run(store.sql(f"SELECT {_COLUMNS} FROM comments WHERE id = :pk"), {"pk": int(pk)})
            found = current.fetchone()
            if found is None:
                raise NotFound(f"no comment {pk}")
            raise Conflict(_comment(found))
        comment = _comment(row)
        run(
            store.sql(
                "INSERT INTO verdicts (comment_pk, site, comment_id, verdict, moderator, previous_status,"
                " status, created_at) VALUES (:pk, :site, :cid, :verdict, :who, :prev, :status, :now)"
            ),
            {"pk": comment.pk, "site": comment.site, "cid": comment.comment_id, "verdict": verdict,
             "who": moderator, "prev": expected, "status": status, "now": now},
        )  # fmt: skip
        history.set_verdict(run, comment.site, comment.comment_id, verdict)
        _enqueue_webhook(store, run, comment, expected, now)
    return comment


def _enqueue_webhook(store: Store, run: Any, comment: ModeratedComment, previous: str, now: str) -> None:
    hook = run(
        store.sql("SELECT webhook_url FROM sites WHERE name = :site AND webhook_url IS NOT NULL"),
        {"site": comment.site},
    ).fetchone()
    if hook is None:
        return
    payload = {
        "event": "verdict", "site": comment.site, "id": comment.comment_id, "verdict": comment.verdict,
        "status": comment.status, "previous_status": previous, "moderator": comment.decided_by,
        "decided_at": now,
    }  # fmt: skip
    run(
        store.sql(
            "INSERT INTO webhook_deliveries (site, url, payload, state, attempts, next_attempt_at,"
            " created_at) VALUES (:site, :url, :payload, 'pending', 0, :now, :now)"
        ),
        {
            "site": comment.site,
            "url": hook[0],
            "payload": json.dumps(payload, ensure_ascii=False),
            "now": now,
        },
    )


# -- sites -------------------------------------------------------------------------------------


def set_webhook(store: Store, site: str, url: str | None, secret: str | None) -> None:
    """Set (or with url=None, remove) a site's webhook URL and signing secret."""
    store.execute(
        "INSERT INTO sites (name, webhook_url, webhook_secret, updated_at) VALUES (:s, :u, :k, :t)"
        " ON CONFLICT (name) DO UPDATE SET webhook_url = :u, webhook_secret = :k, updated_at = :t",
        {"s": site, "u": url, "k": secret, "t": utcnow()},
    )


def webhook_of(store: Store, site: str) -> tuple[str, str] | None:
    """Return a site's (webhook URL, secret), or None when it has none."""
    row = store.execute(
        "SELECT webhook_url, webhook_secret FROM sites WHERE name = :s AND webhook_url IS NOT NULL",
        {"s": site},
    ).fetchone()
    return (row[0], row[1] or "") if row else None


# -- human labels ------------------------------------------------------------------------------


def labelled_records(store: Store) -> list[dict[str, Any]]:
    """Return every human label as a contract record with `label` ('spam'/'ham'), oldest label first.

    Labels are moderators' verdicts and the platform's feedback; the latest one wins for a comment.
    The model's own decisions are never labels.
    """
    labels: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {}
    loose: list[tuple[str, dict[str, Any]]] = []
    rows = store.execute(
        "SELECT site, comment_id, record, verdict, decided_at FROM comments WHERE verdict IS NOT NULL"
    ).fetchall()
    for site, cid, record, verdict, at in rows:
        labels[(site, cid)] = (at, verdict, json.loads(record))
    feedback = store.execute(
        "SELECT f.site, f.comment_id, f.label, f.created_at, f.record, c.record FROM feedback f"
        " LEFT JOIN comments c ON c.site = f.site AND c.comment_id = f.comment_id ORDER BY f.id"
    ).fetchall()
    for site, cid, label, at, own, stored in feedback:
        record = json.loads(stored or own)
        if cid is None:
            loose.append((at, record | {"label": label}))
        elif (site, cid) not in labels or labels[(site, cid)][0] <= at:
            labels[(site, cid)] = (at, label, record)
    out = [(at, record | {"label": label}) for at, label, record in labels.values()] + loose
    out.sort(key=lambda pair: pair[0])
    return [record for _, record in out]


def feedback(store: Store, site: str, comment_id: str, label: str, source: str = "api") -> ModeratedComment:
    """Record the platform's label for a stored comment (POST /feedback); raise NotFound if none."""
    comment = get_by_id(store, site, comment_id)
    if comment is None:
        raise NotFound(f"no comment {comment_id!r} for site {site!r}")
    store.add_feedback(site, comment_id, label, comment.record, source)
    return comment


# -- retention ---------------------------------------------------------------------------------

# What `purge` drops from a decided comment's record: the fields that identify a person.
PERSONAL_FIELDS = ("author_ip", "ip", "author_email", "user_agent")


def purge(store: Store, older_than_days: float, whole_rows: bool = False) -> int:
    """Drop personal fields (or whole rows) of decided comments older than the given days; return how many.

    Held comments are never touched. Feedback records of the same age lose their personal fields
    too (they stay as labels). Deleting whole rows also deletes their verdict labels.
    """
    from datetime import UTC, datetime, timedelta

    cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    params = {"cutoff": cutoff}
    if whole_rows:
        cursor = store.execute("DELETE FROM comments WHERE status <> 'held' AND created_at < :cutoff", params)
        count = int(cursor.rowcount)
    else:
        count = _scrub(store, "comments", "status <> 'held' AND created_at < :cutoff", params)
    _scrub(store, "feedback", "created_at < :cutoff", params)
    return count


def _scrub(store: Store, table: str, where: str, params: dict[str, Any]) -> int:
    """Remove PERSONAL_FIELDS from the JSON records of matching rows, a batch at a time."""
    # Only rows whose text still names a personal field: a second purge finds nothing to do.
    named = " OR ".join(f"record LIKE :p{n}" for n in range(len(PERSONAL_FIELDS)))
    patterns = {f"p{n}": f'%"{f}"%' for n, f in enumerate(PERSONAL_FIELDS)}
    count, after = 0, 0
    while True:
        rows = store.execute(
            f"SELECT id, record FROM {table} WHERE ({where}) AND ({named}) AND id > :after"
            " ORDER BY id LIMIT 500",
            {**params, **patterns, "after": after},
        ).fetchall()
        if not rows:
            return count
        with store.transaction() as run:
            for pk, text in rows:
                record = json.loads(text)
                if any(f in record for f in PERSONAL_FIELDS):
                    for f in PERSONAL_FIELDS:
                        record.pop(f, None)
                    run(
                        store.sql(f"UPDATE {table} SET record = :r WHERE id = :id"),
                        {"r": json.dumps(record, ensure_ascii=False), "id": pk},
                    )
                    count += 1
        after = int(rows[-1][0])
