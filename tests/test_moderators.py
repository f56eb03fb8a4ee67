"""Moderators: scrypt passwords, constant-time checks, tokens shown once, removal."""

from __future__ import annotations

import pytest

from spamguard import moderators as mo


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mo, "SCRYPT_N", 2**10)


def test_password_hash_is_salted_scrypt() -> None:
    a, b = mo.hash_password("correct horse"), mo.hash_password("correct horse")
    assert a != b and a.startswith("scrypt$1024$8$1$")
    assert mo.check_password("correct horse", a) and mo.check_password("correct horse", b)
    assert not mo.check_password("correct hors", a)
    assert not mo.check_password("x", "not a hash") and not mo.check_password("x", "bcrypt$1$2$3$4$5")


def test_add_verify_and_remove(store) -> None:  # type: ignore[no-untyped-def]
    ann = mo.add_moderator(store, "ann", "s3cret-pass")
    assert ann.name == "ann" and ann.removed_at is None
    assert "s3cret" not in str(store.execute("SELECT password_hash FROM moderators").fetchall())
    assert mo.verify_password(store, "ann", "s3cret-pass") == ann
    assert mo.verify_password(store, "ann", "wrong-pass") is None
    assert mo.verify_password(store, "nobody", "s3cret-pass") is None
    assert mo.verify_password(store, "bad name!", "x" * 5000) is None
    with pytest.raises(mo.ModeratorError, match="already exists"):
        mo.add_moderator(store, "ann", "another-pass")
    mo.remove_moderator(store, "ann")
    assert mo.verify_password(store, "ann", "s3cret-pass") is None
    assert mo.get_moderator(store, "ann") is None
    assert [m.name for m in mo.list_moderators(store)] == ["ann"]
    with pytest.raises(mo.ModeratorError, match="no moderator"):
        mo.remove_moderator(store, "ann")
    # Added back: a new password, live again.
    assert mo.add_moderator(store, "ann", "fresh-password").removed_at is None
    assert mo.verify_password(store, "ann", "fresh-password") is not None


@pytest.mark.parametrize(
    ("name", "password"), [("", "long-enough"), ("a b", "long-enough"), ("ann", "short")]
)
def test_bad_names_and_passwords(store, name: str, password: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(mo.ModeratorError):
        mo.add_moderator(store, name, password)


def test_tokens_are_shown_once_and_die_with_the_moderator(store) -> None:  # type: ignore[no-untyped-def]
    mo.add_moderator(store, "bo", "password-bo")
    token = mo.create_token(store, "bo")
    assert token.startswith("sgm_") and mo.is_token(token)
    assert token not in str(store.execute("SELECT * FROM moderator_tokens").fetchall())
    assert mo.lookup_token(store, token).name == "bo"
    assert mo.lookup_token(store, token + "x") is None
    assert mo.lookup_token(store, "sg_" + token[4:]) is None
    mo.remove_moderator(store, "bo")
    assert mo.lookup_token(store, token) is None
    mo.add_moderator(store, "bo", "password-bo2")
    assert mo.lookup_token(store, token) is None, "a removed moderator's old tokens stay revoked"
    with pytest.raises(mo.ModeratorError, match="no moderator"):
        mo.create_token(store, "nobody")


def test_set_password(store) -> None:  # type: ignore[no-untyped-def]
    mo.add_moderator(store, "cy", "password-1")
    mo.set_password(store, "cy", "password-2")
    assert mo.verify_password(store, "cy", "password-2") and not mo.verify_password(store, "cy", "password-1")
    with pytest.raises(mo.ModeratorError):
        mo.set_password(store, "nobody", "password-3")
