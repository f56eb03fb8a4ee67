"""The Flask application factory of the scoring service."""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, g, request
from flask.wrappers import Response

from spamguard import errors
from spamguard.background import Loop
from spamguard.keys import KeyCache
from spamguard.metrics import Metrics
from spamguard.privacy import Protector
from spamguard.ratelimit import RateLimiter
from spamguard.reload import ModelHolder
from spamguard.settings import Settings, load_settings
from spamguard.spool import Spool
from spamguard.store import CHECKPOINT_INTERVAL_S, Store, StoreError


@dataclass
class State:
    """What the views of one app share: settings, store, model, keys, limits, metrics."""

    settings: Settings
    store: Store
    holder: ModelHolder
    keys: KeyCache
    limiter: RateLimiter
    metrics: Metrics
    spool: Spool
    privacy: Protector
    # The worker's background loops (none when create_app was told to start none).
    loops: list[Loop] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the background loops (the process carries on; tests and `--dev` shut down this way)."""
        while self.loops:
            self.loops.pop().stop()


def create_app(settings: Settings | None = None, *, background: bool = True) -> Flask:
    """Build the app: open the store (upgrading its schema), load the model, start the reloader.

    `background=False` (tests) starts no background thread: no model reloader, no WAL checkpointer,
    no spool drainer.
    """
    from spamguard import moderate_lists  # noqa: F401 (adds the Lists pages to the moderate blueprint)
    from spamguard.akismet import bp as akismet_bp
    from spamguard.api import bp
    from spamguard.moderate import bp as moderate_bp
    from spamguard.moderation_api import bp as moderation_bp

    settings = load_settings() if settings is None else settings
    logging.getLogger("spamguard").setLevel(settings.log_level)
    app = Flask(__name__)
    # Werkzeug stops reading a streamed (chunked) body here; one byte more than allowed, so that
    # api.read_json can tell a body of exactly the limit from a longer one it cut off.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["SECRET_KEY"] = settings.secret_key or secret_key(settings.home)
    store = Store(settings.database_url, background_checkpoints=background)
    store.upgrade()
    metrics = Metrics()
    metrics.budget.set(settings.latency_budget_ms / 1000)
    holder = ModelHolder(settings.model, metrics)
    holder.load()
    keys, limiter = KeyCache(store, settings.key_cache_s), RateLimiter(settings.rate_limit)
    key = secret_key(settings.home, "privacy_key") if settings.personal_fields == "hash" else ""
    privacy = Protector(settings.personal_fields, key.encode())
    spool = Spool(settings.home, store, metrics)
    state = State(settings, store, holder, keys, limiter, metrics, spool, privacy)
    if background:
        state.loops = _background_loops(state)
        for loop in state.loops:
            loop.start()
    app.extensions["spamguard"] = state
    errors.register(app)
    app.register_blueprint(bp)
    app.register_blueprint(akismet_bp)
    app.register_blueprint(moderation_bp)
    app.register_blueprint(moderate_bp)
    _instrument(app, metrics)
    _shed(app, metrics, settings.max_queued)
    return app


def _background_loops(state: State) -> list[Loop]:
    """Return the loops every worker runs, each on a thread of its own."""
    from spamguard import retention, webhooks

    settings, store = state.settings, state.store
    loops = [
        # Drains at once what a dead worker left, then whenever the store is up again.
        Loop("spool", state.spool.drain, state.spool.retry_s, first=0.0),
        # Every worker of every replica delivers webhooks; claims keep each delivery to one of them.
        webhooks.loop(store, settings.webhook_retry_s, settings.webhook_max_attempts),
    ]
    if state.holder.follows_registry:
        loops.append(Loop("reload", state.holder.load, settings.reload_interval_s))
    if store.dialect == "sqlite":
        loops.append(Loop("checkpoint", store.checkpoint, CHECKPOINT_INTERVAL_S, expected=(StoreError,),
                          at_exit=store.close))  # fmt: skip
    prune = retention.loop(store, settings.history_retention_days)
    return loops + [prune] if prune is not None else loops


# Endpoints that score (the expensive ones) and so are shed first; health, metrics, moderation are not.
SHED_PATHS = ("/score", "/1.1/comment-check")
_SHED_ERROR = errors.error_body("overloaded", "too many requests are waiting: retry shortly")
_SHED_BODY = (json.dumps(_SHED_ERROR, separators=(",", ":")) + "\n").encode()
_SHED_HEADERS = [
    ("Content-Type", "application/json"),
    ("Content-Length", str(len(_SHED_BODY))),
    ("Retry-After", "1"),
]


def _shed(app: Flask, metrics: Metrics, max_queued: int) -> None:
    """Answer 503 at once, instead of scoring, while more than `max_queued` requests wait in this worker.

    A 503 costs a fraction of a scoring, so the backlog drains and the answers that are scored stay
    within the latency budget; nothing is stored for a shed request, so the client retries the same id.
    It is answered in front of Flask (a prepared body, no request context): through Flask a shed
    request cost 89 µs of this worker's CPU, in front of it a few, and under a burst the workers spend
    their time answering 503s (docs/reliability.md).
    """
    if max_queued <= 0:
        return
    from spamguard import server

    flask_app = app.wsgi_app

    def shedding(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path in SHED_PATHS and environ.get("REQUEST_METHOD") == "POST" and server.queued() > max_queued:
            started = time.perf_counter()
            start_response("503 SERVICE UNAVAILABLE", list(_SHED_HEADERS))
            metrics.requests.labels(path, "503", "", "").inc()
            metrics.latency.labels(path).observe(time.perf_counter() - started)
            return [_SHED_BODY]
        return flask_app(environ, start_response)

    app.wsgi_app = shedding  # type: ignore[method-assign]


def secret_key(home: Path, name: str = "secret_key") -> str:
    """Return the key kept in `home/name` (session signing, privacy hashing), made once (mode 0600)."""
    path = home / name
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    tmp = home / f".{name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    try:
        # link() fails if the file exists: of two workers starting together, both keep the first key.
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
    finally:
        tmp.unlink()
    return key


def _instrument(app: Flask, metrics: Metrics) -> None:
    @app.before_request
    def start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        # The URL rule, not the path, so a scanner cannot blow up the label set.
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = g.get("started")
        if started is not None:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        metrics.requests.labels(
            endpoint, str(response.status_code), g.get("decision", ""), g.get("site", "")
        ).inc()
        return response
