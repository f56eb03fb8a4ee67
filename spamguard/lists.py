"""Allow and deny lists per site: e-mail, domain, IP/CIDR, keyword and (bounded) regex entries.

A deny hit rejects, an allow hit approves unless the honeypot is filled (spamguard/screening.py).
Entries are validated when added, so matching on the /score path cannot fail or run away: regexes
with nested or stacked quantifiers, back-references or look-arounds are refused, and every regex
reads at most the first REGEX_TEXT_CHARS characters of the normalised text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

from spamguard.comment import Comment
from spamguard.normalize import Text, ascii_email, ascii_host, host_of
from spamguard.policy import Reason
from spamguard.store import Store, utcnow

ACTIONS = ("allow", "deny")
KINDS = ("email", "domain", "ip", "keyword", "regex")
MAX_ENTRIES = 10_000  # per site
MAX_REGEXES = 50  # per site: each costs a scan of the text
MAX_VALUE_CHARS = 200
REGEX_TEXT_CHARS = 1024
# A regex's worst case, in steps over REGEX_TEXT_CHARS characters: the text length times the product
# of its quantifiers' ranges (an unbounded one counts as the text length). 2**21 keeps the worst
# admitted pattern to a few milliseconds; one `+` or `*` fits, two do not.
MAX_REGEX_COST = 2**21
ALLOW_WEIGHT, DENY_WEIGHT = -10.0, 10.0
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


class ListError(ValueError):
    """A list entry that cannot be used; the message says why and what would work."""


def parse_kind(text: str) -> tuple[str, str]:
    """Split `allow-email` / `deny-ip` … into (action, kind), or raise ListError."""
    action, _, kind = text.lower().partition("-")
    if action not in ACTIONS or kind not in KINDS:
        choices = ", ".join(f"{a}-{k}" for a in ACTIONS for k in KINDS)
        raise ListError(f"unknown list kind {text!r}: use one of {choices}")
    return action, kind


def normalise(kind: str, value: str) -> str:
    """Return the canonical form of an entry, or raise ListError saying what is wrong with it."""
    value = value.strip()
    if not value or len(value) > MAX_VALUE_CHARS:
        raise ListError(f"a {kind} entry has 1 to {MAX_VALUE_CHARS} characters")
    if kind == "email":
        if "@" not in value.strip("@"):
            raise ListError(f"not an e-mail address: {value!r} (block a whole domain with KIND domain)")
        # The domain in ASCII, as parse_record keeps a comment's address (comment.clean_email).
        return ascii_email(value.lower())
    if kind == "domain":
        # bücher.example is kept as xn--bcher-kva.example, the form match() compares hosts in.
        domain = ascii_host(value.lower().removeprefix("*.").strip("."))
        if not _DOMAIN.fullmatch(domain):
            raise ListError(f"not a domain name: {value!r} (example.com covers its subdomains)")
        return domain
    if kind == "ip":
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ListError(f"not an IP address or CIDR network: {value!r}") from None
    if kind == "keyword":
        return " ".join(value.lower().split())
    check_regex(value)
    return value


# -- regex safety -------------------------------------------------------------------------------


def check_regex(pattern: str) -> re.Pattern[str]:
    """Compile a list regex (case-insensitive) if its worst case is bounded, else raise ListError."""
    try:
        parsed = _parser.parse(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ListError(f"not a regular expression: {exc}") from None
    cost = REGEX_TEXT_CHARS

    def walk(items: Iterable[Any], in_repeat: bool) -> None:
        nonlocal cost
        for op, arg in items:
            if op in _REFUSED:
                raise ListError(f"{_REFUSED[op]} are not allowed in list regexes")
            if op in _REPEATS:
                low, high, body = arg
                if in_repeat:
                    raise ListError("nested quantifiers like (a+)+ can take exponential time: not allowed")
                if _contains(body, _c.BRANCH):
                    raise ListError("a quantified alternation like (a|ab)* can take exponential time")
                cost *= REGEX_TEXT_CHARS if high == _c.MAXREPEAT else high - low + 1
                walk(body, True)
            elif op == _c.SUBPATTERN:
                walk(arg[-1], in_repeat)
            elif op == _c.BRANCH:
                for branch in arg[1]:
                    walk(branch, in_repeat)
            elif op == _c.ATOMIC_GROUP:
                walk(arg, in_repeat)

    walk(parsed, False)
    if cost > MAX_REGEX_COST:
        raise ListError(
            "this regex could take too long on a long comment: use at most one unbounded + or *,"
            r" and bounded ranges like \s{1,3} for the others"
        )
    return re.compile(pattern, re.IGNORECASE)


_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_REFUSED = {_c.GROUPREF: "back-references", _c.GROUPREF_EXISTS: "conditionals", _c.ASSERT: "look-arounds",
            _c.ASSERT_NOT: "look-arounds"}  # fmt: skip


def _contains(items: Iterable[Any], wanted: Any) -> bool:
    for op, arg in items:
        if op == wanted or op == _c.SUBPATTERN and _contains(arg[-1], wanted):
            return True
    return False


# -- the store ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One list entry."""

    action: str
    kind: str
    value: str
    created_at: str


