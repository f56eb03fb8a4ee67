"""Moderators: scrypt passwords, constant-time checks, tokens shown once, removal."""

from __future__ import annotations

import pytest

from spamguard import moderators as mo

pytestmark = pytest.mark.usefixtures("cheap_scrypt")


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


def test_cli_moderators_sites_and_webhooks(store, runner, monkeypatch, database_url) -> None:  # type: ignore[no-untyped-def]
    from spamguard import moderation_store as ms
    from spamguard.cli import main
    from spamguard.policy import Reason, Thresholds, Verdict

    monkeypatch.setenv("SPAMGUARD_DATABASE_URL", database_url)
    result = runner.invoke(main, ["moderators", "add", "dee", "--password-stdin"], input="password-dee\n")
    assert result.exit_code == 0, result.output
    assert mo.verify_password(store, "dee", "password-dee")
    result = runner.invoke(main, ["moderators", "add", "eve"], input="password-eve\npassword-eve\n")
    assert result.exit_code == 0 and mo.verify_password(store, "eve", "password-eve")
    result = runner.invoke(main, ["moderators", "add", "dee", "--password-stdin"], input="password-x\n")
    assert result.exit_code == 1 and "already exists" in result.output
    result = runner.invoke(main, ["moderators", "token", "dee"])
    token = result.stdout.strip()
    assert result.exit_code == 0 and mo.lookup_token(store, token).name == "dee"
    assert runner.invoke(main, ["moderators", "remove", "eve"]).exit_code == 0
    listing = runner.invoke(main, ["moderators", "list"]).output
    assert "dee\t" in listing and "active" in listing and "removed" in listing
    assert runner.invoke(main, ["moderators", "token", "eve"]).exit_code == 1

    assert runner.invoke(main, ["sites", "set-webhook", "blog", "ftp://x", "--secret", "s"]).exit_code == 1
    assert runner.invoke(main, ["sites", "set-webhook", "blog", "http://127.0.0.1:9/h"]).exit_code == 1
    for odd in ("http://127.0.0.1:9/hook\r\nX-Injected: 1", "http://exa mple.com/", "http://x.example/\x7f"):
        result = runner.invoke(main, ["sites", "set-webhook", "blog", odd, "--secret", "s"])
        assert result.exit_code == 1 and "percent-encode" in result.output, (odd, result.output)
    result = runner.invoke(main, ["sites", "set-webhook", "blog", "http://127.0.0.1:9/h", "--secret", "s"])
    assert result.exit_code == 0 and ms.webhook_of(store, "blog") == ("http://127.0.0.1:9/h", "s")
    v = Verdict("hold", 0.6, [Reason("x", 1.0, "")], "v1", "c", Thresholds(0.2, 0.9))
    store.insert_comment("blog", "c1", {"content": "x"}, v)
    ms.decide(store, ms.get_by_id(store, "blog", "c1").pk, "spam", "dee")
    result = runner.invoke(main, ["webhooks", "log"])
    assert result.exit_code == 0 and "c1 spam" in result.output and "pending" in result.output
    monkeypatch.setenv("SPAMGUARD_WEBHOOK_MAX_ATTEMPTS", "1")
    result = runner.invoke(main, ["webhooks", "run", "--once"])
    assert result.exit_code == 0 and "attempted 1 deliveries" in result.output
    assert "failed" in runner.invoke(main, ["webhooks", "log"]).output
    assert "1 deliveries to retry" in runner.invoke(main, ["webhooks", "retry"]).output
    assert runner.invoke(main, ["sites", "set-webhook", "blog", "--remove"]).exit_code == 0
    assert ms.webhook_of(store, "blog") is None


def test_sessions_are_tied_to_the_row_and_the_password(store) -> None:  # type: ignore[no-untyped-def]
    mo.add_moderator(store, "dan", "password-dan")
    session: dict[str, object] = {}
    mo.start_session(session, mo.verify_password(store, "dan", "password-dan"))
    hashed = store.execute("SELECT password_hash FROM moderators WHERE name = 'dan'").fetchone()[0]
    assert hashed not in session.values()
    assert session[mo.SESSION_FINGERPRINT_KEY] == mo.session_fingerprint(hashed)
    assert mo.session_moderator(store, session).name == "dan"
    mo.set_password(store, "dan", "password-dan-2")
    assert mo.session_moderator(store, session) is None, "a new password ends old sessions"
    mo.start_session(session, mo.verify_password(store, "dan", "password-dan-2"))
    assert mo.session_moderator(store, session).name == "dan"
    mo.remove_moderator(store, "dan")
    assert mo.session_moderator(store, session) is None
    mo.add_moderator(store, "dan", "password-dan-2")
    assert mo.session_moderator(store, session) is None, "adding the name again is a new moderator"
    with pytest.raises(ValueError):
        mo.start_session({}, mo.get_moderator(store, "dan"))  # no fingerprint: not from verify_password


@pytest.mark.parametrize(
    "session",
    [{}, {mo.SESSION_KEY: "dan"}, {mo.SESSION_ID_KEY: "1", mo.SESSION_FINGERPRINT_KEY: "x"},
     {mo.SESSION_ID_KEY: True, mo.SESSION_FINGERPRINT_KEY: "x"},
     {mo.SESSION_ID_KEY: 2**64, mo.SESSION_FINGERPRINT_KEY: "x"},
     {mo.SESSION_ID_KEY: 1, mo.SESSION_FINGERPRINT_KEY: "\u00e9"}, {mo.SESSION_ID_KEY: 1}],
)  # fmt: skip
def test_odd_sessions_are_no_one(store, session: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    mo.add_moderator(store, "dan", "password-dan")
    assert mo.session_moderator(store, session) is None
