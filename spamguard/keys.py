"""Per-site API keys: created once, stored as a hash, looked up through a short cache."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from spamguard.store import Store, StoreError, utcnow

KEY_PREFIX = "sg_"
# 32 random bytes: a key cannot be guessed, so a plain sha256 (no slow KDF) is a safe hash.
KEY_BYTES = 32
SHOWN_CHARS = 10
# Longer than any key this module makes; a longer header is rejected before hashing.
MAX_KEY_CHARS = 128
# Bounds memory if keys churn; a miss only costs a database lookup.
CACHE_SIZE = 4096

_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$")


class UnknownKey(LookupError):
    """No such key; the message says how to list them."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never the key itself): which sites it may score for."""

    id: int
    prefix: str
    sites: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None


def hash_key(key: str) -> str:
    """Return the stored form of a key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_site(name: str) -> str:
    """Return a site name, or raise ValueError if it cannot be one."""
    if not _SITE.match(name):
        raise ValueError(f"{name!r} is not a site name: use letters, digits, '.', '-', '_' or ':'")
    return name


def create_key(store: Store, sites: Iterable[str]) -> tuple[str, ApiKey]:
    """Create a key for some sites; return the key (shown once) and what is stored."""
    sites = tuple(dict.fromkeys(check_site(s) for s in sites))
    if not sites:
        raise ValueError("a key needs at least one site")
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    created = utcnow()
    with store.transaction() as run:
        run(
            store.sql(
                "INSERT INTO api_keys (key_hash, prefix, sites, created_at)"
                " VALUES (:key_hash, :prefix, :sites, :created_at)"
            ),
            {
                "key_hash": hash_key(key),
                "prefix": key[:SHOWN_CHARS],
                "sites": json.dumps(sites),
                "created_at": created,
            },
        )
        row = run(store.sql("SELECT id FROM api_keys WHERE key_hash = :h"), {"h": hash_key(key)}).fetchone()
    return key, ApiKey(int(row[0]), key[:SHOWN_CHARS], sites, created)


def _row(row: tuple) -> ApiKey:
    return ApiKey(int(row[0]), row[1], tuple(json.loads(row[2])), row[3], row[4])


_COLUMNS = "id, prefix, sites, created_at, revoked_at"


def find_key(store: Store, key: str) -> ApiKey | None:
    """Return the live (not revoked) key, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_CHARS:
        return None
    row = store.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL", {"h": hash_key(key)}
    ).fetchone()
    return _row(row) if row else None


def list_keys(store: Store) -> list[ApiKey]:
    """Return every key, revoked ones too, oldest first."""
    return [_row(r) for r in store.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY id").fetchall()]


def revoke_key(store: Store, which: str) -> ApiKey:
    """Revoke a key given by its id or its shown prefix; return it."""
    matches = [k for k in list_keys(store) if which in (str(k.id), k.prefix)]
    if len(matches) != 1:
        raise UnknownKey(f"no key {which!r}: see `spamguard keys list` for ids and prefixes")
    revoked = utcnow()
    store.execute(
        "UPDATE api_keys SET revoked_at = :t WHERE id = :id AND revoked_at IS NULL",
        {"t": revoked, "id": matches[0].id},
    )
    return get_key(store, matches[0].id)


def get_key(store: Store, key_id: int) -> ApiKey:
    """Return one key by id."""
    row = store.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = :id", {"id": key_id}).fetchone()
    if row is None:
        raise UnknownKey(f"no key with id {key_id}: see `spamguard keys list`")
    return _row(row)


class KeyCache:
    """Remember looked-up keys for `ttl` seconds, so the hot path rarely touches the database."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._entries: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def lookup(self, key: str) -> ApiKey | None:
        """Return the live key, from the cache or the store; unknown keys are never cached."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        try:
            found = find_key(self.store, key)
        except StoreError:
            if entry is not None:  # the store is down: a key seen before keeps scoring (into the spool)
                return entry[1]
            raise
        with self._lock:
            if found is None:
                self._entries.pop(key, None)
            else:
                if len(self._entries) >= CACHE_SIZE:
                    self._entries.clear()
                self._entries[key] = (now, found)
        return found
