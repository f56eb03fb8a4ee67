"""The comment record: one parser for the API, the CLI and training (contract section 1)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from spamguard.normalize import ascii_email, host_of, with_scheme

# A field longer than this is not a name, an address or a URL: it is kept out of the
# features (content has its own, larger bound in normalize.py).
MAX_FIELD_CHARS = 2048
# `id` and `site` are index keys: PostgreSQL's btree holds at most 2,704 bytes per entry, and
# (site, comment_id) is one entry. Bounded in UTF-8 bytes, not characters (2,000 CJK ones are 6 KB).
MAX_KEY_BYTES = 1024
# Content is stored whole (the HTTP body limit bounds it); this only rejects absurd files.
MAX_CONTENT_CHARS = 1_048_576

TEXT_FIELDS = (
    "id",
    "site",
    "author_name",
    "author_email",
    "author_url",
    "author_ip",
    "user_agent",
    "referrer",
    "permalink",
    "post_id",
    "parent_id",
    "comment_type",
    "language",
    "created_at",
    "honeypot",
)

_LABELS = {
    "spam": 1,
    "1": 1,
    "true": 1,
    "yes": 1,
    "ham": 0,
    "0": 0,
    "false": 0,
    "no": 0,
}

_SURROGATE = re.compile("[\ud800-\udfff]")
# A local part bare or quoted ("john doe"@example.com); the domain in ASCII, as clean_email makes it.
_EMAIL = re.compile(
    r"^(?:[^@\s<>\"']{1,128}|\"[^\"\\\r\n]{1,126}\")@([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+)$"
)


class RecordError(ValueError):
    """A record the caller must fix: names the field and says what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class Comment:
    """A validated comment; every optional field is None when unknown or unusable."""

    content: str
    id: str | None = None
    site: str | None = None
    author_name: str | None = None
    author_email: str | None = None
    author_url: str | None = None
    author_ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    permalink: str | None = None
    post_id: str | None = None
    parent_id: str | None = None
    comment_type: str = "comment"
    language: str | None = None
    created_at: datetime | None = None
    honeypot: str | None = None
    time_on_page_ms: int | None = None
    label: int | None = None
    source: str | None = None

    def to_record(self) -> dict[str, Any]:
        """Return the record as JSON-ready fields, leaving out unknown ones."""
        out: dict[str, Any] = {}
        for name in _RECORD_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "label":
                value = "spam" if value else "ham"
            elif isinstance(value, datetime):
                value = value.isoformat()
            out[name] = value
        return out


# Computed once: dataclasses.fields() on every call cost a few µs of each /score.
_RECORD_FIELDS = tuple(f.name for f in fields(Comment) if f.name != "source")


def parse_label(value: Any) -> int | None:
    """Read a label (`spam`/`ham`, `1`/`0`, `true`/`false`); None when absent or unreadable."""
    if value is None or isinstance(value, float) and value != value:  # NaN from pandas
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    return _LABELS.get(str(value).strip().lower())


def clean_ip(value: str) -> str | None:
    """Return the IP address in canonical form, or None if it is not one."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):  # as written in a URL; one pair only
        value = value[1:-1]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def clean_email(value: str) -> str | None:
    """Return a lower-cased e-mail address, or None if it does not look like one."""
    # Checked once lower-cased, so that what is kept is what was checked. U+0130 (İ) is the one
    # letter whose lower case is longer (i and U+0307): it becomes i, as in Turkish, so that an
    # address within the length limit stays within it.
    value = ascii_email(value.strip().replace("\u0130", "i").lower())
    return value if _EMAIL.match(value) else None


def clean_url(value: str) -> str | None:
    """Return the URL with a scheme, or None if no dotted host can be read from it."""
    value = value.strip()
    if not value or any(c.isspace() for c in value):
        return None
    # host_of is what reads the host of an author URL later (signals, lists, history): ask it.
    value = with_scheme(value)
    host = host_of(value)
    return value if host and "." in host else None


def clean_datetime(value: str) -> datetime | None:
    """Parse an RFC 3339 / ISO 8601 time as UTC; None if it is not one."""
    value = value.strip()
    if not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        # Year 1 or 9999 with an offset leaves the range of datetime once moved to UTC.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


_CLEANERS = {
    "author_email": clean_email,
    "author_url": clean_url,
    "author_ip": clean_ip,
}


def parse_record(raw: Mapping[str, Any], *, source: str | None = None) -> Comment:
    """Validate one record; wrong types raise RecordError, odd values become unknown."""
    if not isinstance(raw, Mapping):
        raise RecordError("a comment record must be a JSON object")
    content = raw.get("content")
    if content is None:
        raise RecordError("'content' is required", "content")
    if not isinstance(content, str):
        raise RecordError("'content' must be a string", "content")
    if len(content) > MAX_CONTENT_CHARS:
        raise RecordError(f"'content' is longer than {MAX_CONTENT_CHARS} characters", "content")
    # PostgreSQL takes no NUL in text: it becomes U+FFFD, so that the comment is scored and stored
    # the same on every store.
    content = _without_surrogates(content).replace("\x00", "\ufffd")
    values: dict[str, Any] = {"content": content, "source": source}
    if raw.get("author_ip") is None and raw.get("ip") is not None:
        raw = {**raw, "author_ip": raw["ip"]}
    for name in TEXT_FIELDS:
        value = raw.get(name)
        if value is None:
            continue
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and name in ("id", "post_id", "parent_id"):
            value = str(value)  # platforms often send numeric ids
        if not isinstance(value, str):
            raise RecordError(f"'{name}' must be a string", name)
        if name in ("id", "site") and ("\x00" in value or _utf8_len(value) > MAX_KEY_BYTES):
            raise RecordError(f"'{name}' must be at most {MAX_KEY_BYTES} bytes in UTF-8, without NUL", name)
        if "\x00" in value or len(value) > MAX_FIELD_CHARS:
            continue
        value = _without_surrogates(value.strip())
        if not value:
            continue
        if name == "created_at":
            values[name] = clean_datetime(value)
        elif name in _CLEANERS:
            values[name] = _CLEANERS[name](value)
        elif name in ("comment_type", "language"):
            values[name] = value.lower()[:32]
        else:
            values[name] = value
    values["time_on_page_ms"] = _parse_time_on_page(raw.get("time_on_page_ms"))
    values["label"] = parse_label(raw.get("label"))
    return Comment(**values)


def _utf8_len(value: str) -> int:
    # Lone surrogates (from JSON escapes) count as the 3 bytes they are refused or replaced by.
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def has_lone_surrogate(value: str) -> bool:
    """Tell whether a string holds a lone UTF-16 surrogate (json.loads makes one of a "\\ud800" escape)."""
    return not value.isascii() and _SURROGATE.search(value) is not None


def _without_surrogates(value: str) -> str:
    # No encoder accepts a lone surrogate; features encode text, so such code points become U+FFFD
    # here, once, for every caller.
    return _SURROGATE.sub("\ufffd", value) if has_lone_surrogate(value) else value


def _parse_time_on_page(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        value = int(value)
    if not isinstance(value, int):
        raise RecordError("'time_on_page_ms' must be an integer", "time_on_page_ms")
    return value if 0 <= value <= 10**10 else None
