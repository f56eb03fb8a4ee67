"""PostgreSQL for several replicas: concurrent migrations, two `spamguard serve` processes on one database.

Runs when SPAMGUARD_TEST_DATABASE_URL names a PostgreSQL server (and always under CI=true).
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from spamguard import moderation_store as ms
from spamguard.keys import create_key
from spamguard.moderators import add_moderator, create_token
from spamguard.store import SCHEMA_VERSION, Store
from tests.conftest import DATABASES

pytestmark = pytest.mark.skipif("postgresql" not in DATABASES, reason="set SPAMGUARD_TEST_DATABASE_URL")


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
