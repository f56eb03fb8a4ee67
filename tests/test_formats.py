"""Tests for training.formats: header detection and each format's row mapping (tests/test_loaders.py
reads whole files of each format; this covers the per-row rules and the detection edge cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spamguard.comment import TEXT_FIELDS
from training.formats import (
    CSV_FORMATS,
    EXPECTED,
    SMS_LINE,
    csv_format,
    scamspot_json_rows,
    scamspot_row,
    sms_row,
    wordpress_row,
    youtube_row,
)
from training.loaders import LoadError, load_file

# --- detection from the header ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        (["content"], "native"),
        (["id", "content", "label"], "native"),
        (["comment_content"], "wordpress"),
        (["comment_ID", "comment_content", "comment_approved"], "wordpress"),
        (["COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS"], "youtube"),
        (["COMMENT_ID", "CONTENT", "TAG"], "youtube"),
        (["number", "scam", "msg_length", "msg"], "scamspot"),
        # A record column wins over every other format's: a native file may carry any extra column.
        (["content", "comment_content"], "native"),
        (["content", "COMMENT_ID", "CONTENT", "CLASS"], "native"),
        # Column names are matched exactly, case included.
        (["Content"], None),
        (["comment_id", "content_text", "class"], None),
        # A YouTube-like file without its label column is no known format.
        (["COMMENT_ID", "AUTHOR", "DATE", "CONTENT"], None),
        (["scam", "message"], None),
        (["content;label"], None),
        ([], None),
    ],
)
def test_csv_format_from_the_header(header, expected):
    assert csv_format(header) == expected


def test_every_format_is_described_in_the_error_text():
    assert set(CSV_FORMATS) | {"sms"} <= set(EXPECTED)
    for name in TEXT_FIELDS:
        assert name in EXPECTED["native"]


@pytest.mark.parametrize(
    "line, matches",
    [("ham\tok", True), ("spam\tWIN", True), ("ham\t", True), ("hammer\tx", False), ("ham x", False),
     ("Ham\tok", False), ("SPAM\tx", False), (" ham\tok", False), ("content\tlabel", False)],
)  # fmt: skip
def test_sms_line(line, matches):
    assert bool(SMS_LINE.match(line)) is matches


# --- rows -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "approved, label",
    [("1", "ham"), (" 1 ", "ham"), ("spam", "spam"), ("SPAM", "spam"), ("0", None), ("trash", None),
     ("post-trashed", None), ("", None)],
)  # fmt: skip
def test_wordpress_labels(approved, label):
    assert wordpress_row({"comment_content": "x", "comment_approved": approved})["label"] == label


def test_wordpress_row_without_comment_approved_is_unlabelled():
    assert wordpress_row({"comment_content": "x"}) == {"content": "x", "label": None}


def test_wordpress_row_maps_only_known_columns():
    row = {
        "comment_ID": "7", "comment_post_ID": "3", "comment_author": "Ann", "comment_author_email": "a@b.org",
        "comment_author_url": "https://a.example", "comment_author_IP": "192.0.2.1", "comment_agent": "UA",
        "comment_date_gmt": "2024-01-02 10:00:00", "comment_date": "2024-01-02 11:00:00",
        "comment_type": "pingback", "comment_content": "hi", "comment_karma": "0", "user_id": "4",
        "comment_approved": "1", "comment_parent": "5",
    }  # fmt: skip
    assert wordpress_row(row) == {
        "id": "7", "post_id": "3", "author_name": "Ann", "author_email": "a@b.org",
        "author_url": "https://a.example", "author_ip": "192.0.2.1", "user_agent": "UA",
        "created_at": "2024-01-02 10:00:00", "comment_type": "pingback", "content": "hi",
        "parent_id": "5", "label": "ham",
    }  # fmt: skip


@pytest.mark.parametrize("parent", ["0", "", " ", " 0 "])
def test_wordpress_top_level_comments_have_no_parent(parent):
    assert "parent_id" not in wordpress_row({"comment_content": "x", "comment_parent": parent})


@pytest.mark.parametrize("date, kept", [("0000-00-00 00:00:00", False), ("2024-01-02 10:00:00", True)])
def test_wordpress_zero_date_is_unknown(date, kept):
    assert ("created_at" in wordpress_row({"comment_content": "x", "comment_date_gmt": date})) is kept


def test_youtube_row_class_and_tag_variants():
    full = {"COMMENT_ID": "z1", "AUTHOR": "Ann", "DATE": "2014-01-01", "CONTENT": "hi", "CLASS": "1"}
    assert youtube_row(full) == {
        "id": "z1", "author_name": "Ann", "created_at": "2014-01-01", "content": "hi", "label": "1",
    }  # fmt: skip
    assert youtube_row({"COMMENT_ID": "z2", "CONTENT": "yo", "TAG": "0"}) == {
        "id": "z2", "author_name": None, "created_at": None, "content": "yo", "label": "0",
    }  # fmt: skip
    assert youtube_row({"COMMENT_ID": "z3", "CONTENT": "x", "CLASS": "1", "TAG": "0"})["label"] == "1"


@pytest.mark.parametrize(
    "scam, expected",
    [("1", {"content": "m", "label": "1"}), ("0", {"content": "m", "label": "0"}), ("", None), ("  ", None)],
)
def test_scamspot_row(scam, expected):
    assert scamspot_row({"number": "1", "scam": scam, "msg_length": "1", "msg": "m"}) == expected


def test_scamspot_json_rows_keeps_scam_and_real_numbered_by_position():
    document = {
        "a": {"text": "dm me", "type": "SCAM", "account": "shop", "media": "m1"},
        "b": {"text": "??", "type": "unknown"},
        "c": {"text": "nice", "type": " real ", "account": "shop"},
    }
    assert scamspot_json_rows(document) == [
        ("entry", 1, {"id": "a", "content": "dm me", "label": "spam", "site": "shop", "post_id": "m1"}),
        ("entry", 3, {"id": "c", "content": "nice", "label": "ham", "site": "shop", "post_id": None}),
    ]


@pytest.mark.parametrize(
    "document",
    [{}, {"a": {"text": "x"}}, {"a": {"text": "x", "type": "scam"}, "b": "not an entry"}, {"a": [1, 2]}],
)
def test_scamspot_json_rows_refuses_other_documents(document):
    assert scamspot_json_rows(document) is None


@pytest.mark.parametrize(
    "cells, expected",
    [(["ham", "ok"], {"content": "ok", "label": "ham"}),
     (["spam", "a", "b"], {"content": "a\tb", "label": "spam"}),
     (["spam", ""], {"content": "", "label": "spam"}),
     (["ham"], None), (["Ham", "ok"], None), (["maybe", "ok"], None), ([], None)],
)  # fmt: skip
def test_sms_row(cells, expected):
    assert sms_row(cells) == expected


# --- detection in files: BOM, line endings, quoting, delimiters, encodings --------------------------


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_excel_youtube_export_with_bom_crlf_and_quoted_header(tmp_path):
    text = (
        '\ufeff"COMMENT_ID","AUTHOR","DATE","CONTENT","CLASS"\r\n'
        '"z1","Ann","2014-01-01T00:00:00","hi, there",1\r\n'
    )
    (c,) = load_file(write(tmp_path / "yt.csv", text.encode()))
    assert (c.id, c.author_name, c.content, c.label) == ("z1", "Ann", "hi, there", 1)


def test_wordpress_export_with_bom_and_crlf(tmp_path):
    text = '\ufeffcomment_ID,comment_content,comment_approved\r\n5,hello,SPAM\r\n6,"a, b",1\r\n7,x,0\r\n'
    comments = load_file(write(tmp_path / "wp.csv", text.encode()))
    assert [(c.id, c.content, c.label) for c in comments] == [
        ("5", "hello", 1),
        ("6", "a, b", 0),
        ("7", "x", None),
    ]


def test_sms_file_with_bom_and_crlf(tmp_path):
    comments = load_file(write(tmp_path / "sms.txt", "\ufeffspam\tWIN now\r\nham\tok\r\n".encode()))
    assert [(c.content, c.label) for c in comments] == [("WIN now", 1), ("ok", 0)]


def test_header_names_are_stripped(tmp_path):
    (c,) = load_file(write(tmp_path / "n.csv", b" content , label \nhi,spam\n"))
    assert (c.content, c.label) == ("hi", 1)


def test_tab_separated_without_a_tsv_extension(tmp_path):
    (c,) = load_file(write(tmp_path / "n.txt", b"content\tlabel\nhi, there\tham\n"))
    assert (c.content, c.label) == ("hi, there", 0)


def test_wordpress_columns_in_a_tsv(tmp_path):
    (c,) = load_file(write(tmp_path / "wp.tsv", b"comment_content\tcomment_approved\nhi\tspam\n"))
    assert (c.content, c.label) == ("hi", 1)


def test_scamspot_csv_labels(tmp_path):
    data = b"number,scam,msg_length,msg\n0,1,5,dm me\n0,,2,no\n1,0,4,nice\n"
    comments = load_file(write(tmp_path / "ig.csv", data))
    assert [(c.id, c.content, c.label) for c in comments] == [("ig:2", "dm me", 1), ("ig:4", "nice", 0)]


def test_json_document_with_bom(tmp_path):
    comments = load_file(write(tmp_path / "x.json", '\ufeff[{"content": "a", "label": "spam"}]'.encode()))
    assert [(c.content, c.label) for c in comments] == [("a", 1)]


def test_json_lines_with_bom_in_a_json_file(tmp_path):
    data = '\ufeff{"content": "a"}\n{"content": "b"}\n'.encode()
    assert [c.content for c in load_file(write(tmp_path / "x.json", data))] == ["a", "b"]


def test_utf16_without_bom_is_refused_as_binary(tmp_path):
    path = write(tmp_path / "x.jsonl", '{"content": "x"}\n'.encode("utf-16-le"))
    with pytest.raises(LoadError, match=r"x\.jsonl: the file is binary, not UTF-8"):
        load_file(path)


@pytest.mark.parametrize(
    "name, data, found",
    [
        ("semicolons.csv", b"content;label\nhi;1\n", "first line: content;label"),
        ("unknown.tsv", b"text\tis_spam\nhi\t1\n", "first line: text\tis_spam"),
        ("yt-no-class.csv", b"COMMENT_ID,AUTHOR,DATE,CONTENT\nz,a,d,hi\n", "first line: COMMENT_ID,AUTHOR"),
        ("lower.csv", b"Content,Label\nhi,1\n", "first line: Content,Label"),
    ],
)
def test_no_known_shape_names_the_file_and_the_expected_columns(tmp_path, name, data, found):
    path = write(tmp_path / name, data)
    with pytest.raises(LoadError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a known comment file") and found in message
    for fmt, columns in EXPECTED.items():
        assert f"{fmt}: {columns}" in message
