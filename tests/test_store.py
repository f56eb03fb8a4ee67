"""The store: schema versions, one insert per scored comment, idempotency by (site, id)."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

import pytest

from spamguard.policy import Reason, Thresholds, Verdict
from spamguard.store import SCHEMA_VERSION, Store, StoreError


@pytest.fixture
def db(database_url: str) -> Store:
    store = Store(database_url)
    store.upgrade()
    yield store
    store.close()


def verdict(decision: str = "hold", score: float = 0.6) -> Verdict:
    return Verdict(
        decision, score, [Reason("link:shortener", 1.9, "bit.ly")], "v1", "c1", Thresholds(0.2, 0.9)
    )


def test_upgrade_is_idempotent_and_versioned(db: Store) -> None:
    assert db.schema_version() == SCHEMA_VERSION
    assert db.upgrade() == SCHEMA_VERSION
    db.ping()
    rows = db.execute("SELECT COUNT(*) FROM schema_version").fetchone()
    assert rows[0] == 1


def test_sqlite_is_wal_with_normal_sync(db: Store) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_insert_and_read_back(db: Store) -> None:
    record = {"id": "c1", "site": "blog", "content": "héllo \u0000 <b>x</b>"}
    assert db.insert_comment("blog", "c1", record, verdict()) is True
    got = db.get_comment("blog", "c1")
    assert got is not None
    assert got.record == record
    assert (got.decision, got.status, got.score, got.model_version) == ("hold", "held", 0.6, "v1")
    assert got.reasons == [{"signal": "link:shortener", "weight": 1.9, "detail": "bit.ly"}]
    assert got.thresholds == {"approve_below": 0.2, "reject_at": 0.9}
    assert got.created_at.endswith("Z")
    assert got.answer() == {"id": "c1", "decision": "hold", "score": 0.6,
                            "reasons": got.reasons, "model_version": "v1"}  # fmt: skip


def test_same_site_and_id_is_stored_once(db: Store) -> None:
    assert db.insert_comment("blog", "c1", {"content": "a"}, verdict("hold"))
    assert not db.insert_comment("blog", "c1", {"content": "b"}, verdict("approve", 0.01))
    assert db.get_comment("blog", "c1").decision == "hold"
    assert db.insert_comment("other", "c1", {"content": "b"}, verdict("reject", 0.99))
    assert db.count_comments() == 2 and db.count_comments("blog") == 1


def test_status_follows_decision(db: Store) -> None:
    for i, decision in enumerate(["approve", "hold", "reject"]):
        db.insert_comment("s", str(i), {"content": "x"}, verdict(decision))
    assert [db.get_comment("s", str(i)).status for i in range(3)] == ["approved", "held", "rejected"]


def test_unscored_verdict_without_thresholds(db: Store) -> None:
    v = Verdict("hold", 0.5, [Reason("system:unscored", 0.0, "no model")], None, None, None)
    db.insert_comment("s", "u", {"content": "x"}, v)
    got = db.get_comment("s", "u")
    assert got.thresholds is None and got.model_version is None


def test_missing_comment(db: Store) -> None:
    assert db.get_comment("blog", "nope") is None


def test_connections_are_per_thread(db: Store) -> None:
    errors = []

    def write(n: int) -> None:
        try:
            for i in range(20):
                db.insert_comment("t", f"{n}-{i}", {"content": "x"}, verdict())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert db.count_comments("t") == 80


def test_newer_schema_is_refused(db: Store) -> None:
    db.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(StoreError, match="newer"):
        db.upgrade()
    with pytest.raises(StoreError, match="schema version 999"):
        db.ping()


def test_ping_on_empty_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="db upgrade"):
        Store(f"sqlite:///{tmp_path / 'empty.db'}").ping()


def _nothing_listens() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_that_cannot_be_reached_is_not_a_schema_to_upgrade() -> None:
    """ping and schema_version say they cannot connect (URL without its password), never `db upgrade`."""
    pytest.importorskip("psycopg")
    store = Store(f"postgresql://sg:secret@127.0.0.1:{_nothing_listens()}/x?connect_timeout=2")
    said = re.escape("cannot connect to postgresql://sg:***@127.0.0.1")
    for check in (store.ping, store.schema_version):
        with pytest.raises(StoreError, match=said) as info:
            check()
        assert "db upgrade" not in str(info.value) and "secret" not in str(info.value)


def test_train_against_a_server_that_cannot_be_reached_says_so(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("psycopg")
    from click.testing import CliRunner

    from spamguard.cli import main

    data = tmp_path / "f.jsonl"
    data.write_text('{"content": "cheap pills", "label": "spam"}\n{"content": "nice post", "label": "ham"}\n')
    port = _nothing_listens()
    monkeypatch.setenv("SPAMGUARD_DATABASE_URL", f"postgresql://sg:secret@127.0.0.1:{port}/x")
    result = CliRunner().invoke(main, ["train", str(data), "--out", str(tmp_path / "models")])
    assert result.exit_code != 0
    assert f"cannot connect to postgresql://sg:***@127.0.0.1:{port}/x" in result.output, result.output
    assert "schema version" not in result.output and "secret" not in result.output


def test_unreachable_database(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open"):
        Store(f"sqlite:///{blocker / 'sub' / 'x.db'}").upgrade()


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(f"sqlite:///{bad}").upgrade()


def _filled(path: Path, n: int) -> Store:
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    for i in range(n):
        store.insert_comment("blog", f"c{i}", {"content": f"comment {i}"}, verdict())
    return store


def test_backup_is_a_consistent_copy_taken_while_comments_arrive(tmp_path: Path) -> None:
    live = _filled(tmp_path / "live.db", 300)
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:  # another connection, as a serving worker
        writer = Store(live.url)
        i = 0
        while not stop.is_set():
            writer.insert_comment("blog", f"w{i}", {"content": f"while backing up {i}"}, verdict())
            i += 1
        written.append(i)
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        before = live.count_comments()
        copied = live.backup(tmp_path / "copy.db")
        after = live.count_comments()
    finally:
        stop.set()
        thread.join()
    assert before <= copied <= after
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    copy = Store(f"sqlite:///{tmp_path / 'copy.db'}")
    copy.ping()  # same schema version
    assert copy.count_comments() == copied
    stored = copy.get_comment("blog", "c7")
    assert stored is not None and stored.record == {"content": "comment 7"} and stored.decision == "hold"
    assert sqlite3.connect(tmp_path / "copy.db").execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_backup_never_replaces_a_file(tmp_path: Path) -> None:
    live = _filled(tmp_path / "live.db", 3)
    dest = tmp_path / "old-backup.db"
    dest.write_bytes(b"an earlier backup")
    with pytest.raises(StoreError, match="exists"):
        live.backup(dest)
    assert dest.read_bytes() == b"an earlier backup"
    with pytest.raises(StoreError, match="not a directory"):
        live.backup(tmp_path / "missing" / "b.db")


def test_backup_that_fails_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = _filled(tmp_path / "live.db", 3)

    def no_link(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("spamguard.store.os.link", no_link)
    with pytest.raises(StoreError, match="No space left"):
        live.backup(tmp_path / "b.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.db", "live.db-shm", "live.db-wal"]


def test_backup_of_a_database_with_no_schema_yet(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="nothing to back up"):
        Store(f"sqlite:///{tmp_path / 'none.db'}").backup(tmp_path / "b.db")
    assert list(tmp_path.iterdir()) == []
    bare = Store(f"sqlite:///{tmp_path / 'bare.db'}")
    bare.execute("CREATE TABLE t (x INTEGER)")
    assert bare.backup(tmp_path / "b.db") == 0


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="pg_dump"):
        Store("postgresql://postgres:secret@127.0.0.1/x").backup(tmp_path / "b.db")
    assert list(tmp_path.iterdir()) == []


def test_unsupported_url() -> None:
    with pytest.raises(StoreError, match="unsupported"):
        Store("mysql://x")


def test_postgres_parameters_are_translated() -> None:
    store = Store("postgresql://u:secret@127.0.0.1/db")
    assert (
        store.sql("SELECT 1 WHERE a = :a AND b::text = :b_2")
        == "SELECT 1 WHERE a = %(a)s AND b::text = %(b_2)s"
    )
    assert "secret" not in store.safe_url()


def test_rolled_back_transaction_leaves_nothing(db: Store) -> None:
    with pytest.raises(RuntimeError):
        with db.transaction() as run:
            run("INSERT INTO api_keys (key_hash, prefix, sites, created_at) VALUES ('h', 'p', '[]', 't')")
            raise RuntimeError
    assert db.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0] == 0


def test_file_is_sqlite(db: Store) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only")
    assert db.path is not None
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_upgrade_copies_the_verdicts_given_into_the_history(database_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard import store as store_module

    old = Store(database_url)
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:5])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 5)
    old.upgrade()
    for cid, verdict_given in (("a", "spam"), ("b", "ham"), ("c", None)):
        old.insert_comment("blog", cid, {"content": "x"}, verdict())
        old.execute("UPDATE comments SET verdict = :v WHERE comment_id = :c", {"v": verdict_given, "c": cid})
        old.execute("INSERT INTO history (site, comment_id, at, decision) VALUES ('blog', :c, 1, 'hold')",
                    {"c": cid})  # fmt: skip
        old.execute("INSERT INTO history_keys (site, kind, value, at, comment_id, decision)"
                    " VALUES ('blog', 'ip', 'd', 1, :c, 'hold')", {"c": cid})  # fmt: skip
    monkeypatch.undo()
    assert old.upgrade() == SCHEMA_VERSION
    for table in ("history", "history_keys"):
        rows = old.execute(f"SELECT comment_id, decision FROM {table} ORDER BY comment_id").fetchall()
        assert [tuple(r) for r in rows] == [("a", "reject"), ("b", "approve"), ("c", "hold")]
    old.close()


def _queued_inserts(db: Store, items: list[tuple[str, object]]) -> tuple[list[object], set[int]]:
    """Queue several inserts while this thread holds the write lock, then let them go in one group.

    Each item is (comment id, what its `also` does: None, or an exception to raise). Returns what
    each call returned or raised, and the threads that ran the `also` writes.
    """
    results: list[object] = [None] * len(items)
    writers: set[int] = set()

    def also_for(fail: object):  # noqa: ANN202
        def also(run) -> None:  # noqa: ANN001
            writers.add(threading.get_ident())
            run("INSERT INTO feedback (site, comment_id, label, source, record, created_at)"
                " VALUES ('g', 'x', 'spam', 'test', '{}', '')")  # fmt: skip
            if fail is not None:
                raise fail  # type: ignore[misc]

        return also

    def insert(n: int, cid: str, fail: object) -> None:
        try:
            results[n] = db.insert_comment("g", cid, {"content": cid}, verdict(), also=also_for(fail))
        except Exception as exc:  # noqa: BLE001 - compared below
            results[n] = exc
        finally:
            db.close()

    threads = [threading.Thread(target=insert, args=(n, *item)) for n, item in enumerate(items)]
    with db._write_lock:
        for t in threads:
            t.start()
        while len(db._waiting) < len(items):  # every insert queued behind this thread's lock
            threading.Event().wait(0.001)
    for t in threads:
        t.join(10)
    return results, writers


def test_sqlite_inserts_waiting_for_the_lock_are_stored_together(db: Store) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only: one writer, so comments waiting for it go in one transaction")
    results, writers = _queued_inserts(db, [("a", None), ("b", None), ("a", None), ("c", None)])
    # The first thread to get the lock stored all four; the repeated id was stored once, not twice.
    assert len(writers) == 1
    assert sorted(map(str, results)) == ["False", "True", "True", "True"]
    assert db.count_comments("g") == 3
    assert db.execute("SELECT COUNT(*) FROM feedback WHERE site = 'g'").fetchone()[0] == 3
    assert db._waiting == []


def test_sqlite_a_failing_insert_in_a_group_fails_only_its_own_call(db: Store) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only: one writer, so comments waiting for it go in one transaction")
    results, _ = _queued_inserts(db, [("a", None), ("b", KeyError("bad")), ("c", None)])
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], KeyError)
    # The failed one left nothing: not its comment, not what its `also` wrote.
    assert db.get_comment("g", "b") is None
    assert {r[0] for r in db.execute("SELECT comment_id FROM comments WHERE site = 'g'")} == {"a", "c"}
    assert db.execute("SELECT COUNT(*) FROM feedback WHERE site = 'g'").fetchone()[0] == 2


def test_sqlite_an_outage_fails_every_insert_of_a_group(db: Store) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only: one writer, so comments waiting for it go in one transaction")
    db.execute(
        "CREATE TRIGGER no_writes BEFORE INSERT ON comments BEGIN SELECT RAISE(ABORT, 'disk gone'); END"
    )
    results, _ = _queued_inserts(db, [("a", None), ("b", None)])
    assert all(isinstance(r, StoreError) and "disk gone" in str(r) for r in results)
    assert db.count_comments("g") == 0
