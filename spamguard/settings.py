"""Service settings: one frozen object built from `SPAMGUARD_*` variables and an optional TOML file.

Nothing here runs at import time: `load_settings()` is called by the app factory's caller (the CLI,
gunicorn's worker, a test fixture), and a bad value fails there with the variable's name.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PREFIX = "SPAMGUARD_"
CONFIG_VAR = "SPAMGUARD_CONFIG"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Upper bounds of the numeric settings. Past them a value is a typo, and some would only fail later,
# in a worker, with no name on it: a timedelta, a struct timeval or a thread wait overflows.
MINUTE_S, HOUR_S, DAY_S, YEAR_S = 60, 3600, 86_400, 365 * 86_400

log = logging.getLogger(__name__)


class SettingsError(ValueError):
    """A setting with a value that cannot be used; the message names the variable."""


def _path(value: str) -> Path:
    if not value.strip():
        raise ValueError("expected a path, got an empty value")
    return Path(value).expanduser()


def _number(minimum: float, maximum: float, integer: bool = False) -> Callable[[str], float | int]:
    def parse(value: str) -> float | int:
        got = value if len(value) <= 40 else value[:40] + "…"
        expected = (
            f"expected {'an integer' if integer else 'a number'} {_range(minimum, maximum)}, got {got!r}"
        )
        try:
            number: float | int = int(value) if integer else float(value)
        except ValueError:
            raise ValueError(expected) from None
        if not minimum <= number <= maximum:  # NaN fails this too
            raise ValueError(expected)
        return number

    return parse


def _range(minimum: float, maximum: float) -> str:
    def shown(x: float) -> str:  # as it would be typed: no exponent, no thousands separator
        return str(int(x)) if x == int(x) else str(x)

    return f"from {shown(minimum)} to {shown(maximum)}"


def _bounded(default: float, help: str, minimum: float, maximum: float, integer: bool = False) -> Any:
    """Return a numeric setting whose help ends with the values it accepts."""
    parse = _number(minimum, maximum, integer)
    return _setting(default, f"{help}; {_range(minimum, maximum)}", parse, maximum=maximum)


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError(f"expected sqlite:///PATH or postgresql://…, got {value!r}")
    return value


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def _host(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValueError(f"expected a host name or address, got {value!r}")
    return value.strip()


def _boolean(value: str) -> bool:
    text = value.strip().lower()
    if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(f"expected true or false, got {value!r}")
    return text in ("1", "true", "yes", "on")


def _personal_fields(value: str) -> str:
    mode = value.strip().lower()
    if mode not in ("keep", "hash", "truncate"):
        raise ValueError(f"expected keep, hash or truncate, got {value!r}")
    return mode


def _setting(default: Any, help: str, parse: Callable[[str], Any], shown: str | None = None,
             maximum: float | None = None) -> Any:  # fmt: skip
    return field(default=default, metadata={"help": help, "parse": parse, "shown": shown, "maximum": maximum})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service can be told, with a default for each."""

    home: Path = _setting(Path("var"), "directory for the database, metrics and other state", _path)
    database_url: str = _setting(
        "", "database URL: sqlite:///PATH or postgresql://USER@HOST/DB", _database_url,
        shown="sqlite:///$SPAMGUARD_HOME/spamguard.db",
    )  # fmt: skip
    model: Path = _setting(Path("models"), "model registry directory, or one version's directory", _path)
    latency_budget_ms: float = _bounded(
        50.0, "time one POST /score may take; slower answers are counted in /metrics", 1, MINUTE_S * 1000
    )
    # 64 MiB: a record of the longest content, every character an escape, is under 8 MiB.
    max_body_bytes: int = _bounded(
        1_048_576, "largest request body accepted; larger ones get 413", 1024, 64 * 1_048_576, integer=True
    )
    rate_limit: int = _bounded(
        600, "requests per minute per API key in each worker (0: no limit); over it: 429", 0, 1_000_000,
        integer=True,
    )  # fmt: skip
    reload_interval_s: float = _bounded(
        2.0, "seconds between checks of the registry's CURRENT pointer by each worker", 0.05, DAY_S
    )
    key_cache_s: float = _bounded(
        5.0, "seconds a worker trusts an API key it looked up (the delay before a revocation bites)", 0, DAY_S
    )
    # bench/soak.py, 60 s at 1,000 requests/s (64 % of capacity), open loop: 16 shed 289 of 60,024 in
    # brief stalls, 32 none, with the same p99 (34.5 ms); both shed most of a 3x burst.
    max_queued: int = _bounded(
        32, "requests waiting for a thread in one worker above which POST /score gets 503 (0: no limit)",
        0, 10_000, integer=True,
    )  # fmt: skip
    read_timeout_s: float = _bounded(
        5.0, "seconds a connection may go silent while it sends a request (or leave its answer unread) "
        "before it is closed: stalled clients cannot hold the worker threads", 0.1, HOUR_S,
    )  # fmt: skip
    log_level: str = _setting("INFO", "log level: DEBUG, INFO, WARNING, ERROR or CRITICAL", _log_level)
    host: str = _setting("127.0.0.1", "address `spamguard serve` listens on", _host)
    port: int = _setting(8000, "port `spamguard serve` listens on", _number(0, 65535, integer=True))
    workers: int = _bounded(2, "worker processes `spamguard serve` starts", 1, 256, integer=True)
    threads: int = _bounded(
        4, "threads per worker (1: gunicorn's sync worker; more: its gthread worker, with keep-alive)",
        1, 256, integer=True,
    )  # fmt: skip
    secret_key: str = _setting(
        "", "key signing session cookies; replicas must share it (unset: made once in $SPAMGUARD_HOME)",
        str, shown="random, kept in $SPAMGUARD_HOME/secret_key",
    )  # fmt: skip
    session_lifetime_s: float = _bounded(
        43200.0, "seconds a moderator's web login lasts (from login; the session then ends)", 60, YEAR_S
    )
    secure_cookies: bool = _setting(
        False, "send the session cookie only over HTTPS: set behind a TLS proxy (HTTPS requests always do)",
        _boolean,
    )  # fmt: skip
    webhook_retry_s: float = _bounded(
        10.0, "first retry delay of a failed webhook delivery; doubles each time, up to an hour",
        0.01, HOUR_S,
    )  # fmt: skip
    # At an hour apart, 1,000 attempts take six weeks; past 1,024 the doubling overflows a float.
    webhook_max_attempts: int = _bounded(
        30, "attempts before a webhook delivery is marked failed (`spamguard webhooks retry` resumes)",
        1, 1000, integer=True,
    )  # fmt: skip
    personal_fields: str = _setting(
        "keep", "how IP, e-mail and user agent are stored: keep, hash (keyed HMAC-SHA256) or truncate "
        "(IP to /24 or /48, e-mail to its domain, user agent to its first token)", _personal_fields,
    )  # fmt: skip
    purge_whole_rows: bool = _setting(
        False, "`spamguard purge` deletes decided comments whole instead of only their personal fields",
        _boolean,
    )  # fmt: skip
    # As `spamguard purge --history-days`.
    history_retention_days: float = _bounded(
        90.0, "days the history (sketches, hashed IP/e-mail/domain keys, outcomes) is kept for the signals; "
        "pruned hourly by each worker and by `spamguard purge` (0: keep forever)", 0, 36_500,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'spamguard.db'}")
        if self.port > 65535:
            raise SettingsError(f"{PREFIX}PORT: expected a port number up to 65535, got {self.port}")

    @property
    def metrics_dir(self) -> Path:
        """Directory where gunicorn workers share their Prometheus counters."""
        return self.home / "metrics"

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some settings changed."""
        return replace(self, **changes)


def env_name(name: str) -> str:
    """Return the environment variable of a setting."""
    return PREFIX + name.upper()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from `SPAMGUARD_*` variables over the TOML file named by SPAMGUARD_CONFIG."""
    environ = os.environ if environ is None else environ
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    config = environ.get(CONFIG_VAR)
    if config:
        for key, raw in _read_toml(Path(config)).items():
            if key not in known:
                raise SettingsError(f"{config}: unknown setting {key!r}; known: {', '.join(known)}")
            values[key] = _parse(known[key], str(raw), f"{key} in {config}")
    for var, raw in environ.items():
        if not var.startswith(PREFIX) or var == CONFIG_VAR:
            continue
        name = var[len(PREFIX) :].lower()
        if name not in known:
            log.warning("ignoring unknown setting %s (see `spamguard settings`)", var)
            continue
        values[name] = _parse(known[name], raw, var)
    return Settings(**values)


def _parse(f: Any, raw: str, where: str) -> Any:
    try:
        return f.metadata["parse"](raw)
    except ValueError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{CONFIG_VAR}: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{CONFIG_VAR}: {path} is not valid TOML: {exc}") from None
    # Either top-level keys or a [spamguard] table, so the file can be shared with other tools.
    table = data.get("spamguard", data)
    if not isinstance(table, dict):
        raise SettingsError(f"{CONFIG_VAR}: {path}: [spamguard] must be a table")
    return table


def describe() -> list[tuple[str, str, str]]:
    """Return (variable, default, help) for every setting."""
    rows = []
    for f in fields(Settings):
        default = f.metadata["shown"] or str(f.default)
        rows.append((env_name(f.name), default, f.metadata["help"]))
    return rows


def markdown_table() -> str:
    """Return the settings as the Markdown table of docs/settings.md."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{var}` | `{default}` | {help} |" for var, default, help in describe()]
    return "\n".join(lines) + "\n"
