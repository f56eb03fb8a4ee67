"""Store outages: /score keeps answering, the spool keeps every scored comment, the drain stores each once."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spamguard.keys import create_key
from spamguard.metrics import Metrics
from spamguard.spool import Spool
from spamguard.store import Store, StoreError
from tests.conftest import assert_stored_as_answered

SPAM = {"content": "Buy cheap viagra now at http://bit.ly/x9z best price!!!"}
HAM = {"content": "Thanks for the sourdough write-up, it helped me fix my setup.", "author_name": "Ann"}


def state(app):  # type: ignore[no-untyped-def]
    return app.extensions["spamguard"]


def break_sqlite(store: Store) -> Path:
    """Make the SQLite database unreachable: its directory replaced by a file, the connection closed.

    (Tests run as root, for whom chmod does not make a file unwritable.)
    """
    assert store.path is not None
    directory = store.path.parent
    moved = directory.with_name(directory.name + ".away")
    store.close()
    os.rename(directory, moved)
    directory.write_text("not a directory")
    return moved


def repair_sqlite(store: Store, moved: Path) -> None:
    assert store.path is not None
    store.path.parent.unlink()
    os.rename(moved, store.path.parent)


def test_sqlite_outage_spools_and_drains_exactly_once(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'db' / 'sg.db'}")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    auth = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    assert client.post("/score", json={"id": "before", **HAM}, headers=auth).status_code == 200

    moved = break_sqlite(st.store)
    answers = {}
    for i in range(20):
        r = client.post("/score", json={"id": f"c{i}", **(SPAM if i % 2 else HAM)}, headers=auth)
        assert r.status_code == 200, r.get_json()
        answers[f"c{i}"] = r.get_json()
    # Within the budget, never waiting on the store (its busy timeout is 2 s); the machine is shared,
    # so one slow answer is tolerated, not a slow median.
    elapsed = sorted(a["elapsed_ms"] for a in answers.values())
    assert elapsed[len(elapsed) // 2] < st.settings.latency_budget_ms and elapsed[-1] < 1000, elapsed
    assert {a["decision"] for a in answers.values()} >= {"approve"}
    assert "approve" not in {answers[f"c{i}"]["decision"] for i in range(1, 20, 2)}
    again = client.post("/score", json={"id": "c1", "content": "something else"}, headers=auth).get_json()
    assert again["decision"] == answers["c1"]["decision"] and again["score"] == answers["c1"]["score"]

    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["store"] == "degraded"
    assert ready.get_json()["spool_records"] == 20
    assert b"spamguard_spool_records 20.0" in client.get("/metrics").data
    assert st.spool.drain() == 0, "still down: nothing drained, nothing lost"
    assert st.spool.depth() == 20

    repair_sqlite(st.store, moved)
    time.sleep(st.spool.retry_s)
    assert st.spool.drain() == 20
    assert st.spool.depth() == 0 and not st.spool.files()
    assert st.store.count_comments("blog") == 21
    for cid, answer in answers.items():
        stored = st.store.get_comment("blog", cid)
        assert (
            stored is not None and stored.decision == answer["decision"] and stored.score == answer["score"]
        )
    assert st.spool.drain() == 0 and st.store.count_comments("blog") == 21
    assert client.get("/readyz").get_json()["store"] == "ok"
    metrics = client.get("/metrics").data
    assert b'spamguard_spool_drained_total{outcome="stored"} 20.0' in metrics


def test_a_replayed_spool_file_stores_nothing_twice(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A worker killed between the last commit and the unlink leaves the file: its replay is harmless."""
    app = make_app(home=tmp_path / "home")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    client = app.test_client()
    st.spool.mark_down(RuntimeError("test"))
    for i in range(5):
        assert (
            client.post(
                "/score", json={"id": f"r{i}", **SPAM}, headers={"Authorization": f"Bearer {key}"}
            ).status_code
            == 200
        )
    st.spool._seal_own()
    (sealed,) = [p for p in st.spool.files() if p.name.startswith("sealed-")]
    copy = sealed.read_bytes()
    assert st.spool.drain() == 5
    sealed.write_bytes(copy + b'{"site": "blog", "comment_id": "torn')  # and a torn last line
    assert st.spool.drain() == 0
    assert st.store.count_comments("blog") == 5 and not st.spool.files()


