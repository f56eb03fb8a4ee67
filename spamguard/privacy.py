"""Personal fields as stored: kept, truncated (IP to its /24 or /48, e-mail to its domain) or hashed.

Applied to the record when a scored comment is stored (and spooled), never before scoring: the model
and the history signals see the whole comment, the database keeps only what the setting allows.
Hashing is a keyed HMAC-SHA256 (key made once in $SPAMGUARD_HOME/privacy_key), so equal values still
match each other (the same commenter's comments can be found together) but cannot be recovered by
hashing every IPv4 address or a list of e-mail addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any

MODES = ("keep", "hash", "truncate")
# The same fields `spamguard purge` drops (moderation_store.PERSONAL_FIELDS).
IP_FIELDS = ("author_ip", "ip")
EMAIL_FIELDS = ("author_email",)
AGENT_FIELDS = ("user_agent",)
HASH_PREFIX = "hmac-sha256:"


def truncate_ip(value: str) -> str:
    """Return the /24 (IPv4) or /48 (IPv6) network of an address; '' for what is not an address."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def truncate_email(value: str) -> str:
    """Return only the domain of an e-mail address ('@example.org'); '' without one."""
    _, at, domain = value.strip().rpartition("@")
    return "@" + domain.lower() if at and domain else ""


def truncate_agent(value: str) -> str:
    """Return the first product token of a user agent ('Mozilla/5.0'), dropping version details."""
    return value.strip().split(" ", 1)[0][:64]


class Protector:
    """Apply one SPAMGUARD_PERSONAL_FIELDS mode to records."""

    def __init__(self, mode: str, key: bytes = b"") -> None:
        if mode not in MODES:
            raise ValueError(f"personal fields: expected one of {', '.join(MODES)}, got {mode!r}")
        if mode == "hash" and not key:
            raise ValueError("hashing personal fields needs a key")
        self.mode, self._key = mode, key

    def hash(self, value: str) -> str:
        """Return the keyed hash of a value, as stored."""
        return (
            HASH_PREFIX
            + hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        )

    def apply(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Return the record with its personal fields as the mode wants them stored."""
        out = dict(record)
        if self.mode == "keep":
            return out
        for names, truncate in (
            (IP_FIELDS, truncate_ip),
            (EMAIL_FIELDS, truncate_email),
            (AGENT_FIELDS, truncate_agent),
        ):
            for name in names:
                value = out.get(name)
                if not isinstance(value, str) or not value:
                    continue
                if self.mode == "hash":
                    # Normalised first, so '1.2.3.4 ' and 'ANN@x.org' hash as their plain forms do.
                    plain = value.strip().lower() if name not in AGENT_FIELDS else value
                    out[name] = self.hash(plain)
                else:
                    out[name] = truncate(value)
        return out
