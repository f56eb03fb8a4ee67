"""PostgreSQL for several replicas (concurrent migrations, two `spamguard serve` processes on one
database), and what a server does to its clients: connections closed (a restart), a read-only database,
values its indexes cannot hold.

Runs when SPAMGUARD_TEST_DATABASE_URL names a PostgreSQL server (and always under CI=true).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spamguard import moderation_store as ms
from spamguard.keys import create_key
from spamguard.moderators import add_moderator, create_token
from spamguard.policy import Verdict
from spamguard.store import SCHEMA_VERSION, Store, StoreError, StoreValueError
from tests.conftest import _PG_ADMIN_URL, DATABASES, _with_database, assert_stored_as_answered

pytestmark = pytest.mark.skipif("postgresql" not in DATABASES, reason="set SPAMGUARD_TEST_DATABASE_URL")

HAM = {"content": "Thanks for the sourdough write-up, it helped me fix my setup.", "author_name": "Ann"}
SPAM = {"content": "Buy cheap viagra now at http://bit.ly/x9z best price!!!"}


def admin(sql: str, *params: object) -> list[tuple]:  # type: ignore[type-arg]
    """Run one statement as the server's administrator, from its maintenance database."""
    import psycopg

    with psycopg.connect(_PG_ADMIN_URL, autocommit=True) as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def terminate(name: str) -> int:
    """Close every connection to database `name` from the server side, as a restart does; wait for them."""
    # In the select list, never in WHERE: there the planner may call it before the datname filter.
    rows = admin("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = %s", name)
    return sum(1 for (done,) in rows if done)


