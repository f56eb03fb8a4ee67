"""Tests for training.loaders: every shared dataset, small files of each format, and the errors."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spamguard.cli import main
from training import loaders
from training.loaders import LoadError, data_files, load_file, load_paths

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
YOUTUBE = DATASETS / "youtube-spam-collection"
PILOT = DATASETS / "tubespam-pilot-2014"
SMS = DATASETS / "sms-spam-collection-v1" / "SMSSpamCollection"
INSTAGRAM = DATASETS / "instagram-scamspot-2023"


def classes(comments) -> tuple[int, int]:
    """Return (spam, ham) counts."""
    counts = Counter(c.label for c in comments)
    assert set(counts) <= {0, 1}
    return counts[1], counts[0]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the shared datasets (counts from ../shared/datasets/README.md) -----------------------------------

datasets = pytest.mark.datasets


@datasets
@pytest.mark.parametrize(
    "name, spam, ham",
    [
        ("Youtube01-Psy.csv", 175, 175),
        ("Youtube02-KatyPerry.csv", 175, 175),
        ("Youtube03-LMFAO.csv", 236, 202),
        ("Youtube04-Eminem.csv", 245, 203),
        ("Youtube05-Shakira.csv", 174, 196),
    ],
)
def test_youtube_files(name, spam, ham):
    comments = load_file(YOUTUBE / name)
    assert classes(comments) == (spam, ham)
    assert {c.source for c in comments} == {name}
    assert all(c.id and c.author_name for c in comments)


@datasets
def test_youtube_collection():
    comments = load_paths([YOUTUBE])
    assert len(comments) == 1956
    assert classes(comments) == (1005, 951)
    first = comments[0]
    assert first.source == "Youtube01-Psy.csv"
    assert first.id == "LZQPQhLyRh80UYxNuaDWhIGQYNQ96IuCg-AYWqNPjpU"
    assert first.author_name == "Julius NM"
    assert first.created_at == datetime(2013, 11, 7, 6, 20, 48, tzinfo=UTC)
    # The trailing U+FEFF is kept: removing it is normalisation's job, not the loader's.
    assert sum(c.content.endswith("\ufeff") for c in comments) == 1548
    eminem_spam = [c for c in comments if c.source == "Youtube04-Eminem.csv" and c.label == 1]
    assert len(eminem_spam) == 245 and all(c.created_at is None for c in eminem_spam)


@datasets
def test_sms_collection_is_read_without_quoting():
    comments = load_file(SMS)
    assert len(comments) == 5574
    assert classes(comments) == (747, 4827)
    assert sum('"' in c.content for c in comments) == 145
    assert comments[0].id == "SMSSpamCollection:1" and comments[-1].id == "SMSSpamCollection:5574"
    assert not any("\t" in c.content or "\n" in c.content for c in comments)


@datasets
@pytest.mark.parametrize(
    "name, spam, ham",
    [
        ("Avengers_NPoHPNeU9fc.csv", 40, 160),
        ("KatyPerry_CevxZvSJLk8.csv", 80, 120),
        ("PewDiePie_gRyPjRrjS34.csv", 100, 100),
        ("PlayStation4_x7QhUL8NUK4.csv", 20, 180),
        ("Psy_9bZkp7q19f0.csv", 60, 140),
    ],
)
def test_tubespam_pilot_files(name, spam, ham):
    comments = load_file(PILOT / name)
    assert classes(comments) == (spam, ham)
    assert all(c.id and c.author_name is None and c.created_at is None for c in comments)


@datasets
def test_tubespam_pilot_directory_skips_its_markdown():
    comments = load_paths([PILOT])
    assert len(comments) == 1000
    assert classes(comments) == (300, 700)
    assert "InfoVideos.md" not in {c.source for c in comments}


@datasets
@pytest.mark.parametrize(
    "name, spam, ham",
    [("comments-rated.csv", 1150, 2294), ("comments-rated-plus-reported.csv", 1288, 2298)],
)
def test_instagram_csv(name, spam, ham):
    comments = load_file(INSTAGRAM / name)
    assert classes(comments) == (spam, ham)
    # `number` repeats in the plus-reported file, so ids come from the line instead.
    assert len({c.id for c in comments}) == len(comments)
    assert comments[0].id == f"{Path(name).stem}:2"


@datasets
def test_instagram_json_keeps_labelled_entries_only():
    comments = load_file(INSTAGRAM / "comments_extracted.json")
    assert len(comments) == 3444
    assert classes(comments) == (1150, 2294)
    first = comments[0]
    assert first.id == "18074837038342775"
    assert first.site == "bitcoinmagazine" and first.post_id == "3046712443326415516"
    assert first.label == 1 and "make money online, get in touch" in first.content


@datasets
def test_all_shared_datasets_at_once():
    comments = load_paths([DATASETS])
    by_source = Counter(c.source for c in comments)
    assert len(comments) == 1956 + 5574 + 1000 + 3444 + 3586 + 3444
    assert by_source["youtube-spam-collection/Youtube01-Psy.csv"] == 350
    assert by_source["sms-spam-collection-v1/SMSSpamCollection"] == 5574
    # README.md, the SMS readme (ISO-8859-1), LICENSE and InfoVideos.md are documentation.
    assert len(by_source) == 5 + 1 + 5 + 3


# --- native files -----------------------------------------------------------------------------------


def test_jsonl_with_every_field_and_label_spellings(tmp_path):
    full = {
        "id": "c1",
        "site": "blog.example.org",
        "content": "<p>Nice <a href='https://x.example'>post</a></p>",
        "author_name": "Ann",
        "author_email": "Ann@Example.org",
        "author_url": "ann.example.org",
        "ip": "2001:db8::1",
        "user_agent": "Mozilla/5.0",
        "referrer": "https://blog.example.org/",
        "permalink": "https://blog.example.org/p/1",
        "post_id": 7,
        "parent_id": "c0",
        "comment_type": "Reply",
        "language": "en",
        "created_at": "2024-03-01T10:00:00Z",
        "honeypot": "",
        "time_on_page_ms": 31000,
        "label": "ham",
        "unknown_field": [1, 2],
    }
    lines = [json.dumps(full), ""]
    lines += [
        json.dumps({"content": f"text {v!r}", "label": v}) for v in ("1", "0", "true", "false", 1, 0, True)
    ]
    lines += [json.dumps({"content": "no label"}), json.dumps({"content": "odd label", "label": "maybe"})]
    path = write(tmp_path / "native.jsonl", "\ufeff" + "\n".join(lines) + "\n")
    comments = load_file(path)
    first = comments[0]
    assert first.id == "c1" and first.site == "blog.example.org" and first.author_ip == "2001:db8::1"
    assert first.author_email == "ann@example.org" and first.author_url == "http://ann.example.org"
    assert first.post_id == "7" and first.comment_type == "reply" and first.time_on_page_ms == 31000
    assert first.created_at == datetime(2024, 3, 1, 10, tzinfo=UTC) and first.honeypot is None
    assert first.label == 0 and first.source == "native.jsonl"
    assert [c.label for c in comments[1:]] == [1, 0, 1, 0, 1, 0, 1, None, None]
    # Missing ids are made from the file stem and the line number (line 2 is blank).
    assert [c.id for c in comments[1:3]] == ["native:3", "native:4"]


def test_bad_optional_values_become_unknown(tmp_path):
    record = {
        "content": "hello",
        "author_email": "not an email",
        "author_url": "no host",
        "author_ip": "999.1.1.1",
        "created_at": "yesterday",
        "time_on_page_ms": "soon",
    }
    (comment,) = load_file(write(tmp_path / "a.jsonl", json.dumps(record)))
    assert comment.author_email is comment.author_url is comment.author_ip is None
    assert comment.created_at is None and comment.time_on_page_ms is None


@pytest.mark.parametrize(
    "text, count",
    [
        ('[{"content": "a", "label": "spam"}, {"content": "b", "label": 0}]', 2),
        ('{\n  "content": "one record",\n  "label": "ham"\n}\n', 1),
        ('{"content": "a"}\n{"content": "b"}\n', 2),
        ("[]", 0),
    ],
)
def test_json_array_object_or_lines(tmp_path, text, count):
    comments = load_file(write(tmp_path / "x.json", text))
    assert len(comments) == count
    assert [c.id for c in comments] == [f"x:{n}" for n in range(1, count + 1)]


def test_native_csv_and_tsv(tmp_path):
    csv_text = (
        'id,content,author_email,time_on_page_ms,label\n,"multi\nline, with comma",,,spam\nk2,b,x@y.org,50,\n'
    )
    comments = load_file(write(tmp_path / "n.csv", csv_text))
    assert [(c.id, c.content, c.label) for c in comments] == [
        ("n:2", "multi\nline, with comma", 1),
        ("k2", "b", None),
    ]
    assert comments[0].author_email is None and comments[0].time_on_page_ms is None
    assert comments[1].time_on_page_ms == 50
    tsv = load_file(write(tmp_path / "n.tsv", "content\tlabel\tsite\nhi, there\tfalse\tforum.example.net\n"))
    assert [(c.content, c.label, c.site) for c in tsv] == [("hi, there", 0, "forum.example.net")]


WORDPRESS_HEADER = (
    "comment_ID,comment_post_ID,comment_author,comment_author_email,comment_author_url,comment_author_IP,"
    "comment_date,comment_date_gmt,comment_content,comment_karma,comment_approved,comment_agent,comment_type,"
    "comment_parent,user_id\n"
)


def test_wordpress_export(tmp_path):
    rows = [
        "11,5,Ann,ann@example.org,https://ann.example.org,192.0.2.1,2024-01-02 11:00:00,2024-01-02 10:00:00,"
        '"Thanks, this worked",0,1,Mozilla/5.0,,0,0',
        "12,5,Cheap Pills,x@spam.test,http://pills.test,203.0.113.9,2024-01-03 00:00:00,2024-01-02 23:00:00,"
        '"<a href=""http://pills.test"">pills</a>",0,spam,curl/8,,11,0',
        "13,5,Bob,,,198.51.100.2,2024-01-04 00:00:00,0000-00-00 00:00:00,pending one,0,0,UA,,0,0",
        "14,6,Eve,,,::1,2024-01-05 00:00:00,2024-01-05 00:00:00,trashed one,0,trash,UA,comment,0,0",
        "15,6,Other Blog,,http://other.example,192.0.2.7,2024-01-06 00:00:00,2024-01-06 00:00:00,"
        "[...] linked here [...],0,1,WordPress/6.4,pingback,0,0",
    ]
    comments = load_file(write(tmp_path / "wp_comments.csv", WORDPRESS_HEADER + "\n".join(rows) + "\n"))
    assert [c.label for c in comments] == [0, 1, None, None, 0]
    ann, spam, pending, trashed, ping = comments
    assert (ann.id, ann.post_id, ann.parent_id, ann.comment_type) == ("11", "5", None, "comment")
    assert ann.author_name == "Ann" and ann.author_email == "ann@example.org" and ann.author_ip == "192.0.2.1"
    assert ann.user_agent == "Mozilla/5.0" and ann.content == "Thanks, this worked"
    assert ann.created_at == datetime(2024, 1, 2, 10, tzinfo=UTC)
    assert spam.parent_id == "11" and spam.content == '<a href="http://pills.test">pills</a>'
    assert pending.created_at is None and pending.author_email is None
    assert trashed.comment_type == "comment" and ping.comment_type == "pingback"


def test_youtube_variants(tmp_path):
    full = write(
        tmp_path / "yt.csv",
        'COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\nz1,Ann,2014-07-21T04:24:24.585000,"hi",0\n',
    )
    (c,) = load_file(full)
    assert (c.id, c.author_name, c.label, c.created_at.microsecond) == ("z1", "Ann", 0, 585000)
    tag = write(tmp_path / "pilot.csv", '"COMMENT_ID","CONTENT","TAG"\n"z2","check my channel",1\n')
    (c,) = load_file(tag)
    assert (c.id, c.content, c.label, c.author_name) == ("z2", "check my channel", 1, None)


def test_sms_format_is_detected_by_content(tmp_path):
    text = 'ham\tSee you at "the place\nspam\tWIN a "prize" now\nham\tok\n'
    comments = load_file(write(tmp_path / "messages", text))
    assert [(c.content, c.label) for c in comments] == [
        ('See you at "the place', 0),
        ('WIN a "prize" now', 1),
        ("ok", 0),
    ]
    assert [c.id for c in comments] == ["messages:1", "messages:2", "messages:3"]


def test_directory_is_read_recursively_sorted_and_skips_non_data(tmp_path):
    root = tmp_path / "corpus"
    write(root / "b.jsonl", '{"content": "b", "label": "spam"}\n')
    write(root / "a" / "z.jsonl", '{"content": "az", "label": "ham"}\n')
    write(root / "a" / "deep" / "y.csv", "content,label\nady,1\n")
    write(root / "README.md", "# corpus\n")
    write(root / "LICENSE", "MIT\n")
    write(root / "a" / "readme", "notes\n")
    write(root / ".hidden.jsonl", "not json\n")
    write(root / ".git" / "x.jsonl", "not json\n")
    assert [p.relative_to(root).as_posix() for p in data_files(root)] == [
        "a/deep/y.csv",
        "a/z.jsonl",
        "b.jsonl",
    ]
    single = write(tmp_path / "single.jsonl", '{"content": "s"}\n')
    comments = load_paths([str(root), single])
    assert [(c.source, c.content) for c in comments] == [
        ("a/deep/y.csv", "ady"),
        ("a/z.jsonl", "az"),
        ("b.jsonl", "b"),
        ("single.jsonl", "s"),
    ]
    assert [c.id for c in comments] == ["y:2", "z:1", "b:1", "single:1"]


# --- errors -----------------------------------------------------------------------------------------


def load_error(path: Path) -> str:
    with pytest.raises(LoadError) as info:
        load_file(path)
    return str(info.value)


def test_unknown_columns_name_the_file_and_every_expected_format(tmp_path):
    path = write(tmp_path / "mystery.csv", "text,is_spam\nhello,1\n")
    message = load_error(path)
    assert str(path) in message and "first line: text,is_spam" in message
    for expected in (
        "content",
        "comment_content, comment_author",
        "COMMENT_ID, AUTHOR, DATE, CONTENT, CLASS",
    ):
        assert expected in message
    assert "ham<TAB>text" in message and "number, scam, msg_length, msg" in message
    assert issubclass(LoadError, ValueError)


def test_unknown_json_shape(tmp_path):
    message = load_error(write(tmp_path / "x.json", '{"comments": 3}'))
    assert "x.json" in message and "a JSON dict of another shape" in message and "COMMENT_ID" in message


@pytest.mark.parametrize("name", ["notes.csv", "notes.txt", "notes"])
def test_text_that_is_no_csv_lists_the_formats(tmp_path, name):
    message = load_error(write(tmp_path / name, 'Some "quoted" words, and more\nprose\n'))
    assert f"{name}: not a known comment file" in message and "comment_content" in message


def test_json_lines_in_a_txt_file(tmp_path):
    assert [c.content for c in load_file(write(tmp_path / "x.txt", '{"content": "a"}\n'))] == ["a"]


def test_minified_scamspot_json(tmp_path):
    entries = {"1": {"text": "dm @x", "type": "scam"}, "2": {"text": "ok", "type": "unknown"}}
    (c,) = load_file(write(tmp_path / "ig.json", json.dumps(entries)))
    assert (c.id, c.label, c.site) == ("1", 1, None)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("content,label\ncaf\u00e9,ham\n".encode("latin-1"))
    message = load_error(path)
    assert "latin1.csv" in message and "line 2 is not valid UTF-8" in message and "0xe9" in message
    path = tmp_path / "latin1.json"
    path.write_bytes('[\n{"content": "caf\u00e9"}]'.encode("latin-1"))
    assert "line 2 is not valid UTF-8" in load_error(path)


@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    assert load_error(path) == f"{path}: the file is empty"


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (gzip.compress(b'{"content": "x"}\n'), "compressed"),
        ('{"content": "x"}\n'.encode("utf-16"), "UTF-16"),
    ],
)
def test_binary_files(tmp_path, data, words):
    path = tmp_path / "data.jsonl"
    path.write_bytes(data)
    assert words in load_error(path)


def test_huge_line(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_LINE_BYTES", 1000)
    path = write(tmp_path / "big.jsonl", '{"content": "ok"}\n{"content": "' + "x" * 5000 + '"}\n')
    assert "line 2 is longer than 1,000 bytes" in load_error(path)


def test_field_longer_than_the_default_csv_limit_is_read(tmp_path):
    (c,) = load_file(write(tmp_path / "long.csv", f'content\n"{"word " * 40_000}"\n'))
    assert len(c.content) == 200_000


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("a.jsonl", '{"content": "ok"}\n{"content": 5}\n', "a.jsonl: line 2: 'content' must be a string"),
        ("b.jsonl", '{"content": "ok"}\n{"content": \n', "b.jsonl: line 2 is not a JSON object"),
        ("c.jsonl", '{"content": "ok"}\n["x"]\n', "c.jsonl: line 2: a comment record must be a JSON object"),
        ("d.json", '[{"content": "ok"}, {"author_name": "x"}]', "d.json: record 2: 'content' is required"),
        ("e.json", '[{"content": "ok"},\n oops]', "e.json: line 2: not valid JSON"),
        ("f.csv", "content,label\nok,1\ntoo,many,fields\n", "f.csv: line 3 has 3 fields, the header has 2"),
        ("g.csv", 'content,label\n"unterminated,1\n', "g.csv: line 2: not valid CSV"),
        ("h.csv", "id,content\nx,ok\n" + "y" * 3000 + ",ok\n", "h.csv: line 3: 'id' must be "),
        ("sms", "ham\tok\nspam\tok\nnot a label\n", "sms: line 3 is not 'ham<TAB>text'"),
    ],
)
def test_bad_rows_name_the_file_and_line(tmp_path, name, text, expected):
    path = write(tmp_path / name, text)
    assert load_error(path).startswith(f"{tmp_path}/{expected}")


# Text json.loads stops on without a JSONDecodeError: the HTTP API answers 400 to the same bodies.
BIG_INT = "9" * 5000
DEEP = "[" * 100_000 + "]" * 100_000
TOO_DEEP = "arrays or objects nested too deeply"
TOO_LONG = "a number with more than 4,300 digits"


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("a.jsonl", f'{{"content": "ok"}}\n{{"content": "hi", "time_on_page_ms": {BIG_INT}}}\n',
         f"a.jsonl: line 2 is not a JSON object ({TOO_LONG}); fix or remove it"),
        ("b.jsonl", f'{{"content": "ok"}}\n\n{{"content": "hi", "x": {DEEP}}}\n',
         f"b.jsonl: line 3 is not a JSON object ({TOO_DEEP}); fix or remove it"),
        ("c.ndjson", f"{DEEP}\n", f"c.ndjson: line 1 is not a JSON object ({TOO_DEEP}); fix or remove it"),
        ("d.json", f'[{{"content": "ok"}},\n  {{"content": "hi", "time_on_page_ms": {BIG_INT}}}]',
         f"d.json: record 2, line 2: not valid JSON ({TOO_LONG}); fix or remove that record"),
        ("e.json", f'[\n {{"content": "ok"}} ,\n\n {{"content": "hi", "x": {DEEP}}}\n]\n',
         f"e.json: record 2, line 4: not valid JSON ({TOO_DEEP}); fix or remove that record"),
        ("f.json", f'{{"content": "hi",\n "label": {DEEP}}}',
         f"f.json: line 2: not valid JSON ({TOO_DEEP}); fix or remove that record"),
        ("g.json", f'{{"1": {{"text": "a", "type": "scam"}},\n "2": {{"text": "b", "type": {BIG_INT}}}}}',
         f"g.json: line 2: not valid JSON ({TOO_LONG}); fix or remove that record"),
        ("h.json", f'{{"content": "hi", "x": {DEEP}}}\n{{"content": "ok"}}\n',  # JSON Lines in a .json
         f"h.json: line 1: not valid JSON ({TOO_DEEP}); fix or remove that record"),
        ("i.json", DEEP, f"i.json: record 1, line 1: not valid JSON ({TOO_DEEP}); fix or remove that record"),
        ("j.json", BIG_INT, f"j.json: not valid JSON ({TOO_LONG}); fix or remove that record"),
    ],
)  # fmt: skip
def test_huge_numbers_and_deep_nesting_name_the_file_and_record(tmp_path, name, text, expected):
    path = write(tmp_path / name, text)
    assert load_error(path) == f"{tmp_path}/{expected}"


def test_huge_numbers_in_csv_cells_are_unknown_as_other_odd_values(tmp_path):
    (c,) = load_file(write(tmp_path / "big.csv", f"content,label,time_on_page_ms\nhi,ham,{BIG_INT}\n"))
    assert (c.content, c.label, c.time_on_page_ms) == ("hi", 0, None)


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("a.csv", b"content,label\nok,ham\nfoo\rbar,ham\n",
         'a.csv: line 3: not valid CSV (a carriage return (\\r) outside quotes; quote that field or end '
         'lines with "\\n")'),
        ("b.tsv", b"content\tlabel\nfoo\rbar\tham\n", "b.tsv: line 2: not valid CSV (a carriage return"),
        ("c.txt", b"ham\tok\nspam\tok\nham\tfoo\rbar\n",
         'c.txt: line 3: a carriage return (\\r) in the text; remove it or end lines with "\\n"'),
        ("d.csv", b"content,label\r" + b"ok,ham\r" * 3, "d.csv: line 1: not valid CSV (a carriage return"),
    ],
)  # fmt: skip
def test_carriage_returns_mid_line_are_a_load_error(tmp_path, name, data, expected):
    path = tmp_path / name
    path.write_bytes(data)
    assert load_error(path).startswith(f"{tmp_path}/{expected}")


def test_a_quoted_field_over_the_line_limit_names_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_LINE_BYTES", 200_000)  # over the csv module's default 131,072
    path = write(tmp_path / "open.csv", 'content,label\nok,ham\n"never closed,ham\n' + "more text\n" * 25_000)
    assert load_error(path) == (
        f"{path}: line 3: not valid CSV (a quoted field runs over 200,000 characters; close the quote it"
        " opens)"
    )


def test_nul_bytes_past_the_sniffed_head_are_no_crash(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"content,label\n" + b"ok,ham\n" * 20_000 + b"a\x00b,spam\n")
    comments = load_file(path)
    assert len(comments) == 20_001 and comments[-1].label == 1 and "\x00" not in comments[-1].content


@pytest.mark.parametrize("command", ["score", "evaluate", "train"])
def test_the_commands_show_a_bad_file_as_one_line(tmp_path, runner, trained_registry, command):
    path = write(
        tmp_path / "big.jsonl", f'{{"content": "hi", "label": "ham", "time_on_page_ms": {BIG_INT}}}\n'
    )
    args = ["--out", str(tmp_path / "out")] if command == "train" else ["--model", str(trained_registry)]
    result = runner.invoke(main, [command, str(path), *args])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.stderr == f"Error: {path}: line 1 is not a JSON object ({TOO_LONG}); fix or remove it\n"


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(LoadError, match="no such file or directory"):
        load_paths([tmp_path / "nope"])
    write(tmp_path / "docs" / "README.md", "# nothing\n")
    with pytest.raises(LoadError, match="no data files"):
        load_paths([tmp_path / "docs"])


@contextmanager
def fifo_at(path: Path) -> Iterator[Path]:
    """Make a named pipe at `path`. Whoever opens it to read gets an end of file within a second,
    so code that should have left it alone fails its test instead of hanging forever."""
    os.mkfifo(path)
    stop = threading.Event()

    def release() -> None:
        while not stop.wait(1.0):
            with suppress(OSError):  # ENXIO: nobody is reading it, as it should be
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()


def test_a_directory_skips_what_is_not_a_regular_file(tmp_path, caplog):
    root = tmp_path / "corpus"
    write(root / "a.jsonl", '{"content": "a", "label": "spam"}\n')
    (root / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    skipped: list[str] = []
    with fifo_at(root / "pipe.jsonl"):
        assert [c.content for c in load_paths([root], skipped=skipped.append)] == ["a"]
        assert sorted(skipped) == [
            f"skipped {root / name}: not a regular file (a named pipe, socket, device or broken link)"
            for name in ("gone.jsonl", "pipe.jsonl")
        ]
        with caplog.at_level("WARNING", logger="training.loaders"):  # without a callback: logged
            assert [p.name for p in data_files(root)] == ["a.jsonl"]
        assert f"skipped {root / 'pipe.jsonl'}" in caplog.text


def test_a_named_pipe_given_by_name_is_refused(tmp_path):
    with fifo_at(tmp_path / "pipe.jsonl") as pipe:
        with pytest.raises(LoadError, match="pipe.jsonl: not a regular file"):
            load_paths([pipe])
