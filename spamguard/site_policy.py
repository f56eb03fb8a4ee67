"""Policy per site and per comment type: thresholds, the trusted-commenter rule, enforce or shadow mode.

A policy row for (site, "") covers every comment type of the site; a row for (site, type) overrides
it field by field; a field left unset falls back to the model's thresholds and the defaults here.
Workers cache each site's lists and policies and re-read them when `config_version` changes,
checked at most every CONFIG_CHECK_S seconds: a change applies without a restart.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from spamguard.history import KINDS, MAX_KEY_ROWS, TRUSTED_MIN_APPROVED, VELOCITY_LIMITS, WINDOWS
from spamguard.lists import Lists, bump_version, entries
from spamguard.policy import Thresholds
from spamguard.store import Store, utcnow

MODES = ("enforce", "shadow")
# How stale a worker's copy of lists and policies may be: one small query per this many seconds.
CONFIG_CHECK_S = 1.0
ALL_TYPES = ""


@dataclass(frozen=True, slots=True)
class SitePolicy:
    """The policy one comment is decided under."""

    mode: str = "enforce"
    approve_below: float | None = None
    reject_at: float | None = None
    trusted: bool = True
    trusted_min: int = TRUSTED_MIN_APPROVED
    # Velocity limits that differ from history.VELOCITY_LIMITS: key kind -> (1 min, 1 h, 1 day), 0 = off.
    velocity: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def velocity_limits(self) -> dict[str, tuple[int, ...]]:
        """Return the velocity limits in force for every key kind (the defaults where not set)."""
        return {kind: self.velocity.get(kind, VELOCITY_LIMITS[kind]) for kind in KINDS}

    def thresholds(self, model: Thresholds | None) -> Thresholds | None:
        """Return the thresholds to decide with: this policy's where set, else the model's."""
        if self.approve_below is None and self.reject_at is None:
            return model
        approve = (
            self.approve_below if self.approve_below is not None else model.approve_below if model else 0.5
        )
        reject = self.reject_at if self.reject_at is not None else model.reject_at if model else 2.0
        return Thresholds(approve, max(reject, approve))

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as JSON."""
        limits = {
            kind: dict(zip((w for w, _ in WINDOWS), n, strict=True))
            for kind, n in self.velocity_limits().items()
        }
        return {"mode": self.mode, "approve_below": self.approve_below, "reject_at": self.reject_at,
                "trusted": self.trusted, "trusted_min": self.trusted_min, "velocity": limits}  # fmt: skip


_FIELDS = ("mode", "approve_below", "reject_at", "trusted", "trusted_min", "velocity")


def parse_velocity(text: str) -> tuple[str, tuple[int, ...] | None]:
    """Read `KIND=N/N/N` (limits for 1 min, 1 h, 1 day; `off` or 0 for none) or `KIND=default`."""
    kind, _, value = text.partition("=")
    kind = kind.strip().lower().replace("-", "_")
    if kind not in KINDS:
        raise ValueError(f"velocity limits are for {', '.join(KINDS)}, not {kind!r} (write ip=5/30/100)")
    if value.strip().lower() == "default":
        return kind, None
    parts = [p.strip().lower() for p in value.split("/")]
    if len(parts) != len(WINDOWS) or not all(p == "off" or p.isdigit() and len(p) < 6 for p in parts):
        raise ValueError(
            f"write {kind}=N/N/N: the limits for 1 minute, 1 hour and 1 day (a number, or off),"
            f" or {kind}=default"
        )
    limits = tuple(0 if p == "off" else int(p) for p in parts)
    if any(n > MAX_KEY_ROWS for n in limits):
        raise ValueError(f"a velocity limit is at most {MAX_KEY_ROWS} (the history reads that many per key)")
    return kind, limits


