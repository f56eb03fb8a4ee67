"""The spool: scored comments wait on local disk while the store cannot take them.

When the store write of POST /score fails, the answer still goes out (the decision as scored) and
the record is appended to `$SPAMGUARD_HOME/spool/active-<host>-<pid>.jsonl`: one JSON line, written
with one `os.write` and `fsync`'d before the answer is sent. A drain thread in every worker seals
its own file (a rename to `sealed-…`), and the active files of dead workers on this host, then
writes the sealed files into the store and deletes each one only after all its rows are committed.
Replays are harmless: the store keeps one row per (site, comment_id) and ignores the rest, so a
file drained twice (a worker killed between the last commit and the unlink) stores each comment once.

The store counts as down until it takes writes again: `Store.ping()` tries for the write lock
(SQLite) or a writable session (PostgreSQL), and a drain that fails on any error but a refused
value stops and keeps its file. Only a value the database cannot hold (StoreValueError) is set aside.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spamguard.metrics import Metrics
from spamguard.policy import Reason, Thresholds, Verdict
from spamguard.store import Store, StoreError, StoreValueError, utcnow

log = logging.getLogger(__name__)

SPOOL_DIR = "spool"
# Records the store refused for their value (StoreValueError, a value the database cannot hold):
# kept, not retried. Any other error while draining is the store still down: the file waits.
FAILED = "failed.jsonl"
# After a failed write, requests skip the store for this long (the drain thread probes it meanwhile),
# so an outage costs one failed attempt per second, not one per request.
RETRY_S = 1.0


class SpoolError(StoreError):
    """Neither the store nor the spool could take a record."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """One worker's spool: append while the store is down, drain when it is back."""

    def __init__(self, home: Path, store: Store, metrics: Metrics, retry_s: float = RETRY_S) -> None:
        self.dir = Path(home) / SPOOL_DIR
        self.store = store
        self.metrics = metrics
        self.retry_s = retry_s
        self.host = socket.gethostname().replace("-", "_") or "host"
        self.error: str | None = None  # why the store is taken to be down; None while it is up
        self._down_until = 0.0
        self._fd: int | None = None
        self._fd_pid = 0
        self._seq = 0
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()
        # Answers spooled by this worker and not yet drained: a retry of the same id gets the same answer.
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}

    # -- the request path ------------------------------------------------------------------

    def pending_answer(self, site: str, comment_id: str) -> dict[str, Any] | None:
        """Return the answer given for (site, id) if it waits in this worker's spool."""
        return self._pending.get((site, comment_id)) if self._pending else None

    def insert_comment(self, site: str, comment_id: str, record: Mapping[str, Any], verdict: Verdict,
                       also: Callable[[Callable[..., Any]], object] | None = None) -> bool:  # fmt: skip
        """Store a scored comment, or spool it while the store is down; False if it was stored before.

        `also` goes with the comment into the store's transaction (Store.insert_comment); a spooled
        comment is stored without it.
        """
        if time.monotonic() >= self._down_until:
            try:
                return self.store.insert_comment(site, comment_id, record, verdict, also=also)
            except (SpoolError, StoreValueError):  # a value the store cannot hold is no outage: 400
                raise
            except StoreError as exc:
                self.mark_down(exc)
        self.append(site, comment_id, record, verdict)
        return True

    def mark_down(self, exc: Exception) -> None:
        """Take the store to be down for the next `retry_s` seconds, and until a drain writes to it."""
        if self.error is None:
            log.error("store unavailable, spooling scored comments to %s: %s", self.dir, exc)
        self.error = str(exc)
        self._down_until = time.monotonic() + self.retry_s

    def append(self, site: str, comment_id: str, record: Mapping[str, Any], verdict: Verdict) -> None:
        """Append one scored record to this worker's spool file and fsync it, or raise SpoolError."""
        answer = verdict.to_dict() | {"id": comment_id}
        line = {
            "site": site,
            "comment_id": comment_id,
            "record": record,
            "verdict": {
                "decision": verdict.decision,
                "score": verdict.score,
                "reasons": [r.to_dict() for r in verdict.reasons],
                "model_version": verdict.model_version,
                "thresholds": verdict.thresholds.to_dict() if verdict.thresholds else None,
            },
            "created_at": utcnow(),
        }
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            try:
                fd = self._active()
                end = os.lseek(fd, 0, os.SEEK_END)
                try:
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(f"short write ({written} of {len(data)} bytes)")
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, end)  # no torn line for the drainer to trip over
                    raise
            except OSError as exc:
                self.metrics.spooled.labels("failed").inc()
                raise SpoolError(f"the store is down and the spool cannot be written: {exc}") from exc
            self._pending[(site, comment_id)] = answer
        self.metrics.spooled.labels("spooled").inc()
        self.metrics.spool_records.inc()

    def _active(self) -> int:
        if self._fd is None or self._fd_pid != os.getpid():
            self.dir.mkdir(parents=True, exist_ok=True)
            path = self.dir / f"active-{self.host}-{os.getpid()}.jsonl"
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    # -- state -------------------------------------------------------------------------------

    def writable(self) -> bool:
        """Tell whether the spool directory can take records."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.dir, os.W_OK)

    def files(self) -> list[Path]:
        """Return every spool file (active and sealed) in the directory."""
        try:
            return sorted(p for p in self.dir.iterdir() if p.name.startswith(("active-", "sealed-")))
        except OSError:
            return []

    def depth(self) -> int:
        """Count the records waiting in the spool directory (all workers')."""
        total = 0
        for path in self.files():
            try:
                with open(path, "rb") as fh:
                    total += sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 16), b""))
            except OSError:
                continue
        return total

    # -- draining ----------------------------------------------------------------------------

    def drain(self) -> int:
        """Seal and write every spool file this worker may take into the store; return rows stored.

        The store is back (`error` cleared) only once it took a write lock and every file was written.
        """
        with self._drain_lock:
            self._seal_own()
            self._seal_dead()
            sealed = [p for p in self.files() if p.name.startswith("sealed-")]
            stored = 0
            if self.error is not None or sealed:
                try:
                    self.store.ping()  # can it take writes, not only answer reads
                except StoreError as exc:
                    self.mark_down(exc)
                    self.metrics.spool_records.set(self.depth())
                    return 0
                for path in sealed:
                    n, whole = self._drain_file(path)
                    stored += n
                    if not whole:
                        break  # down again: this file and the rest wait for the next round
                else:
                    if self.error is not None:
                        log.warning("store is back: %s", self.store.safe_url())
                    self.error, self._down_until = None, 0.0
            self.metrics.spool_records.set(self.depth())
            return stored

    def _seal_own(self) -> None:
        with self._lock:
            if self._fd is None or self._fd_pid != os.getpid():
                return
            path = self.dir / f"active-{self.host}-{os.getpid()}.jsonl"
            os.close(self._fd)
            self._fd = None
            if path.exists() and path.stat().st_size > 0:
                self._seq += 1
                os.replace(
                    path, self.dir / f"sealed-{self.host}-{os.getpid()}-{time.time_ns()}-{self._seq}.jsonl"
                )

    def _seal_dead(self) -> None:
        for path in self.files():
            parts = path.stem.split("-")
            if parts[0] != "active" or len(parts) != 3 or parts[1] != self.host or not parts[2].isdigit():
                continue
            pid = int(parts[2])
            if pid == os.getpid() or _alive(pid):
                continue
            try:  # of two workers sealing the same file, one rename wins and the other finds nothing
                os.replace(path, self.dir / f"sealed-{self.host}-{pid}-{time.time_ns()}-0.jsonl")
                log.warning("draining the spool of dead worker %d", pid)
            except FileNotFoundError:
                pass

    def _drain_file(self, path: Path) -> tuple[int, bool]:
        """Write one sealed file into the store; return rows stored and whether the file is done with."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return 0, True
        stored = 0
        done: list[tuple[str, str]] = []  # stored, or refused for their value: no longer pending
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0, True  # another worker drains it
            if os.fstat(fd).st_nlink == 0:
                return 0, True  # drained and deleted while we waited to open it
            with os.fdopen(os.dup(fd), "rb") as fh:
                lines = fh.read().split(b"\n")
            written = 0
            for raw in lines:
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw)
                    site, comment_id = entry["site"], entry["comment_id"]
                    verdict = _verdict(entry["verdict"])
                except (ValueError, KeyError, TypeError) as exc:
                    # Only a write cut by a crash can leave this; its answer was never sent.
                    log.error("skipping an unreadable spool line in %s: %s", path.name, exc)
                    continue
                try:
                    fresh = self.store.insert_comment(
                        site, comment_id, entry["record"], verdict, created_at=entry.get("created_at")
                    )
                except StoreValueError as exc:
                    self._keep_failed(raw, exc)  # the store is up and refuses this value: never storable
                    done.append((site, comment_id))
                    continue
                except StoreError as exc:
                    # Locked, read-only, gone: still down, whatever a read says. The file stays and is
                    # replayed from its start later; the rows stored by now are then ignored.
                    self.mark_down(exc)
                    return stored, False
                self.metrics.spool_drained.labels("stored" if fresh else "duplicate").inc()
                stored += fresh
                written += 1
                done.append((site, comment_id))
            path.unlink()  # every row is committed (or kept in failed.jsonl): only now
            log.info("drained %s: %d stored, %d already there", path.name, stored, written - stored)
            return stored, True
        finally:
            os.close(fd)
            for key in done:
                self._pending.pop(key, None)

    def _keep_failed(self, raw: bytes, exc: Exception) -> None:
        log.error("the store refused a spooled record (kept in %s): %s", self.dir / FAILED, exc)
        self.metrics.spool_drained.labels("failed").inc()
        fd = os.open(self.dir / FAILED, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, raw + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)


def _verdict(data: Mapping[str, Any]) -> Verdict:
    thresholds = data.get("thresholds")
    return Verdict(
        decision=data["decision"],
        score=float(data["score"]),
        reasons=[Reason(**r) for r in data.get("reasons") or []],
        model_version=data.get("model_version"),
        thresholds=Thresholds(**thresholds) if thresholds else None,
    )
