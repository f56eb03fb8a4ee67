"""API keys: shown once, stored hashed, scoped to sites, revocable; and the CLI over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from spamguard.keys import KeyCache, UnknownKey, create_key, find_key, hash_key, list_keys, revoke_key
from spamguard.store import SCHEMA_VERSION, Store


@pytest.fixture
def db(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'k.db'}")
    store.upgrade()
    yield store
    store.close()


def test_create_find_and_only_hash_stored(db: Store) -> None:
    key, stored = create_key(db, ["blog", "shop", "blog"])
    assert key.startswith("sg_") and len(key) > 40
    assert stored.sites == ("blog", "shop")
    assert find_key(db, key) == stored
    raw = db.execute("SELECT * FROM api_keys").fetchall()
    assert key not in repr(raw) and hash_key(key) in repr(raw)


def test_unknown_and_malformed_keys(db: Store) -> None:
    create_key(db, ["blog"])
    assert find_key(db, "sg_nope") is None
    assert find_key(db, "Basic abc") is None
    assert find_key(db, "sg_" + "x" * 500) is None


@pytest.mark.parametrize("site", ["", "has space", "-lead", "a/b", "x" * 300])
def test_bad_site_names(db: Store, site: str) -> None:
    with pytest.raises(ValueError, match="site"):
        create_key(db, [site])


def test_revoke_by_id_or_prefix(db: Store) -> None:
    k1, s1 = create_key(db, ["a"])
    k2, s2 = create_key(db, ["b"])
    assert revoke_key(db, str(s1.id)).revoked_at is not None
    assert revoke_key(db, s2.prefix).revoked_at is not None
    assert find_key(db, k1) is None and find_key(db, k2) is None
    assert [k.revoked_at is not None for k in list_keys(db)] == [True, True]
    with pytest.raises(UnknownKey, match="keys list"):
        revoke_key(db, "999")


def test_cache_sees_revocation_after_ttl(db: Store) -> None:
    key, stored = create_key(db, ["a"])
    cache = KeyCache(db, ttl=60)
    assert cache.lookup(key) == stored
    revoke_key(db, str(stored.id))
    assert cache.lookup(key) == stored  # trusted for the TTL
    cache.ttl = 0
    assert cache.lookup(key) is None
    assert cache.lookup("sg_unknown") is None


def test_cli_create_list_revoke(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from spamguard.cli import main

    result = runner.invoke(main, ["keys", "create", "--site", "blog"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[0]
    assert key.startswith("sg_")
    db = Store(f"sqlite:///{tmp_path / 'var' / 'spamguard.db'}")
    assert find_key(db, key) is not None

    listed = runner.invoke(main, ["keys", "list"])
    assert listed.exit_code == 0 and "blog" in listed.stdout and key not in listed.stdout

    revoked = runner.invoke(main, ["keys", "revoke", key[:10]])
    assert revoked.exit_code == 0, revoked.output
    assert find_key(db, key) is None
    assert "revoked" in runner.invoke(main, ["keys", "list"]).stdout

    again = runner.invoke(main, ["keys", "revoke", "nope"])
    assert again.exit_code != 0 and "keys list" in again.output
    bad = runner.invoke(main, ["keys", "create", "--site", "bad site"])
    assert bad.exit_code != 0 and "site" in bad.output


def test_cli_bad_setting_names_variable(runner, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard.cli import main

    monkeypatch.setenv("SPAMGUARD_DATABASE_URL", "mysql://x")
    result = runner.invoke(main, ["keys", "list"])
    assert result.exit_code != 0 and "SPAMGUARD_DATABASE_URL" in result.output


def test_cli_settings_and_db_upgrade(runner) -> None:  # type: ignore[no-untyped-def]
    from spamguard.cli import main
    from spamguard.settings import markdown_table

    shown = runner.invoke(main, ["settings"])
    assert shown.exit_code == 0 and "SPAMGUARD_LATENCY_BUDGET_MS=50.0" in shown.stdout
    assert runner.invoke(main, ["settings", "--markdown"]).stdout == markdown_table()
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and f"schema version {SCHEMA_VERSION}" in upgraded.stdout


def test_cli_db_backup(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from spamguard.cli import main

    dest = tmp_path / "backup.db"
    missing = runner.invoke(main, ["db", "backup", str(dest)])  # a backup reads: it creates nothing
    assert missing.exit_code == 1 and "nothing to back up" in missing.output
    assert not dest.exists() and not (tmp_path / "var" / "spamguard.db").exists()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    done = runner.invoke(main, ["db", "backup", str(dest)])
    assert done.exit_code == 0 and f"to {dest}: 0 comments" in done.stdout and dest.is_file()
    again = runner.invoke(main, ["db", "backup", str(dest)])
    assert again.exit_code == 1 and "never replaces" in again.output