def set_policy(store: Store, site: str, comment_type: str = ALL_TYPES, **changes: Any) -> SitePolicy:
    """Change some fields of a site's policy (for one comment type, or all); return the result."""
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    if changes.get("mode") not in (None, *MODES):
        raise ValueError(f"mode is enforce or shadow, not {changes['mode']!r}")
    row = _rows(store, site).get(comment_type, {})
    velocity = changes.pop("velocity", None) or {}
    row.update({k: v for k, v in changes.items() if v is not None})
    for kind, limits in velocity.items():
        good = (
            limits is None
            or len(limits) == len(WINDOWS)
            and all(isinstance(n, int) and 0 <= n <= MAX_KEY_ROWS for n in limits)
        )
        if kind not in KINDS or not good:
            raise ValueError(
                f"velocity limits for {kind!r}: three whole numbers from 0 (off) to {MAX_KEY_ROWS}"
            )
    if velocity:  # kind -> limits, or None to go back to the default
        merged_velocity = {**row.get("velocity", {}), **velocity}
        row["velocity"] = {k: tuple(v) for k, v in merged_velocity.items() if v is not None}
    merged = _merge(_rows(store, site).get(ALL_TYPES, {}) if comment_type else {}, row)
    low, high = merged.approve_below, merged.reject_at
    if low is not None and not 0.0 <= low <= 1.0 or high is not None and not 0.0 <= high <= 2.0:
        raise ValueError("approve-below is between 0 and 1, reject-at between 0 and 2")
    if low is not None and high is not None and high < low:
        raise ValueError(f"reject-at ({high}) must not be below approve-below ({low})")
    if not 1 <= merged.trusted_min <= MAX_KEY_ROWS:
        raise ValueError(
            f"the trusted-commenter rule needs 1 to {MAX_KEY_ROWS} approved comments (the history reads "
            "that many per key)"
        )
    with store.transaction() as run:
        params = {"site": site, "ctype": comment_type, "now": utcnow(), **{f: row.get(f) for f in _FIELDS}}
        if params["trusted"] is not None:
            params["trusted"] = int(bool(params["trusted"]))
        params["velocity"] = json.dumps(params["velocity"]) if params["velocity"] else None
        run(
            store.sql(
                "INSERT INTO site_policies (site, comment_type, mode, approve_below, reject_at, trusted,"
                " trusted_min, velocity, updated_at) VALUES (:site, :ctype, :mode, :approve_below,"
                " :reject_at, :trusted, :trusted_min, :velocity, :now) ON CONFLICT (site, comment_type)"
                " DO UPDATE SET mode = :mode, approve_below = :approve_below, reject_at = :reject_at,"
                " trusted = :trusted, trusted_min = :trusted_min, velocity = :velocity, updated_at = :now"
            ),
            params,
        )
        bump_version(store, run)
    return merged


def _rows(store: Store, site: str) -> dict[str, dict[str, Any]]:
    rows = store.execute(
        "SELECT comment_type, mode, approve_below, reject_at, trusted, trusted_min, velocity"
        " FROM site_policies WHERE site = :site",
        {"site": site},
    ).fetchall()
    out = {}
    for ctype, *values in rows:
        out[ctype] = {f: v for f, v in zip(_FIELDS, values, strict=True) if v is not None}
        if "velocity" in out[ctype]:
            out[ctype]["velocity"] = {k: tuple(v) for k, v in json.loads(out[ctype]["velocity"]).items()}
    return out


def _merge(*layers: dict[str, Any]) -> SitePolicy:
    values: dict[str, Any] = {}
    velocity: dict[str, tuple[int, ...]] = {}
    for layer in layers:
        values.update(layer)
        velocity.update(layer.get("velocity", {}))  # a type's limits override the site's kind by kind
    values["velocity"] = velocity
    if "trusted" in values:
        values["trusted"] = bool(values["trusted"])
    return SitePolicy(**values)


def policies(store: Store, site: str) -> dict[str, SitePolicy]:
    """Return a site's policies by comment type ("" for all types)."""
    rows = _rows(store, site)
    base = rows.get(ALL_TYPES, {})
    return {ctype: _merge(base, row) for ctype, row in rows.items()}


# -- the per-worker cache ---------------------------------------------------------------------


@dataclass
class SiteConfig:
    """A site's compiled lists and its policies."""

    lists: Lists
    policies: dict[str, SitePolicy] = field(default_factory=dict)

    def policy(self, comment_type: str) -> SitePolicy:
        """Return the policy for a comment type."""
        return self.policies.get(comment_type) or self.policies.get(ALL_TYPES) or SitePolicy()


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: int | None = None
        self.checked = float("-inf")
        self.sites: dict[str, SiteConfig] = {}


_caches: weakref.WeakKeyDictionary[Store, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def config(store: Store, site: str) -> SiteConfig:
    """Return a site's lists and policies, re-read when another process changed them."""
    with _caches_lock:
        cache = _caches.get(store)
        if cache is None:
            cache = _caches[store] = _Cache()
    now = time.monotonic()
    if now - cache.checked >= CONFIG_CHECK_S:
        row = store.execute("SELECT version FROM config_version").fetchone()
        version = int(row[0]) if row else 0
        with cache.lock:
            if version != cache.version:
                cache.sites = {}
                cache.version = version
            cache.checked = now
    found = cache.sites.get(site)
    if found is None:
        found = SiteConfig(Lists.compile(entries(store, site)), policies(store, site))
        with cache.lock:
            cache.sites[site] = found
    return found