@pytest.fixture
def own_database() -> Iterator[str]:
    """The name of a database of this test's own: its connections or settings touch no other test's."""
    name = f"sg_own_{secrets.token_hex(4)}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def state(app):  # type: ignore[no-untyped-def]
    return app.extensions["spamguard"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_replicas_upgrade_together(database_url: str) -> None:
    stores = [Store(database_url) for _ in range(4)]
    versions, errors = [], []

    def upgrade(store: Store) -> None:
        try:
            versions.append(store.upgrade())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=upgrade, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and versions == [SCHEMA_VERSION] * 4
    store = Store(database_url)
    assert store.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_replicas_share_the_queue(database_url: str, live_server, tmp_path, cheap_scrypt) -> None:  # type: ignore[no-untyped-def]
    store = Store(database_url)
    store.upgrade()
    key, _ = create_key(store, ["blog"])
    add_moderator(store, "ann", "password-ann")
    add_moderator(store, "bo", "password-bo")
    ann, bo = create_token(store, "ann"), create_token(store, "bo")
    # No model: every comment is held (never approved unscored), which is what this test needs.
    env = {"SPAMGUARD_DATABASE_URL": database_url, "SPAMGUARD_SECRET_KEY": "shared-secret-for-both"}
    a = live_server(tmp_path / "no-model", workers=1, **env)
    b = live_server(tmp_path / "no-model", workers=1, **env)
    for server in (a, b):
        deadline = time.monotonic() + 60
        while True:
            assert server.proc.poll() is None, server.log.read_text()
            try:
                if server.request("GET", "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)

    def call(server, method, path, token, body=None):  # type: ignore[no-untyped-def]
        status, _, raw = server.request(method, path, body, {"Authorization": f"Bearer {token}"})
        return status, json.loads(raw)

    for n in range(3):
        assert (
            call(a, "POST", "/score", key, {"id": f"c{n}", "content": "hello there"})[1]["decision"] == "hold"
        )
    status, page = call(b, "GET", "/moderation/queue", bo)
    assert status == 200 and [i["id"] for i in page["items"]] == ["c0", "c1", "c2"]
    pk = page["items"][0]["pk"]
    assert call(b, "POST", f"/moderation/{pk}", bo, {"verdict": "spam"})[0] == 200
    assert call(a, "GET", "/comments/c0", key)[1]["verdict"] == "spam"
    assert [i["id"] for i in call(a, "GET", "/moderation/queue", ann)[1]["items"]] == ["c1", "c2"]

    pk = page["items"][1]["pk"]
    answers: dict[str, tuple[int, dict]] = {}
    barrier = threading.Barrier(2)

    def decide(name: str, server, token: str, verdict: str) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        answers[name] = call(server, "POST", f"/moderation/{pk}", token, {"verdict": verdict})

    threads = [threading.Thread(target=decide, args=("a", a, ann, "ham")),
               threading.Thread(target=decide, args=("b", b, bo, "spam"))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _ in answers.values()) == [200, 409]
    winner = next(body for s, body in answers.values() if s == 200)
    loser = next(body for s, body in answers.values() if s == 409)["error"]
    assert (loser["verdict"], loser["decided_by"]) == (winner["verdict"], winner["decided_by"])
    assert ms.get_by_pk(store, pk).verdict == winner["verdict"]
    store.close()


# -- the server closes connections (a restart, pg_terminate_backend) ------------------------------------


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_connections_closed_by_the_server_cost_no_request(make_app, own_database, tmp_path, cheap_scrypt):  # type: ignore[no-untyped-def]
    """Every endpoint right after the server closed every connection: answered from the database, not
    503 and not spooled (each thread's dead connection is replaced, the statement run again if safe)."""
    # No model: every comment is held, so there is a queue to read and decide.
    app = make_app(database_url=_with_database(_PG_ADMIN_URL, own_database), model=tmp_path / "no-model")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    add_moderator(st.store, "ann", "password-ann")
    site = {"Authorization": f"Bearer {key}"}
    mod = {"Authorization": f"Bearer {create_token(st.store, 'ann')}"}
    client = app.test_client()
    assert client.post("/score", json={"id": "c1", **HAM}, headers=site).status_code == 200
    requests = [
        ("GET", "/moderation/queue", mod, None),
        ("GET", "/comments/c1", site, None),
        ("POST", "/score", site, {"id": "c2", **SPAM}),  # key look-up, history reads, the insert
        ("POST", "/feedback", site, {"id": "c1", "label": "spam"}),  # a write that is never sent twice
    ]
    for method, path, headers, body in requests:
        assert terminate(own_database) >= 1
        r = client.open(path, method=method, json=body, headers=headers)
        assert r.status_code == 200, (path, r.get_json())
    assert terminate(own_database) >= 1
    st.store.ping()  # what /readyz asks (here 503 for the missing model alone)
    pk = client.get("/moderation/queue", headers=mod).get_json()["items"][0]["pk"]
    assert terminate(own_database) >= 1
    r = client.post(f"/moderation/{pk}", json={"verdict": "ham"}, headers=mod)  # a transaction
    assert r.status_code == 200, r.get_json()
    assert st.spool.error is None and not st.spool.files(), "nothing spooled: the database was up"
    assert st.store.count_comments("blog") == 2
    assert st.store.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 1

    # Connections are per thread: each finds its own dead and replaces it.
    barrier = threading.Barrier(5)
    results: list[object] = []

    def reader() -> None:
        try:
            st.store.count_comments()
            barrier.wait()  # every thread has its connection
            barrier.wait()  # ... and the server has closed them all
            results.append(st.store.count_comments())
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)
        finally:
            st.store.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    barrier.wait()
    assert terminate(own_database) >= 4
    barrier.wait()
    for t in threads:
        t.join(10)
    assert results == [2, 2, 2, 2]


def test_a_statement_cut_off_runs_again_only_if_it_is_a_read(own_database) -> None:  # type: ignore[no-untyped-def]
    store = Store(_with_database(_PG_ADMIN_URL, own_database))
    store.upgrade()

    def cut_after(seconds: float) -> threading.Thread:
        thread = threading.Thread(target=lambda: (time.sleep(seconds), terminate(own_database)))
        thread.start()
        return thread

    cutter = cut_after(0.3)
    assert store.execute("SELECT 7 FROM pg_sleep(1)").fetchone()[0] == 7
    cutter.join()
    cutter = cut_after(0.3)
    with pytest.raises(StoreError, match="terminating connection"):
        store.execute(
            "INSERT INTO feedback (site, comment_id, label, source, record, created_at)"
            " SELECT 'blog', NULL, 'spam', 'test', '{}', 'now' FROM pg_sleep(1)"
        )
    cutter.join()
    assert store.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0, "not sent twice"

    # A transaction whose BEGIN finds the connection closed begins again on a new one.
    assert terminate(own_database) == 1
    with store.transaction() as run:
        run("INSERT INTO feedback (site, label, source, record, created_at) VALUES ('b', 'ham', 't', '', '')")
    assert store.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 1

    def slow_history(run):  # type: ignore[no-untyped-def]
        run("SELECT pg_sleep(1)")

    # A comment's transaction cut off midway runs again whole: ON CONFLICT makes it safe.
    cutter = cut_after(0.3)
    verdict = Verdict("hold", 0.5, [], "v1")
    assert store.insert_comment("blog", "c1", {"content": "x"}, verdict, also=slow_history) is True
    cutter.join()
    assert store.count_comments("blog") == 1
    store.close()


# -- a database that answers reads and refuses writes -----------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_read_only_database_loses_no_comment(make_app, own_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """default_transaction_read_only on: every comment answered 200 waits in the spool (none in
    failed.jsonl), /readyz says degraded, and after it is turned off each is stored exactly once."""
    app = make_app(home=tmp_path / "home", database_url=_with_database(_PG_ADMIN_URL, own_database))
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    auth = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    assert client.post("/score", json={"id": "before", **HAM}, headers=auth).status_code == 200
    answers = {}
    try:
        admin(f'ALTER DATABASE "{own_database}" SET default_transaction_read_only = on')
        terminate(own_database)
        for i in range(12):
            r = client.post("/score", json={"id": f"ro{i}", **(SPAM if i % 3 else HAM)}, headers=auth)
            assert r.status_code == 200, r.get_json()
            answers[f"ro{i}"] = r.get_json()
            if i % 4 == 3:
                assert st.spool.drain() == 0  # the drain thread: reads work, so it used to try
        ready = client.get("/readyz").get_json()
        assert ready["status"] == "degraded" and "read-only" in ready["store_error"], ready
        assert ready["spool_records"] == 12
        again = client.post("/score", json={"id": "ro1", "content": "other"}, headers=auth).get_json()
        assert (again["decision"], again["score"]) == (answers["ro1"]["decision"], answers["ro1"]["score"])
        assert not (st.spool.dir / "failed.jsonl").exists()
    finally:
        admin(f'ALTER DATABASE "{own_database}" RESET default_transaction_read_only')
    # No connection is closed for us: the store drops sessions it found read-only.
    assert st.spool.drain() == 12
    assert not st.spool.files() and not (st.spool.dir / "failed.jsonl").exists()
    assert_stored_as_answered(st.store, answers, 13)
    assert client.get("/readyz").get_json()["store"] == "ok"
    assert client.post("/score", json={"id": "after", **HAM}, headers=auth).status_code == 200
    assert st.store.count_comments("blog") == 14 and not st.spool.files()


# -- values the database cannot hold ---------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_id_over_the_index_limit_is_a_value_error_not_an_outage(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """2,000 CJK characters (6,000 bytes) overflow btree's 2,704 bytes: the API refuses such an id, and
    the store (for a record under the parser: an old spool) calls it a value, not the service."""
    app = make_app(home=tmp_path / "home")
    st = state(app)
    key, _ = create_key(st.store, ["blog"])
    auth = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    # 2,000 different CJK characters (one repeated would be compressed to fit)
    huge = "".join(chr(0x4E00 + i * 7919 % 20000) for i in range(2000))
    r = client.post("/score", json={"id": huge, **HAM}, headers=auth)
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "id"

    verdict = Verdict("hold", 0.5, [], "v1")
    with pytest.raises(StoreValueError, match="index row size"):
        st.store.insert_comment("blog", huge, {"content": "x"}, verdict)
    with pytest.raises(StoreValueError, match="index row size"):
        st.store.insert_comment("blog", huge, {"content": "x"}, verdict, also=lambda run: None)
    with pytest.raises(StoreValueError):
        st.spool.insert_comment("blog", huge, {"content": "x"}, verdict)
    assert st.spool.error is None and not st.spool.files(), "not taken for an outage"
    assert client.post("/score", json={"id": "next", **HAM}, headers=auth).status_code == 200
    assert st.store.get_comment("blog", "next") is not None, "stored, not diverted to the spool"

    st.spool.append("blog", huge, {"content": "x"}, verdict)  # spooled before the limit existed
    st.spool.append("blog", "fine", {"content": "y"}, verdict)
    assert st.spool.drain() == 1
    assert st.store.get_comment("blog", "fine") is not None and not st.spool.files()
    kept = [json.loads(line) for line in (st.spool.dir / "failed.jsonl").read_text().splitlines()]
    assert [k["comment_id"] for k in kept] == [huge] and st.spool.error is None


# -- messages ---------------------------------------------------------------------------------------------


def test_a_missing_database_is_not_a_schema_to_upgrade() -> None:
    store = Store(_with_database(_PG_ADMIN_URL, f"sg_missing_{secrets.token_hex(4)}"))
    for check in (store.ping, store.schema_version):
        with pytest.raises(StoreError, match="cannot connect.*does not exist") as info:
            check()
        assert "db upgrade" not in str(info.value)
    empty = Store(_with_database(_PG_ADMIN_URL, "postgres", options="-csearch_path=sg_no_such_schema"))
    with pytest.raises(StoreError, match="schema version 0.*db upgrade"):
        empty.ping()
    empty.close()