def add(store: Store, site: str, action: str, kind: str, value: str) -> Entry:
    """Add an entry (validated and normalised) to a site's list; adding it twice changes nothing."""
    value = normalise(kind, value)
    current = entries(store, site)
    if len(current) >= MAX_ENTRIES:
        raise ListError(f"site {site!r} has {MAX_ENTRIES} list entries already: remove some first")
    if kind == "regex" and sum(e.kind == "regex" for e in current) >= MAX_REGEXES:
        raise ListError(f"site {site!r} has {MAX_REGEXES} regexes already: remove some first")
    now = utcnow()
    with store.transaction() as run:
        run(
            store.sql(
                "INSERT INTO site_lists (site, action, kind, value, created_at)"
                " VALUES (:site, :action, :kind, :value, :now)"
                " ON CONFLICT (site, action, kind, value) DO NOTHING"
            ),
            {"site": site, "action": action, "kind": kind, "value": value, "now": now},
        )
        bump_version(store, run)
    return Entry(action, kind, value, now)


def remove(store: Store, site: str, action: str, kind: str, value: str) -> bool:
    """Remove an entry; return False when there was none."""
    try:
        value = normalise(kind, value)
    except ListError:
        pass  # an entry that no longer validates can still be removed as typed
    with store.transaction() as run:
        gone = run(
            store.sql(
                "DELETE FROM site_lists WHERE site = :site AND action = :action AND kind = :kind"
                " AND value = :value"
            ),
            {"site": site, "action": action, "kind": kind, "value": value},
        ).rowcount
        bump_version(store, run)
    return bool(gone)


def entries(store: Store, site: str) -> list[Entry]:
    """Return a site's list entries, in the order they were added."""
    rows = store.execute(
        "SELECT action, kind, value, created_at FROM site_lists WHERE site = :site ORDER BY id",
        {"site": site},
    ).fetchall()
    return [Entry(*row) for row in rows]


def bump_version(store: Store, run: Any) -> None:
    """Tell every worker that lists or policies changed (inside the changing transaction)."""
    if run(store.sql("UPDATE config_version SET version = version + 1")).rowcount == 0:
        run(store.sql("INSERT INTO config_version (version) VALUES (1)"))


# -- matching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lists:
    """A site's entries, compiled for matching."""

    emails: dict[str, str] = field(default_factory=dict)  # value -> action
    domains: dict[str, str] = field(default_factory=dict)
    networks: dict[int, dict[Any, str]] = field(default_factory=dict)  # prefix length -> network -> action
    keywords: tuple[tuple[str, str], ...] = ()
    regexes: tuple[tuple[re.Pattern[str], str], ...] = ()

    @classmethod
    def compile(cls, items: Iterable[Entry]) -> Lists:
        """Compile entries; one that no longer validates is skipped."""
        out = cls()
        keywords, regexes = [], []
        for e in items:
            try:
                if e.kind == "email":
                    out.emails[e.value] = e.action
                elif e.kind == "domain":
                    out.domains[e.value] = e.action
                elif e.kind == "ip":
                    net = ipaddress.ip_network(e.value, strict=False)
                    out.networks.setdefault(net.prefixlen + 1000 * (net.version == 6), {})[net] = e.action
                elif e.kind == "keyword":
                    keywords.append((e.value, e.action))
                elif e.kind == "regex":
                    regexes.append((check_regex(e.value), e.action))
            except ValueError:
                continue
        return cls(out.emails, out.domains, out.networks, tuple(keywords), tuple(regexes))

    def match(self, comment: Comment, text: Text) -> list[tuple[str, Reason]]:
        """Return (action, reason) for every entry the comment hits."""
        hits: list[tuple[str, Reason]] = []

        def hit(action: str, kind: str, detail: str) -> None:
            weight = DENY_WEIGHT if action == "deny" else ALLOW_WEIGHT
            hits.append((action, Reason(f"list:{action}_{kind}", weight, detail[:120])))

        email = (comment.author_email or "").strip().lower()
        if email and email in self.emails:
            hit(self.emails[email], "email", email)
        if self.domains:
            hosts = [email.rpartition("@")[2]] if "@" in email else []
            if comment.author_url:
                hosts.append(host_of(comment.author_url.strip()) or "")
            hosts += [link.host for link in text.links]
            # Both spellings of an internationalised name are one host, as the entries are kept.
            for host in dict.fromkeys(ascii_host(h) for h in hosts if h):
                labels = host.split(".")
                for i in range(len(labels) - 1):
                    suffix = ".".join(labels[i:])
                    if suffix in self.domains:
                        hit(self.domains[suffix], "domain", suffix)
                        break
        if self.networks and comment.author_ip:
            for net, action in self._networks_of(comment.author_ip.strip()):
                hit(action, "ip", str(net))
        if self.keywords or self.regexes:
            lower = " ".join(text.text.lower().split())
            for keyword, action in self.keywords:
                if keyword in lower:
                    hit(action, "keyword", keyword)
            head = text.text[:REGEX_TEXT_CHARS]
            for pattern, action in self.regexes:
                found = pattern.search(head)
                if found:
                    hit(action, "regex", f"{pattern.pattern} ({found.group(0)[:40]})")
        return hits

    def _networks_of(self, address: str) -> list[tuple[Any, str]]:
        """Return the listed networks holding an address (one set lookup per listed prefix length)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return []
        found = []
        for key, nets in self.networks.items():
            if (key >= 1000) == (ip.version == 6):
                net = ipaddress.ip_network(f"{ip}/{key % 1000}", strict=False)
                if net in nets:
                    found.append((net, nets[net]))
        return found
