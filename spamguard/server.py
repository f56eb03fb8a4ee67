"""Run an app under gunicorn, the way `spamguard serve` does (and bench/bare_app.py, for comparison).

No `preload_app`: each worker builds its own app after the fork, so every worker opens its own
database connection (an SQLite connection must never cross a fork) and starts its own reloader
thread (threads do not survive a fork). The model is loaded in the worker before it accepts
connections: gunicorn calls `load()` in `init_process()`, before the worker's accept loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.config import KNOWN_SETTINGS

from spamguard.settings import Settings

# prometheus_client's own variable; it must be set before prometheus_client is first imported, so
# this module does not import spamguard.metrics.
MULTIPROC_VAR = "PROMETHEUS_MULTIPROC_DIR"


def _child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the shared metrics directory."""
    if os.environ.get(MULTIPROC_VAR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# The queue of accepted requests waiting for one of this worker's threads (gthread workers only).
_queue: Any = None


def queued() -> int:
    """Return how many requests wait for a thread in this worker (0 outside a gthread worker)."""
    return _queue.qsize() if _queue is not None else 0


def _post_worker_init(settings: Settings) -> Callable[[Any], None]:
    """Return the hook that readies a worker once its app is loaded: the request queue noted, stalled
    connections timed out, everything loaded so far moved out of the GC's sight."""
    timeout = struct.pack("ll", int(settings.read_timeout_s), int(settings.read_timeout_s % 1 * 1e6))

    def post_worker_init(worker: Any) -> None:
        import gc

        global _queue
        # gthread hands each readable connection to a ThreadPoolExecutor; its work queue is the backlog
        # (a private attribute: if a gunicorn release renames it, shedding is simply off).
        _queue = getattr(getattr(worker, "tpool", None), "_work_queue", None)
        # gunicorn waits for a request's first bytes off its threads, but then reads the rest on a
        # thread with a blocking socket and no timeout: eight clients that send half a request and
        # stop held every thread of two workers, and /healthz went unanswered. With SO_RCVTIMEO and
        # SO_SNDTIMEO on the listening socket (accepted ones inherit them, and they outlive
        # setblocking), a read or write that waits longer fails with EAGAIN and the connection closes.
        for listener in worker.sockets:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
        worker.log.error_log.addFilter(_StalledConnection(settings.read_timeout_s))
        # gunicorn answers what it cannot parse as HTTP (two Content-Lengths, a bad header) before
        # the app sees it, with an HTML page: the contract's JSON error instead.
        gunicorn_util.write_error = _write_json_error
        # The app, the model and their libraries are long-lived; without this, each full collection
        # walks them all again, a pause of milliseconds in the middle of some request.
        gc.collect()
        gc.freeze()

    return post_worker_init


def _write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's `util.write_error`, with the contract's JSON error as the body."""
    from spamguard.errors import error_body

    code = reason.lower().replace(" ", "_")
    body = json.dumps(error_body(code, message or reason), separators=(",", ":")).encode() + b"\n"
    head = f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
    gunicorn_util.write_nonblock(sock, f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body)


class _StalledConnection(logging.Filter):
    """Make gunicorn's traceback for a connection closed by the read timeout one line of INFO: a
    client cannot fill the log with tracebacks by stalling."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        # On a blocking socket EAGAIN comes only from SO_RCVTIMEO / SO_SNDTIMEO.
        if isinstance(exc, BlockingIOError):
            record.msg = "closed a stalled connection: nothing sent or read for %g s"
            record.args = (self.timeout_s,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _when_ready(settings: Settings) -> Callable[[Any], None]:
    """Return the hook that logs, at start, where the service listens: each worker binds its own socket
    (`reuse_port`), so gunicorn's own "Listening at:" line names no address."""
    url = f"http://{address(settings.host, settings.port)}"

    def when_ready(server: Any) -> None:
        server.log.info(
            "spamguard listening on %s (%d workers x %d threads)", url, settings.workers, settings.threads
        )

    return when_ready


def address(host: str, port: int) -> str:
    """Return host:port, an IPv6 host in brackets ([::1]:8000), as gunicorn's bind and URLs write it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """Return the gunicorn settings every spamguard server (and the bare benchmark app) runs with."""
    options = {
        "bind": address(settings.host, settings.port),
        "workers": settings.workers,
        # Measured with bench/serve_load.py (docs/api.md): gthread workers keep connections alive and
        # served about three times the requests/s of sync workers, which close each connection.
        "worker_class": "gthread" if settings.threads > 1 else "sync",
        "threads": settings.threads,
        "preload_app": False,
        # A request never legitimately takes seconds: the body is bounded and scoring takes ms.
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "backlog": 2048,
        # gunicorn >= 24: each worker binds a SO_REUSEPORT socket of its own (none in the master), and
        # the kernel spreads new connections over them. On one shared socket the worker quickest to wake
        # took kept-alive connections as they came: under wrk, one of two workers held all 16
        # connections (752 requests/s against 1,527, the other worker idle) as often as not.
        # ensure_port_free keeps a second server from joining the port silently.
        "reuse_port": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "child_exit": _child_exit,
        "post_worker_init": _post_worker_init(settings),
        "when_ready": _when_ready(settings),
        "proc_name": "spamguard",
    }
    # gunicorn >= 25.1 opens a control socket for `gunicornc` (resize, reload, stop) at one path per
    # user ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl): a second server on the machine takes it
    # over, the first's shutdown removes it, and a read-only home logs a warning at every start.
    # spamguard is run by `spamguard serve` and stopped by signals: leave it closed.
    if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS):
        options["control_socket_disable"] = True
    return options


class GunicornApp(BaseApplication):  # type: ignore[misc]
    """A gunicorn application built from options and an app loader (called in each worker)."""

    def __init__(self, loader: Callable[[], Any], options: dict[str, Any]) -> None:
        self.loader = loader
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.loader()


SHARED_MEMORY = Path("/dev/shm")


def metrics_root(settings: Settings) -> Path:
    """Return where this service's workers keep their metric files: in shared memory when the machine
    has it, else under SPAMGUARD_HOME.

    prometheus_client's files are sparse memory maps: a worker writing a new page of one on a full
    disk gets SIGBUS, not an error. With them under SPAMGUARD_HOME, a full disk killed every worker
    at its first request or at boot, in a loop, instead of the 503 the store and spool give. One
    directory per SPAMGUARD_HOME and user, so services of other homes never share numbers.
    """
    if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK | os.X_OK):
        home = hashlib.sha256(str(settings.home.resolve()).encode("utf-8", "surrogateescape")).hexdigest()
        root = SHARED_MEMORY / f"spamguard-{os.getuid()}" / home[:16]
        try:
            root.parent.mkdir(mode=0o700, exist_ok=True)
            if root.parent.stat().st_uid == os.getuid():  # not a directory someone else made for us
                return root
        except OSError:
            pass
    return settings.metrics_dir


def prepare_metrics_dir(settings: Settings) -> Path:
    """Empty the directory the workers share metrics through and export it to them.

    One directory per listening address, so two servers sharing SPAMGUARD_HOME (replicas on one
    machine) never add up or wipe each other's numbers.
    """
    path = Path(os.environ.get(MULTIPROC_VAR) or metrics_root(settings) / f"{settings.host}-{settings.port}")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_VAR] = str(path)
    return path


class ServeError(Exception):
    """The service cannot start; the message says why."""


def ensure_port_free(host: str, port: int) -> None:
    """Raise ServeError if something already listens on host:port.

    The workers bind with SO_REUSEPORT, which a second `spamguard serve` on the same port would join
    without a word, taking half the traffic; a plain bind fails while anything listens there.
    """
    if port == 0:
        return
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: TIME_WAIT is no user
        try:
            sock.bind(address)
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {host}:{port}: {exc.strerror}. Is another spamguard serve running "
                "there? Stop it, or choose another port (--port or SPAMGUARD_PORT)."
            ) from None


def serve(settings: Settings) -> None:
    """Upgrade the store, then run the scoring service under gunicorn until it is stopped."""
    from spamguard.store import Store

    ensure_port_free(settings.host, settings.port)
    # Before any import of prometheus_client in this process: it picks its storage at import.
    metrics = prepare_metrics_dir(settings)
    # Migrate once, here, rather than racing in every worker.
    store = Store(settings.database_url)
    store.upgrade()
    store.close()

    def load() -> Any:
        from spamguard.app import create_app

        return create_app(settings)

    GunicornApp(load, gunicorn_options(settings) | {"on_exit": lambda server: _remove(metrics)}).run()


def _remove(metrics: Path) -> None:
    """Remove a stopped server's metric files: of no use now, and in /dev/shm they would hold memory."""
    shutil.rmtree(metrics, ignore_errors=True)
    with contextlib.suppress(OSError):  # the per-home directory, once no server of that home is left
        metrics.parent.rmdir()
