"""Moderators: named people with a password (scrypt) for the web UI and tokens for the JSON API.

Passwords are hashed with scrypt (hashlib, RFC 7914) and a random salt, and checked in constant time;
a check for an unknown name costs as much as one for a known name, so timing tells nothing.
Tokens (`sgm_…`) are random, shown once, and stored as a sha256 like site API keys (they cannot be
guessed, so a slow KDF would only slow every API call). A removed moderator can neither log in nor
use a token; their verdicts stay in the audit trail under their name.

For the web UI: log a moderator in with `verify_password(store, name, password)`, put them in the
Flask session with `start_session`, and on every request get them back with `session_moderator`. A
session holds the moderator's row id and a fingerprint of their stored password hash (a sha256 of
it, never the hash): removing a moderator, adding the name again or changing the password ends
every session made before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from spamguard.keys import hash_key
from spamguard.store import Store, utcnow

TOKEN_PREFIX = "sgm_"
TOKEN_BYTES = 32
SHOWN_CHARS = 12
MAX_TOKEN_CHARS = 128
# The Flask session keys of a logged-in moderator (web UI and JSON API share them): the name (shown,
# and telling an ended session from none), the row id, and the password hash's fingerprint.
SESSION_KEY = "moderator"
SESSION_ID_KEY = "moderator_id"
SESSION_FINGERPRINT_KEY = "moderator_fp"
# Largest id the moderators table holds (a signed 64-bit integer in both databases).
_MAX_ID = 2**63 - 1
# scrypt cost: 2**15 × 8 × 128 bytes = 32 MiB and 0.1-0.25 s per hash here: slow for guessing, fine
# for logins (tests lower it).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_CHARS = 8
# Longer passwords are refused before hashing (scrypt takes any length; this bounds the work).
MAX_PASSWORD_CHARS = 1024

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class ModeratorError(ValueError):
    """A name, password or token that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Moderator:
    """A moderator as stored (never the password)."""

    id: int
    name: str
    created_at: str
    removed_at: str | None = None
    # What a web session is tied to (see `session_fingerprint`); "" where the hash was not read.
    fingerprint: str = field(default="", repr=False, compare=False)


def hash_password(password: str, *, n: int | None = None) -> str:
    """Return `scrypt$n$r$p$salt$hash` for a password (base64 salt and hash)."""
    n = n or SCRYPT_N
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def check_password(password: str, stored: str) -> bool:
    """Return whether `password` matches a `hash_password` result (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    secret = password.encode("utf-8", "surrogatepass")
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Checked against when the name is unknown, so that case takes as long as a wrong password.
_DUMMY_HASH: str | None = None


def _dummy() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH


def session_fingerprint(password_hash: str) -> str:
    """Return a short fingerprint of a stored password hash: it changes with every new password."""
    # A hash of the hash: the cookie can be read (only signed), and must not carry the scrypt hash.
    return hashlib.sha256(b"spamguard-session\x00" + password_hash.encode("utf-8")).hexdigest()[:32]


def check_name(name: str) -> str:
    """Return a moderator name, or raise ModeratorError."""
    if not _NAME.match(name):
        raise ModeratorError(
            f"{name!r} is not a moderator name: up to 64 letters, digits, '.', '_', '@', '-'"
        )
    return name


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ModeratorError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ModeratorError(f"a password has at most {MAX_PASSWORD_CHARS} characters")


_COLUMNS = "id, name, created_at, removed_at"


def add_moderator(store: Store, name: str, password: str) -> Moderator:
    """Add a moderator (or bring back a removed one with a new password); raise if the name is live."""
    check_name(name)
    _check_new_password(password)
    hashed, now = hash_password(password), utcnow()
    with store.transaction() as run:
        row = run(store.sql("SELECT removed_at FROM moderators WHERE name = :n"), {"n": name}).fetchone()
        if row is not None and row[0] is None:
            raise ModeratorError(f"moderator {name!r} already exists")
        if row is None:
            run(
                store.sql("INSERT INTO moderators (name, password_hash, created_at) VALUES (:n, :h, :t)"),
                {"n": name, "h": hashed, "t": now},
            )
        else:
            run(
                store.sql(
                    "UPDATE moderators SET password_hash = :h, created_at = :t, removed_at = NULL"
                    " WHERE name = :n"
                ),
                {"n": name, "h": hashed, "t": now},
            )
    found = get_moderator(store, name)
    assert found is not None
    return found


def set_password(store: Store, name: str, password: str) -> None:
    """Change a live moderator's password."""
    _check_new_password(password)
    cursor = store.execute(
        "UPDATE moderators SET password_hash = :h WHERE name = :n AND removed_at IS NULL",
        {"n": name, "h": hash_password(password)},
    )
    if cursor.rowcount != 1:
        raise ModeratorError(f"no moderator {name!r}: see `spamguard moderators list`")


