"""Comment history: near-duplicate sketches, velocity and reputation, and the rules read from them.

Every stored comment leaves a SimHash of its normalised text and its identity keys (IP, e-mail,
author-URL domain, link domains) in the store, shared by all replicas. Scoring a new comment asks
two bounded, indexed queries of that history (one for near-duplicates, one for all its keys) and
turns the answer into named reasons with `history_rules`, a pure function like `policy.decide`.

Identity values are kept as keyed digests, never in clear: the history can link comments by the
same IP or e-mail without being a second copy of them (purging a comment's record leaves only
digests here). Everything is per site.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spamguard.comment import Comment
from spamguard.normalize import Text, host_of, is_ip_host, normalize
from spamguard.policy import APPROVE, HOLD, REJECT, Reason
from spamguard.signals import registered_domain
from spamguard.store import Store

# The clock history is kept in (epoch seconds); the replay benchmark swaps in the data's own time.
clock: Callable[[], float] = time.time

SHINGLE_WORDS = 3
# A sketch reads at most this many shingles: the head of a long comment identifies it well enough.
MAX_SHINGLES = 256
# Below this many words two unrelated comments ("love this song!") collide too easily.
MIN_SKETCH_WORDS = 6
NEAR_DUP_BITS = 3  # Hamming distance up to which two sketches are near-duplicates
BANDS = 4  # 4 bands of 16 bits: two sketches within 3 bits share at least one band exactly
NEAR_DUP_WINDOW_S = 24 * 3600
# Bounds on every query: candidates read per band, rows read per identity key. The rules act on a few
# near-duplicates (CAMPAIGN_AUTHORS, NEAR_DUP_REJECT_AT); 50 per band (was 200) made a lookup over
# 200,000 history rows of 2,740 texts 171 -> 122 µs at p50, 382 -> 221 µs at p90, and left
# bench/replay.py's figures as they were.
MAX_BAND_CANDIDATES = 50
MAX_KEY_ROWS = 500
MAX_LINK_DOMAINS = 5
WINDOWS = (("1m", 60), ("1h", 3600), ("1d", 86400))

KINDS = ("ip", "email", "url_domain", "link_domain")
_KIND_TEXT = {
    "ip": "this IP",
    "email": "this e-mail",
    "url_domain": "this author-URL domain",
    "link_domain": "link domain",
}
_WORD = re.compile(r"\w+")
_MASK64 = (1 << 64) - 1


# -- the sketch --------------------------------------------------------------------------------


def words_of(text: Text) -> list[str]:
    """Return the lower-case words of normalised text."""
    return _WORD.findall(text.text.lower())


def simhash(words: list[str]) -> int:
    """Return the 64-bit SimHash over word 3-shingles (the whole text when it is shorter)."""
    if not words:
        return 0
    n = max(1, len(words) - SHINGLE_WORDS + 1)
    shingles = [" ".join(words[i : i + SHINGLE_WORDS]) for i in range(min(n, MAX_SHINGLES))]
    digests = b"".join([hashlib.blake2b(s.encode(), digest_size=8).digest() for s in shingles])
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8)).reshape(len(shingles), 64)
    votes = bits.sum(axis=0) * 2 > len(shingles)
    return int.from_bytes(np.packbits(votes).tobytes(), "big")  # bit 0 is the most significant


def bands(sketch: int) -> list[int]:
    """Split a sketch into its BANDS 16-bit bands, most significant first."""
    return [(sketch >> (48 - 16 * i)) & 0xFFFF for i in range(BANDS)]


def hamming(a: int, b: int) -> int:
    """Return the number of bits two sketches differ in."""
    return ((a ^ b) & _MASK64).bit_count()


def _signed(value: int) -> int:
    """Fit an unsigned 64-bit value into a signed BIGINT column."""
    return value - (1 << 64) if value >= 1 << 63 else value


# -- identity keys ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What the history keeps of one comment: its sketch and its identity keys (in clear here)."""

    sketch: int | None
    author: str | None
    keys: tuple[tuple[str, str], ...]


def facts(comment: Comment, text: Text | None = None) -> Facts:
    """Compute a comment's sketch (None when too short to compare) and identity keys."""
    text = text or normalize(comment.content)
    words = words_of(text)
    sketch = simhash(words) if len(words) >= MIN_SKETCH_WORDS else None
    keys: list[tuple[str, str]] = []
    if comment.author_ip:
        keys.append(("ip", comment.author_ip.strip().lower()))
    if comment.author_email:
        keys.append(("email", comment.author_email.strip().lower()))
    if comment.author_url:
        host = host_of(comment.author_url.strip())
        if host:  # an IP address is its own domain: its last two numbers are no registrable name
            keys.append(("url_domain", host if is_ip_host(host) else registered_domain(host)))
    domains = dict.fromkeys(registered_domain(lk.host) for lk in text.links if not lk.is_ip)
    keys += [("link_domain", d) for d in list(domains)[:MAX_LINK_DOMAINS]]
    author = next((v for kind in ("email", "ip") for k, v in keys if k == kind), None)
    if author is None and comment.author_name:
        author = "name:" + comment.author_name.strip().lower()
    return Facts(sketch, author, tuple(keys))


