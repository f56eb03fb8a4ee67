"""Tests for spamguard.comment: the one record parser (contract section 1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from spamguard.comment import (
    MAX_CONTENT_CHARS,
    MAX_FIELD_CHARS,
    MAX_KEY_BYTES,
    Comment,
    RecordError,
    parse_label,
    parse_record,
)

FULL = {
    "id": "wp-123",
    "site": "blog.example.org",
    "content": "<p>Nice post</p>",
    "author_name": "Ann Lee",
    "author_email": "Ann.Lee@Example.ORG",
    "author_url": "https://ann.example.net/about",
    "author_ip": "203.0.113.9",
    "user_agent": "Mozilla/5.0",
    "referrer": "https://blog.example.org/p/1",
    "permalink": "https://blog.example.org/p/1#c5",
    "post_id": "p1",
    "parent_id": "c4",
    "comment_type": "Reply",
    "language": "EN",
    "created_at": "2024-03-01T10:20:30+02:00",
    "honeypot": "x",
    "time_on_page_ms": 4200,
    "label": "spam",
}


def test_every_field_is_read():
    c = parse_record(FULL, source="file.jsonl")
    assert c == Comment(
        content="<p>Nice post</p>",
        id="wp-123",
        site="blog.example.org",
        author_name="Ann Lee",
        author_email="ann.lee@example.org",
        author_url="https://ann.example.net/about",
        author_ip="203.0.113.9",
        user_agent="Mozilla/5.0",
        referrer="https://blog.example.org/p/1",
        permalink="https://blog.example.org/p/1#c5",
        post_id="p1",
        parent_id="c4",
        comment_type="reply",
        language="en",
        created_at=datetime(2024, 3, 1, 8, 20, 30, tzinfo=UTC),
        honeypot="x",
        time_on_page_ms=4200,
        label=1,
        source="file.jsonl",
    )


def test_only_content_is_required():
    c = parse_record({"content": "hello"})
    assert c.content == "hello"
    assert c.comment_type == "comment"
    assert all(getattr(c, name) is None for name in FULL if name not in ("content", "comment_type"))


def test_to_record_round_trips():
    c = parse_record(FULL)
    record = c.to_record()
    assert record["label"] == "spam" and record["created_at"] == "2024-03-01T08:20:30+00:00"
    assert json.loads(json.dumps(record)) == record
    assert parse_record(record) == c


def test_unknown_fields_are_ignored():
    assert parse_record({"content": "x", "karma": 7, "extra": {"a": [1]}}) == Comment("x")


@pytest.mark.parametrize("raw", [None, "content", ["content"], 3])
def test_a_record_must_be_an_object(raw):
    with pytest.raises(RecordError, match="JSON object") as info:
        parse_record(raw)
    assert info.value.field is None


def test_content_is_required():
    with pytest.raises(RecordError, match="'content' is required") as info:
        parse_record({"author_name": "Ann"})
    assert info.value.field == "content"


def test_content_too_long():
    with pytest.raises(RecordError, match="longer than") as info:
        parse_record({"content": "x" * (MAX_CONTENT_CHARS + 1)})
    assert info.value.field == "content"
    assert len(parse_record({"content": "x" * MAX_CONTENT_CHARS}).content) == MAX_CONTENT_CHARS


@pytest.mark.parametrize(
    "field, value",
    [
        ("content", 5),
        ("content", ["a"]),
        ("content", True),
        ("author_name", 5),
        ("author_email", {"a": 1}),
        ("author_url", ["http://x.com"]),
        ("author_ip", 3232235777),
        ("site", 1.5),
        ("id", True),
        ("id", ["1"]),
        ("comment_type", False),
        ("created_at", 1700000000),
        ("honeypot", 0),
        ("time_on_page_ms", ["5"]),
        ("time_on_page_ms", {"ms": 5}),
    ],
)
def test_wrong_types_name_the_field(field, value):
    raw = {"content": "x", field: value}
    with pytest.raises(RecordError) as info:
        parse_record(raw)
    assert info.value.field == field
    assert field in info.value.message


@pytest.mark.parametrize("field", ["id", "post_id", "parent_id"])
@pytest.mark.parametrize("value, expected", [(123, "123"), (0, "0"), (10**12, "1000000000000")])
def test_numeric_ids_become_strings(field, value, expected):
    assert getattr(parse_record({"content": "x", field: value}), field) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("999.1.1.1", None),
        ("1.2.3", None),
        ("localhost", None),
        ("203.0.113.9:8080", None),
        ("", None),
    ],
)
def test_ip(value, expected):
    assert parse_record({"content": "x", "author_ip": value}).author_ip == expected


def test_ip_alias():
    assert parse_record({"content": "x", "ip": "198.51.100.4"}).author_ip == "198.51.100.4"
    both = parse_record({"content": "x", "ip": "198.51.100.4", "author_ip": "203.0.113.9"})
    assert both.author_ip == "203.0.113.9"
    assert parse_record({"content": "x", "ip": "nonsense"}).author_ip is None
    with pytest.raises(RecordError) as info:
        parse_record({"content": "x", "ip": 5})
    assert info.value.field == "author_ip"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("https://ann.example.net/x", "https://ann.example.net/x"),
        ("ann.example.net", "http://ann.example.net"),
        ("http://localhost/", None),
        ("not a url", None),
        ("http://[::1", None),
        ("mailto:", None),
        ("http://", None),
    ],
)
def test_url(value, expected):
    assert parse_record({"content": "x", "author_url": value}).author_url == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Ann@Example.COM", "ann@example.com"),
        (" bo@mail.example.co.uk ", "bo@mail.example.co.uk"),
        ("nobody", None),
        ("a@b", None),
        ("a b@example.com", None),
        ("<a@example.com>", None),
        ("a@@example.com", None),
        ("@example.com", None),
        # Internationalised domains are kept in their ASCII form, the one the lists and history key on.
        ("Bob@Bücher.Example", "bob@xn--bcher-kva.example"),
        ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v"),
        ('"John Doe"@example.com', '"john doe"@example.com'),
        ('"a"b"@example.com', None),
        ("a@" + "ü" * 70 + ".com", None),
    ],
)
def test_email(value, expected):
    assert parse_record({"content": "x", "author_email": value}).author_email == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-01-08T07:27:11Z", datetime(2024, 1, 8, 7, 27, 11, tzinfo=UTC)),
        ("2024-01-08T07:27:11z", datetime(2024, 1, 8, 7, 27, 11, tzinfo=UTC)),
        ("2024-01-08T09:27:11+02:00", datetime(2024, 1, 8, 7, 27, 11, tzinfo=UTC)),
        ("2014-07-21T04:24:24.585000", datetime(2014, 7, 21, 4, 24, 24, 585000, tzinfo=UTC)),
        ("2024-01-08", datetime(2024, 1, 8, tzinfo=UTC)),
        ("yesterday", None),
        ("2024-13-01T00:00:00Z", None),
        ("9" * 100, None),
        # Valid ISO times whose conversion to UTC leaves datetime's range.
        ("0001-01-01T00:00:00+01:00", None),
        ("9999-12-31T23:59:59-01:00", None),
    ],
)
def test_created_at(value, expected):
    assert parse_record({"content": "x", "created_at": value}).created_at == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("spam", 1), ("SPAM", 1), (" spam ", 1), ("1", 1), ("true", 1), ("True", 1),
        (1, 1), (1.0, 1), (True, 1),
        ("ham", 0), ("Ham", 0), ("0", 0), ("false", 0), (0, 0), (0.0, 0), (False, 0),
        (None, None), ("maybe", None), (2, None), ("", None), (float("nan"), None), ([1], None),
    ],
)  # fmt: skip
def test_labels(value, expected):
    assert parse_label(value) == expected
    assert parse_record({"content": "x", "label": value}).label == expected


@pytest.mark.parametrize(
    "value, expected",
    [(4200, 4200), ("4200", 4200), (" 15 ", 15), (1500.7, 1500), (0, 0), (-5, None), (10**11, None),
     ("soon", None), (True, None), (float("nan"), None), (float("inf"), None), (None, None)],
)  # fmt: skip
def test_time_on_page(value, expected):
    assert parse_record({"content": "x", "time_on_page_ms": value}).time_on_page_ms == expected


@pytest.mark.parametrize("field", ["author_name", "author_email", "user_agent", "honeypot", "language"])
def test_blank_nul_and_overlong_fields_are_unknown(field):
    for value in ("", "   ", "a\x00b", "a" * (MAX_FIELD_CHARS + 1)):
        assert getattr(parse_record({"content": "x", field: value}), field) is None


@pytest.mark.parametrize("field", ["id", "site"])
def test_ids_with_nul_or_overlong_are_errors(field):
    for value in ("a\x00b", "a" * (MAX_FIELD_CHARS + 1)):
        with pytest.raises(RecordError) as info:
            parse_record({"content": "x", field: value})
        assert info.value.field == field


def test_text_fields_are_stripped_and_types_lowered():
    c = parse_record(
        {"content": "  keep  ", "author_name": "  Ann ", "comment_type": " TrackBack ", "language": "DE"}
    )
    assert (c.content, c.author_name, c.comment_type, c.language) == ("  keep  ", "Ann", "trackback", "de")
    assert parse_record({"content": "x", "comment_type": "x" * 100}).comment_type == "x" * 32
    assert parse_record({"content": "x", "comment_type": ""}).comment_type == "comment"


def test_lone_surrogates_from_json_are_replaced():
    raw = json.loads('{"content": "hi \\ud800 there", "author_name": "A\\udfffnn"}')
    c = parse_record(raw)
    assert c.content == "hi \ufffd there" and c.author_name == "A\ufffdnn"
    c.content.encode("utf-8")  # every encoder accepts it now


@pytest.mark.parametrize("field", ["id", "site"])
def test_ids_are_bounded_in_utf8_bytes(field):
    """An index entry holds bytes: 2,000 CJK characters are under 2,048 characters but 6,000 bytes."""
    for value in ("a" * MAX_KEY_BYTES, "é" * (MAX_KEY_BYTES // 2), "漢" * (MAX_KEY_BYTES // 3)):
        assert getattr(parse_record({"content": "x", field: value}), field) == value
    for value in ("a" * (MAX_KEY_BYTES + 1), "é" * (MAX_KEY_BYTES // 2 + 1), "漢" * 2000):
        with pytest.raises(RecordError, match="bytes in UTF-8") as info:
            parse_record({"content": "x", field: value})
        assert info.value.field == field