def remove_moderator(store: Store, name: str) -> Moderator:
    """Remove a moderator: no more logins, every token revoked; their verdicts stay."""
    now = utcnow()
    with store.transaction() as run:
        row = run(
            store.sql("SELECT id FROM moderators WHERE name = :n AND removed_at IS NULL"), {"n": name}
        ).fetchone()
        if row is None:
            raise ModeratorError(f"no moderator {name!r}: see `spamguard moderators list`")
        run(store.sql("UPDATE moderators SET removed_at = :t WHERE id = :id"), {"t": now, "id": row[0]})
        run(
            store.sql("UPDATE moderator_tokens SET revoked_at = :t WHERE moderator_id = :id"
                      " AND revoked_at IS NULL"),
            {"t": now, "id": row[0]},
        )  # fmt: skip
    return Moderator(int(row[0]), name, "", now)


def get_moderator(store: Store, name: str) -> Moderator | None:
    """Return the live (not removed) moderator called `name`, or None."""
    row = store.execute(
        f"SELECT {_COLUMNS} FROM moderators WHERE name = :n AND removed_at IS NULL", {"n": name}
    ).fetchone()
    return Moderator(int(row[0]), *row[1:]) if row else None


def list_moderators(store: Store) -> list[Moderator]:
    """Return every moderator, removed ones too, in the order they were added."""
    rows = store.execute(f"SELECT {_COLUMNS} FROM moderators ORDER BY id").fetchall()
    return [Moderator(int(r[0]), *r[1:]) for r in rows]


def verify_password(store: Store, name: str, password: str) -> Moderator | None:
    """Return the live moderator if the password is theirs, else None (same time either way)."""
    row = None
    if _NAME.match(name) and len(password) <= MAX_PASSWORD_CHARS:
        row = store.execute(
            "SELECT id, name, created_at, removed_at, password_hash FROM moderators"
            " WHERE name = :n AND removed_at IS NULL",
            {"n": name},
        ).fetchone()
    ok = check_password(password[:MAX_PASSWORD_CHARS], row[4] if row else _dummy())
    return Moderator(int(row[0]), row[1], row[2], row[3], session_fingerprint(row[4])) if row and ok else None


def start_session(session: MutableMapping[str, Any], moderator: Moderator) -> None:
    """Put a moderator that `verify_password` returned into a (fresh) web session."""
    if not moderator.fingerprint:
        raise ValueError("start a session with the moderator verify_password returned")
    session[SESSION_KEY] = moderator.name
    session[SESSION_ID_KEY] = moderator.id
    session[SESSION_FINGERPRINT_KEY] = moderator.fingerprint


def session_moderator(store: Store, session: Mapping[str, Any]) -> Moderator | None:
    """Return the live moderator of a web session, or None once removed, added again or re-passworded."""
    moderator_id, fingerprint = session.get(SESSION_ID_KEY), session.get(SESSION_FINGERPRINT_KEY)
    if type(moderator_id) is not int or not 0 < moderator_id <= _MAX_ID:
        return None
    if not isinstance(fingerprint, str) or not fingerprint.isascii():  # compare_digest wants ASCII
        return None
    row = store.execute(
        "SELECT id, name, created_at, removed_at, password_hash FROM moderators"
        " WHERE id = :id AND removed_at IS NULL",
        {"id": moderator_id},
    ).fetchone()
    if row is None or not hmac.compare_digest(session_fingerprint(row[4]), fingerprint):
        return None
    return Moderator(int(row[0]), row[1], row[2], row[3], fingerprint)


def create_token(store: Store, name: str) -> str:
    """Create an API token for a live moderator and return it (shown once; only its hash is kept)."""
    moderator = get_moderator(store, name)
    if moderator is None:
        raise ModeratorError(f"no moderator {name!r}: add one with `spamguard moderators add {name}`")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    store.execute(
        "INSERT INTO moderator_tokens (moderator_id, token_hash, prefix, created_at) VALUES (:m, :h, :p, :t)",
        {"m": moderator.id, "h": hash_key(token), "p": token[:SHOWN_CHARS], "t": utcnow()},
    )
    return token


def lookup_token(store: Store, token: str) -> Moderator | None:
    """Return the live moderator a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    row = store.execute(
        "SELECT m.id, m.name, m.created_at, m.removed_at FROM moderator_tokens t"
        " JOIN moderators m ON m.id = t.moderator_id"
        " WHERE t.token_hash = :h AND t.revoked_at IS NULL AND m.removed_at IS NULL",
        {"h": hash_key(token)},
    ).fetchone()
    return Moderator(int(row[0]), *row[1:]) if row else None


def is_token(value: str) -> bool:
    """Return whether a bearer value looks like a moderator token (rather than a site key)."""
    return value.startswith(TOKEN_PREFIX)