def digest(kind: str, value: str) -> str:
    """Return the digest an identity value is kept as."""
    return hashlib.blake2b(f"{kind}\0{value}".encode(), digest_size=12, person=b"spamguard-hist").hexdigest()


# -- reading and writing the history ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyHistory:
    """Earlier comments sharing one identity key: counts per window and by outcome."""

    kind: str
    value: str
    recent: tuple[int, ...]  # comments in each of WINDOWS (capped at MAX_KEY_ROWS)
    approved: int
    rejected: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the history says about a new comment."""

    near_rejected: int = 0  # near-duplicates rejected in the last 24 h
    near_authors: int = 0  # distinct other authors among the near-duplicates of the last 24 h
    near_total: int = 0
    keys: tuple[KeyHistory, ...] = field(default_factory=tuple)


# Recorded instead of `reject` when a rule about the sender rejected a comment (the honeypot, a deny
# list entry for its IP, e-mail or domain): a bot often posts a copy of someone else's comment, so its
# text says nothing, while its IP, e-mail and links do.
SENDER_REJECTED = "sender_rejected"


# A moderator's verdict replaces the decision in its comment's history rows (`set_verdict`), so the
# reads need no join with the comments. A sender rejection counts against the sender's keys but not
# against its text (near-duplicates of it only hold).
_VERDICT_DECISION = {"ham": APPROVE, "spam": REJECT}


def set_verdict(run: Callable[..., Any], site: str, comment_id: str, verdict: str) -> None:
    """Write a moderator's verdict ('ham' or 'spam') into a comment's history, with `run` of the
    caller's `Store.transaction` (the one that records the verdict)."""
    params = {"site": site, "cid": comment_id, "decision": _VERDICT_DECISION[verdict]}
    for table in ("history", "history_keys"):
        run(f"UPDATE {table} SET decision = :decision WHERE site = :site AND comment_id = :cid", params)


@functools.lru_cache(maxsize=64)
def _lookup_sql(with_sketch: bool, n_keys: int) -> str:
    """Build the one statement `lookup` runs: near-duplicate candidates, then one row per key.

    Rows are (i, simhash, author, c0 … c4): i = -1 for candidates (c0 = 1 if they count as
    rejected, c1 how many); else the key's index with its counts per window (c0 … c2) and approved /
    rejected.
    """
    parts = []
    if with_sketch:
        bands_sql = " UNION ".join(
            f"SELECT id FROM (SELECT id FROM history WHERE site = :site AND band{i} = :b{i}"
            f" AND at >= :since ORDER BY at DESC LIMIT :nb) AS q{i}"
            for i in range(BANDS)
        )
        rejected = f"CASE WHEN h.decision = '{REJECT}' THEN 1 ELSE 0 END"
        # Copies with the same sketch, author and outcome come back as one row with their count.
        parts.append(
            f"SELECT -1 AS i, h.simhash AS simhash, h.author AS author, {rejected} AS c0, COUNT(*) AS c1,"
            f" 0 AS c2, 0 AS c3, 0 AS c4 FROM history h WHERE h.id IN ({bands_sql})"
            f" GROUP BY h.simhash, h.author, {rejected}"
        )
    if n_keys:
        per_key = " UNION ALL ".join(
            f"SELECT * FROM (SELECT {i} AS i, at, decision FROM history_keys"
            f" WHERE site = :site AND kind = :k{i} AND value = :v{i} ORDER BY at DESC LIMIT :nk) AS k{i}"
            for i in range(n_keys)
        )
        windows = ", ".join(f"SUM(CASE WHEN k.at >= :w{w} THEN 1 ELSE 0 END)" for w in range(len(WINDOWS)))
        parts.append(
            "SELECT k.i, CAST(NULL AS BIGINT), CAST(NULL AS TEXT), " + windows + ","
            f" SUM(CASE WHEN k.decision = '{APPROVE}' THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN k.decision IN ('{REJECT}', '{SENDER_REJECTED}') THEN 1 ELSE 0 END)"
            f" FROM ({per_key}) AS k GROUP BY k.i"
        )
    return " UNION ALL ".join(parts)