def test_a_dead_workers_spool_is_drained_by_the_next(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(home=tmp_path / "home")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    st.spool.mark_down(RuntimeError("test"))
    app.test_client().post("/score", json={"id": "x1", **HAM}, headers={"Authorization": f"Bearer {key}"})
    own = st.spool.files()[0]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # What a worker killed with -9 leaves: its active file, named by its (now dead) pid.
    os.close(st.spool._fd)
    st.spool._fd = None
    os.rename(own, own.with_name(f"active-{st.spool.host}-{dead.pid}.jsonl"))
    live = own.with_name(f"active-{st.spool.host}-1.jsonl")  # pid 1 is alive: never taken
    live.write_bytes(own.with_name(f"active-{st.spool.host}-{dead.pid}.jsonl").read_bytes())
    st.spool._pending.clear()
    assert st.spool.drain() == 1
    assert st.store.get_comment("blog", "x1") is not None
    assert [p.name for p in st.spool.files()] == [live.name]


def test_store_refusing_one_value_keeps_it_aside(make_app, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Only a refused value goes to failed.jsonl (a real one: tests/test_postgres.py -k index_limit)."""
    from spamguard.store import StoreValueError

    app = make_app(home=tmp_path / "home")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    st.spool.mark_down(RuntimeError("test"))
    for cid in ("good", "poison"):
        app.test_client().post("/score", json={"id": cid, **HAM}, headers={"Authorization": f"Bearer {key}"})
    real = st.store.insert_comment

    def picky(site, comment_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        if comment_id == "poison":
            raise StoreValueError("invalid byte sequence")
        return real(site, comment_id, *args, **kwargs)

    monkeypatch.setattr(st.store, "insert_comment", picky)
    assert st.spool.drain() == 1
    assert not st.spool.files() and st.spool.error is None
    assert json.loads((st.spool.dir / "failed.jsonl").read_text())["comment_id"] == "poison"
    assert st.spool.pending_answer("blog", "poison") is None, "a retry asks the store, not the spool"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_write_lock_held_elsewhere_loses_nothing(make_app, tmp_path, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """Another process holds the write lock: reads work, writes fail. Every comment answered 200 is kept
    in the spool, /readyz says degraded, and all are stored once the lock is released."""
    import logging
    import sqlite3

    from spamguard import store as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)  # give up on the lock sooner than 2 s
    app = make_app(home=tmp_path / "home")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    auth = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    assert client.post("/score", json={"id": "before", **HAM}, headers=auth).status_code == 200
    caplog.set_level(logging.INFO, logger="spamguard.spool")

    holder = sqlite3.connect(st.store.path, isolation_level=None, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        answers = {}
        for i in range(6):
            r = client.post("/score", json={"id": f"l{i}", **(SPAM if i % 2 else HAM)}, headers=auth)
            assert r.status_code == 200, r.get_json()
            answers[f"l{i}"] = r.get_json()
            assert st.spool.drain() == 0  # as the drain thread would, while reads still work
        assert st.store.count_comments("blog") == 1, "reads work"
        with pytest.raises(StoreError, match="cannot take writes"):
            st.store.ping()
        ready = client.get("/readyz").get_json()
        assert ready["status"] == "degraded" and ready["spool_records"] == 6
        again = client.post("/score", json={"id": "l1", "content": "something else"}, headers=auth).get_json()
        assert (again["decision"], again["score"]) == (answers["l1"]["decision"], answers["l1"]["score"])
        assert not (st.spool.dir / "failed.jsonl").exists()
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert st.spool.drain() == 6
    assert not st.spool.files() and not (st.spool.dir / "failed.jsonl").exists()
    assert_stored_as_answered(st.store, answers, 7, site="blog")
    assert st.spool.error is None and client.get("/readyz").get_json()["store"] == "ok"
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("store unavailable") for m in messages) == 1, "down once, not once per retry"
    assert sum(m.startswith("store is back") for m in messages) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_inserts_refused_while_the_store_answers_keep_the_spool(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A store that reads and locks but refuses inserts (here a trigger) is down, not a bad value:
    the drain keeps the file and /readyz stays degraded until a write succeeds."""
    app = make_app(home=tmp_path / "home")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    auth = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    st.store.execute(
        "CREATE TRIGGER no_writes BEFORE INSERT ON comments BEGIN SELECT RAISE(ABORT, 'disk gone'); END"
    )
    for i in range(3):
        assert client.post("/score", json={"id": f"t{i}", **HAM}, headers=auth).status_code == 200
    st.store.ping()  # the probe passes: the write lock can be had
    assert st.spool.drain() == 0
    assert st.spool.depth() == 3 and not (st.spool.dir / "failed.jsonl").exists()
    ready = client.get("/readyz").get_json()
    assert ready["store"] == "degraded" and "disk gone" in ready["store_error"]

    st.store.execute("DROP TRIGGER no_writes")
    assert st.spool.drain() == 3
    assert st.store.count_comments("blog") == 3 and not st.spool.files()
    assert client.get("/readyz").get_json()["store"] == "ok"


# -- a real PostgreSQL server, private to the test, stopped and restarted --------------------------------


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl) on a free loopback port; never the system one."""

    def __init__(self, root: Path) -> None:
        self.bin = _pg_bin()
        self.data = root / "pgdata"
        self.port = free_port()
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        root.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        assert self.bin is not None
        subprocess.run(
            [*self.user, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.data / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture
def private_pg() -> Iterator[PrivateCluster]:
    if _pg_bin() is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql")
    pytest.importorskip("psycopg")
    import tempfile

    # Under /tmp itself: the postgres user cannot enter pytest's root-only temporary directories.
    root = Path(tempfile.mkdtemp(prefix="spamguard-pg-"))
    try:
        cluster = PrivateCluster(root)
        cluster.start()
        try:
            yield cluster
        finally:
            try:
                cluster.stop()
            except subprocess.CalledProcessError:
                pass
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_postgresql_stopped_and_restarted(make_app, tmp_path: Path, private_pg: PrivateCluster) -> None:  # type: ignore[no-untyped-def]
    app = make_app(home=tmp_path / "home", database_url=private_pg.url)
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    auth = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    assert client.post("/score", json={"id": "up", **HAM}, headers=auth).status_code == 200

    private_pg.stop()
    answers = {}
    for i in range(30):
        r = client.post("/score", json={"id": f"pg{i}", **(SPAM if i % 3 == 0 else HAM)}, headers=auth)
        assert r.status_code == 200, r.get_json()
        answers[f"pg{i}"] = r.get_json()
    budget = st.settings.latency_budget_ms
    elapsed = sorted(a["elapsed_ms"] for a in answers.values())
    print(f"PostgreSQL down: elapsed_ms median {elapsed[15]}, max {elapsed[-1]}")  # noqa: T201
    assert elapsed[15] < budget and elapsed[-1] < 1000, f"over the {budget} ms budget: {elapsed}"
    ready = client.get("/readyz").get_json()
    assert ready["store"] == "degraded" and ready["spool_records"] == 30
    assert st.spool.drain() == 0 and st.spool.depth() == 30

    private_pg.start()
    time.sleep(st.spool.retry_s)
    assert st.spool.drain() == 30
    assert st.spool.depth() == 0
    assert st.store.count_comments("blog") == 31
    assert_stored_as_answered(st.store, answers, 31)
    assert client.post("/score", json={"id": "after", **HAM}, headers=auth).status_code == 200
    assert st.store.count_comments("blog") == 32


# -- crashes under gunicorn -------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_server_while_spool_drains(trained_registry: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A spool left by a killed server is drained by the next one, each comment once."""
    from test_serve import make_key

    home = tmp_path / "home0"
    home.mkdir()
    key = make_key(home)
    store = Store(f"sqlite:///{home / 'spamguard.db'}")
    store.upgrade()
    # 500 spooled comments, as a server killed during an outage leaves them (a dead pid's active file).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    spool_dir = home / "spool"
    spool_dir.mkdir()
    host = socket.gethostname().replace("-", "_") or "host"
    verdict = {"decision": "hold", "score": 0.5, "reasons": [], "model_version": None, "thresholds": None}
    with open(spool_dir / f"active-{host}-{dead.pid}.jsonl", "w") as fh:
        for i in range(500):
            line = {
                "site": "blog",
                "comment_id": f"s{i}",
                "record": {"content": f"c {i}"},
                "verdict": verdict,
            }
            fh.write(json.dumps(line) + "\n")
    first, _ = _serve_in(home, trained_registry, wait=False)
    deadline = time.monotonic() + 60
    while store.count_comments("blog") == 0:
        assert time.monotonic() < deadline and first.poll() is None, "the first server starts draining"
        time.sleep(0.002)
    os.killpg(first.pid, signal.SIGKILL)  # the whole server, mid-drain
    first.wait()
    partial = store.count_comments("blog")
    proc, port = _serve_in(home, trained_registry)
    try:
        deadline = time.monotonic() + 60
        while list(spool_dir.glob("*.jsonl")):
            assert time.monotonic() < deadline, "the spool is drained after the restart"
            time.sleep(0.1)
        assert store.count_comments("blog") == 500
        ids = [r[0] for r in store.execute("SELECT comment_id FROM comments").fetchall()]
        assert len(ids) == len(set(ids)) == 500
        status, body = _post(port, "/score", {"id": "s7", "content": "x"}, key)
        assert status == 200 and json.loads(body)["decision"] == "hold", "the spooled answer stands"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    print(f"killed with {partial} of 500 drained")  # noqa: T201


def _serve_in(home: Path, model: Path, wait: bool = True, **extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        SPAMGUARD_HOME=str(home),
        SPAMGUARD_MODEL=str(model),
        SPAMGUARD_PORT=str(port),
        SPAMGUARD_WORKERS="2",
        SPAMGUARD_RATE_LIMIT="0",
    )
    env.update(extra)
    with open(home / f"serve-{port}.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from spamguard.cli import main; main()", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while wait:
        try:
            if _post(port, "/readyz", None, None, method="GET")[0] == 200:
                return proc, port
        except OSError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    return proc, port


def _post(
    port: int, path: str, body: object, key: str | None, method: str = "POST", timeout: float = 10
) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.slow
def test_kill_9_worker_mid_request_loses_nothing(live_server, trained_registry: Path) -> None:  # type: ignore[no-untyped-def]
    """Workers killed under load: every answered comment is stored; the rest are retried with their id."""
    import http.client
    import threading

    from test_serve import make_key

    server = live_server(trained_registry, workers=2)
    key = make_key(server.home)
    server.wait_ready()
    answered: dict[str, dict] = {}
    failed: set[str] = set()
    stop = threading.Event()
    counter = iter(range(10**6))
    lock = threading.Lock()

    def post() -> None:
        while not stop.is_set():
            with lock:
                cid = f"k{next(counter)}"
            try:
                status, body = _post(server.port, "/score", {"id": cid, **SPAM}, key, timeout=5)
            except (OSError, http.client.HTTPException):  # reset, or a body cut off mid-read
                status, body = 0, b""
            with lock:
                if status == 200:
                    answered[cid] = json.loads(body)
                else:
                    failed.add(cid)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    killed = 0
    try:
        for _ in range(3):
            time.sleep(1.0)
            workers = server.workers()
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed += 1
    finally:
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
    assert killed == 3 and answered
    server.wait_ready()
    for cid in sorted(failed):  # what the client does with an error: retry with the same id
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = _post(server.port, "/score", {"id": cid, **SPAM}, key)
            except (OSError, http.client.HTTPException):  # reset, or a body cut off mid-read
                status = 0
            if status == 200:
                answered[cid] = json.loads(body)
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
    store = Store(f"sqlite:///{server.home / 'spamguard.db'}")
    stored = {r[0]: (r[1], r[2]) for r in store.execute("SELECT comment_id, decision, score FROM comments")}
    assert set(stored) == set(answered), "every answered comment is stored, none twice, none extra"
    for cid, answer in answered.items():
        assert stored[cid] == (answer["decision"], answer["score"])
    assert "approve" not in {d for d, _ in stored.values()}


def test_a_value_the_store_cannot_hold_is_400_not_an_outage(make_app, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard.store import StoreValueError

    app = make_app(home=tmp_path / "home")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StoreValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")

    monkeypatch.setattr(st.store, "insert_comment", refuse)
    r = app.test_client().post("/score", json={"id": "v1", **HAM}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_value"
    assert st.spool.error is None and not st.spool.files(), "the store is not taken to be down"


APPENDER = """
import sys
from pathlib import Path
from spamguard.metrics import Metrics
from spamguard.policy import Reason, Verdict
from spamguard.spool import Spool
spool = Spool(Path(sys.argv[1]), None, Metrics())
verdict = Verdict("hold", 0.5, [Reason("text:words", 1.0, "cheap")], "v1")
i = 0
while True:
    spool.append("blog", f"k{i}", {"content": "x" * (i % 5000)}, verdict)
    print(f"k{i}", flush=True)  # only after append returned: written and fsync'd
    i += 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("after", [1, 57, 400])
def test_kill_9_during_spool_appends_loses_nothing(tmp_path: Path, after: int) -> None:
    """A worker killed with -9 while it appends: every append that returned is drained, exactly once."""
    home = tmp_path / "home"
    cmd = [sys.executable, "-c", APPENDER, str(home)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        appended = [child.stdout.readline().strip() for _ in range(after)]
        os.kill(child.pid, signal.SIGKILL)  # while it is in the middle of its next appends
        child.wait()
        appended += child.stdout.read().split()  # printed before the kill, not yet read
    store = Store(f"sqlite:///{tmp_path / 'spamguard.db'}")
    store.upgrade()
    spool = Spool(home, store, Metrics())
    spool.drain()
    stored = {row[0] for row in store.execute("SELECT comment_id FROM comments WHERE site = 'blog'")}
    assert set(appended) <= stored  # no acknowledged append lost
    # at most the one append that finished between its last print and the kill; none stored twice
    assert len(stored) - len(appended) in (0, 1)
    assert store.count_comments("blog") == len(stored)
    assert not spool.files()
    store.close()
