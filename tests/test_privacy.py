"""SPAMGUARD_PERSONAL_FIELDS: IP, e-mail and user agent stored as kept, truncated or keyed-hashed."""

from __future__ import annotations

import pytest

from spamguard.keys import create_key
from spamguard.privacy import Protector, truncate_email, truncate_ip

RECORD = {
    "id": "p1",
    "content": "Nice post, thanks!",
    "author_name": "Ann",
    "author_email": "Ann.Smith@Example.ORG",
    "author_ip": "203.0.113.77",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0",
}


@pytest.mark.parametrize(
    "value,expected",
    [("203.0.113.77", "203.0.113.0/24"), ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
     ("::ffff:198.51.100.9", "198.51.100.0/24"), (" 10.1.2.3 ", "10.1.2.0/24"), ("not an ip", ""),
     ("", "")],
)  # fmt: skip
def test_truncate_ip(value, expected) -> None:  # type: ignore[no-untyped-def]
    assert truncate_ip(value) == expected


def test_truncate_email() -> None:
    assert truncate_email("Ann.Smith@Example.ORG") == "@example.org"
    assert truncate_email("a@b@c.example") == "@c.example"
    assert truncate_email("no at sign") == ""


def test_hash_is_keyed_and_stable() -> None:
    a, b = Protector("hash", b"k1"), Protector("hash", b"k2")
    assert a.apply(RECORD)["author_ip"] == a.apply({"author_ip": " 203.0.113.77"})["author_ip"]
    assert (
        a.apply(RECORD)["author_email"] == a.apply({"author_email": "ann.smith@example.org"})["author_email"]
    )
    assert a.apply(RECORD)["author_ip"] != b.apply(RECORD)["author_ip"], "another key, another hash"
    with pytest.raises(ValueError):
        Protector("hash")
    with pytest.raises(ValueError):
        Protector("scramble", b"k")


@pytest.mark.parametrize("mode", ["keep", "truncate", "hash"])
def test_stored_record_follows_the_setting(make_app, mode) -> None:  # type: ignore[no-untyped-def]
    app = make_app(personal_fields=mode)
    st = app.extensions["spamguard"]
    key, _ = create_key(st.store, ["blog"])
    r = app.test_client().post("/score", json=RECORD, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    stored = st.store.get_comment("blog", "p1").record
    text = st.store.execute("SELECT record FROM comments").fetchone()[0]
    assert stored["content"] == RECORD["content"] and stored["author_name"] == "Ann"
    if mode == "keep":
        assert stored["author_ip"] == RECORD["author_ip"]
        assert stored["author_email"] == RECORD["author_email"].lower()  # the parser lowercases it
        return
    for secret in ("203.0.113.77", "Ann.Smith", "ann.smith", "Linux x86_64"):
        assert secret not in text
    if mode == "truncate":
        assert stored["author_ip"] == "203.0.113.0/24" and stored["author_email"] == "@example.org"
        assert stored["user_agent"] == "Mozilla/5.0"
    else:
        key_file = st.settings.home / "privacy_key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert stored["author_ip"] == st.privacy.hash("203.0.113.77")
        assert all(stored[f].startswith("hmac-sha256:") for f in ("author_ip", "author_email", "user_agent"))


def test_spooled_records_are_protected_too(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(personal_fields="truncate")
    st = app.extensions["spamguard"]
    key, _ = create_key(st.store, ["blog"])
    st.spool.mark_down(RuntimeError("outage"))
    app.test_client().post("/score", json=RECORD, headers={"Authorization": f"Bearer {key}"})
    text = "".join(p.read_text() for p in st.spool.files())
    assert "203.0.113.0/24" in text and "203.0.113.77" not in text


def test_bad_setting_names_the_variable() -> None:
    from spamguard.settings import SettingsError, load_settings

    assert load_settings({"SPAMGUARD_PERSONAL_FIELDS": "Hash"}).personal_fields == "hash"
    with pytest.raises(SettingsError, match="SPAMGUARD_PERSONAL_FIELDS"):
        load_settings({"SPAMGUARD_PERSONAL_FIELDS": "encrypt"})


@pytest.mark.parametrize("path", ["/1.1/submit-spam", "/1.1/submit-ham"])
def test_akismet_feedback_on_an_unknown_comment_is_protected(make_app, path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(personal_fields="truncate")
    st = app.extensions["spamguard"]
    key, _ = create_key(st.store, ["blog.example.org"])
    form = {"api_key": key, "blog": "https://blog.example.org/", "user_ip": RECORD["author_ip"],
            "user_agent": RECORD["user_agent"], "comment_author_email": RECORD["author_email"],
            "comment_content": "Unseen before: buy followers at example.net"}  # fmt: skip
    assert app.test_client().post(path, data=form).status_code == 200
    text = st.store.execute("SELECT record FROM feedback").fetchone()[0]
    assert "203.0.113.0/24" in text and "@example.org" in text
    for secret in ("203.0.113.77", "Ann.Smith", "ann.smith", "Linux x86_64"):
        assert secret not in text