def lookup(store: Store, site: str, found: Facts, now: float | None = None) -> Evidence:
    """Read what the history knows about a comment's sketch and keys (one bounded statement).

    The database counts each key's rows per window and outcome; the near-duplicate candidates (at
    most BANDS * MAX_BAND_CANDIDATES) come back grouped by sketch, author and outcome, for the
    Hamming distance.
    """
    now = clock() if now is None else now
    sketch = found.sketch
    if sketch is None and not found.keys:
        return Evidence()
    params: dict[str, object] = {"site": site}
    if sketch is not None:
        params.update(since=now - NEAR_DUP_WINDOW_S, nb=MAX_BAND_CANDIDATES)
        params.update({f"b{i}": b for i, b in enumerate(bands(sketch))})
    if found.keys:
        params["nk"] = MAX_KEY_ROWS
        params.update({f"w{w}": now - span for w, (_, span) in enumerate(WINDOWS)})
        for i, (kind, value) in enumerate(found.keys):
            params[f"k{i}"], params[f"v{i}"] = kind, digest(kind, value)
    rows = store.execute(_lookup_sql(sketch is not None, len(found.keys)), params).fetchall()
    near_rejected = near_total = 0
    own = digest("author", found.author) if found.author else None
    authors = set()
    counts: dict[int, tuple[int, ...]] = {}
    for i, simhash_, author, *c in rows:
        if i >= 0:
            counts[int(i)] = tuple(int(x or 0) for x in c)
        elif sketch is not None and hamming(int(simhash_), sketch) <= NEAR_DUP_BITS:
            near_total += int(c[1])
            near_rejected += int(c[0]) * int(c[1])
            if author and author != own:
                authors.add(author)
    keys = []
    for i, (kind, value) in enumerate(found.keys):
        *recent, approved, rejected = counts.get(i, (0,) * (len(WINDOWS) + 2))
        keys.append(KeyHistory(kind, value, tuple(recent), approved, rejected))
    return Evidence(near_rejected, len(authors), near_total, tuple(keys))


def record(store: Store, site: str, comment_id: str, found: Facts, decision: str,
           now: float | None = None) -> bool:  # fmt: skip
    """Add a comment to the history with its decision (the would-be one in shadow mode).

    A comment already there (the same site and id posted again) is left as it is: return False.
    """
    with store.transaction() as run:
        return write(run, site, comment_id, found, decision, now)


def write(run: Callable[..., Any], site: str, comment_id: str, found: Facts, decision: str,
          now: float | None = None) -> bool:  # fmt: skip
    """Do `record` with `run` of the caller's `Store.transaction` (two statements); return whether added."""
    now = clock() if now is None else now
    sketch = found.sketch
    split = bands(sketch) if sketch is not None else [None] * BANDS
    added = run(
        "INSERT INTO history (site, comment_id, at, author, simhash, band0, band1, band2, band3, decision)"
        " VALUES (:site, :cid, :at, :author, :simhash, :b0, :b1, :b2, :b3, :decision)"
        " ON CONFLICT (site, comment_id) DO NOTHING",
        {
            "site": site, "cid": comment_id, "at": now, "decision": decision,
            "author": digest("author", found.author) if found.author else None,
            "simhash": _signed(sketch) if sketch is not None else None,
            **{f"b{i}": b for i, b in enumerate(split)},
        },
    ).rowcount == 1  # fmt: skip
    if added and found.keys:
        params: dict[str, object] = {"site": site, "at": now, "cid": comment_id, "decision": decision}
        for i, (kind, value) in enumerate(found.keys):
            params[f"k{i}"], params[f"v{i}"] = kind, digest(kind, value)
        run(
            "INSERT INTO history_keys (site, kind, value, at, comment_id, decision) VALUES "
            + ", ".join(f"(:site, :k{i}, :v{i}, :at, :cid, :decision)" for i in range(len(found.keys))),
            params,
        )
    return added


# Rows one prune statement deletes: short transactions, so /score writers are not held up behind it.
PRUNE_BATCH = 1000


def prune(store: Store, older_than_s: float, now: float | None = None, batch: int = PRUNE_BATCH,
          pause: Callable[[], object] | None = None) -> int:  # fmt: skip
    """Delete history older than `older_than_s` seconds; return how many comments it dropped.

    Each statement deletes at most `batch` rows (oldest first, by the `at` indexes); `pause` is
    called between statements. Several processes pruning at once only find less to delete.
    """
    cutoff = (clock() if now is None else now) - older_than_s
    dropped = 0
    for table in ("history_keys", "history"):
        while True:
            n = int(store.execute(
                f"DELETE FROM {table} WHERE id IN"
                f" (SELECT id FROM {table} WHERE at < :cutoff ORDER BY at LIMIT :n)",
                {"cutoff": cutoff, "n": batch},
            ).rowcount)  # fmt: skip
            dropped += n if table == "history" else 0
            if n < batch:
                break
            if pause is not None:
                pause()
    return dropped


# -- the rules ----------------------------------------------------------------------------------

# Velocity: earlier comments in (1 min, 1 h, 1 day) from which a key's rate holds a comment.
VELOCITY_LIMITS = {
    "ip": (5, 30, 100),
    "email": (5, 30, 100),
    "url_domain": (5, 30, 100),
    "link_domain": (10, 60, 300),
}
NEAR_DUP_REJECT_AT = 2  # near-duplicates of this many rejected comments reject; one holds
CAMPAIGN_AUTHORS = 3  # near-duplicates from this many other authors in 24 h hold (a campaign)
SPAM_REPUTATION_AT = 2  # earlier rejected comments of a key (outnumbering approved ones) that hold
TRUSTED_MIN_APPROVED = 3  # default approved comments of an e-mail that make its author trusted


@dataclass(frozen=True, slots=True)
class Ruling:
    """What the history rules say: reasons, the least severe decision they allow, and trust."""

    reasons: tuple[Reason, ...] = ()
    floor: str = APPROVE  # the decision is raised to at least this
    trusted: bool = False


_SEVERITY = {APPROVE: 0, HOLD: 1, REJECT: 2}


def stricter(a: str, b: str) -> str:
    """Return the more severe of two decisions."""
    return a if _SEVERITY[a] >= _SEVERITY[b] else b


def history_rules(ev: Evidence, trusted_on: bool = True, trusted_min: int = TRUSTED_MIN_APPROVED,
                  velocity: Mapping[str, tuple[int, ...]] | None = None) -> Ruling:  # fmt: skip
    """Turn history evidence into named reasons and a decision floor (a pure function).

    `velocity` holds a site's own limits per key kind (VELOCITY_LIMITS where it has none; 0 = off).
    """
    reasons: list[Reason] = []
    floor = APPROVE
    if ev.near_rejected:
        floor = stricter(floor, REJECT if ev.near_rejected >= NEAR_DUP_REJECT_AT else HOLD)
        reasons.append(
            Reason(
                "history:near_duplicate_spam",
                3.0,
                f"near-duplicate of {ev.near_rejected} comments rejected in the last 24 h",
            )
        )
    if ev.near_authors >= CAMPAIGN_AUTHORS:
        floor = stricter(floor, HOLD)
        reasons.append(
            Reason(
                "history:campaign",
                2.0,
                f"near-duplicate of {ev.near_total} recent comments from {ev.near_authors} different authors",
            )
        )
    trusted = False
    for key in ev.keys:
        limits = (velocity or {}).get(key.kind) or VELOCITY_LIMITS[key.kind]
        # A link domain with a good name from before a window (approved comments older than it
        # outnumber the spam) may be linked often. Approvals inside the window do not count, so a burst
        # the model approved cannot vouch for itself, unless the window holds all the rows the lookup
        # reads (a domain that busy has a longer past than the history shows).
        all_read = key.recent[-1] < MAX_KEY_ROWS  # else the day holds more rows than the lookup read
        for (window, _), count, limit in zip(WINDOWS, key.recent, limits, strict=True):
            good_name = key.kind == "link_domain" and key.approved - (count if all_read else 0) > key.rejected
            if limit and count >= limit and not good_name:
                floor = stricter(floor, HOLD)
                reasons.append(
                    Reason(
                        f"velocity:{key.kind}_{window}",
                        1.5,
                        f"{count} earlier comments from {_KIND_TEXT[key.kind]} "
                        f"{key.value[:80]} in the last {_WINDOW_TEXT[window]}",
                    )
                )
                break  # the shortest window over its limit says it
        if key.rejected >= SPAM_REPUTATION_AT and key.rejected > key.approved:
            floor = stricter(floor, HOLD)
            name = "domain" if key.kind in ("link_domain", "url_domain") else key.kind
            reasons.append(
                Reason(
                    f"reputation:spam_{name}",
                    2.0,
                    f"{key.rejected} earlier comments with {_KIND_TEXT[key.kind]} "
                    f"{key.value[:80]} were spam ({key.approved} approved)",
                )
            )
        if key.kind == "email" and trusted_on and key.approved >= trusted_min and key.rejected == 0:
            trusted = True
            reasons.append(
                Reason(
                    "reputation:trusted",
                    -3.0,
                    f"{key.approved} earlier comments from this e-mail approved, none spam",
                )
            )
    return Ruling(tuple(reasons), floor, trusted)


_WINDOW_TEXT = {"1m": "minute", "1h": "hour", "1d": "day"}


def rank(reasons: Iterable[Reason]) -> list[Reason]:
    """Order reasons as the contract does: most spam-ward first, the most ham-ward last."""
    reasons = list(reasons)
    spam = sorted((r for r in reasons if r.weight > 0), key=lambda r: -r.weight)
    rest = sorted((r for r in reasons if r.weight <= 0), key=lambda r: -r.weight)
    return spam + rest
