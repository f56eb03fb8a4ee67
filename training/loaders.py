"""Read labelled comment files into Comments: every format of contract section 2, auto-detected.

Formats, recognised by extension and then by content (first line or header):

- native: `.jsonl` / `.ndjson` (JSON Lines) and `.json` (JSON Lines, one record, or an array of
  records), and `.csv` / `.tsv` whose header names record fields (a `content` column is required);
- WordPress `wp_comments` CSV export (`comment_content`, ...; `comment_approved` `1` is ham, `spam`
  is spam, anything else such as `0` or `trash` is unlabelled);
- YouTube Spam Collection CSV (`COMMENT_ID, AUTHOR, DATE, CONTENT, CLASS`) and the TubeSpam pilot
  variant (`COMMENT_ID, CONTENT, TAG`);
- SMS Spam Collection: `ham|spam<TAB>text` lines, no header, no quoting (any extension);
- beyond the contract, the ScamSpot Instagram files: the CSVs (`number, scam, msg_length, msg`;
  `number` repeats, so it is not used as the id) and `comments_extracted.json` (an object keyed by
  comment id with `text`, `type`, `account`, `media`), where only `scam` and `real` entries are kept
  and `account` becomes the site, `media` the post.

The csv module is used rather than pandas: it reports line numbers, keeps empty strings as empty
strings and reads the SMS file with `QUOTE_NONE` without surprises. Every row goes through
`spamguard.comment.parse_record`; a comment without an id gets `<file stem>:<line>`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from spamguard.comment import MAX_CONTENT_CHARS, Comment, RecordError, parse_record
from training.formats import CSV_FORMATS, EXPECTED, SMS_LINE, Raw, csv_format, scamspot_json_rows, sms_row

# One line (or one CSV/JSON record) longer than this is not a comment: JSON escapes can make a
# maximal content six times longer in bytes than in characters.
MAX_LINE_BYTES = 8 * MAX_CONTENT_CHARS
# A .json document is parsed whole; beyond this, JSON Lines should be used instead.
MAX_JSON_DOCUMENT_BYTES = 512 * 1024 * 1024
_SNIFF_BYTES = 64 * 1024
log = logging.getLogger(__name__)

# (what, number, raw record): where a record is, for ids and error messages ("line 12").
Located = tuple[str, int, Raw]
_CSV_EXTENSIONS = {".csv", ".tsv", ".tab"}
_JSON_LINES_EXTENSIONS = {".jsonl", ".ndjson"}
# Files in a data directory that are documentation, not data (compared lower-cased).
_NOT_DATA_NAMES = {"readme", "license", "licence", "copying", "notice", "authors", "changelog"}
_NOT_DATA_SUFFIXES = {".md", ".markdown", ".rst", ".html", ".pdf"}
# JSON's insignificant whitespace, skipped between the elements of a document (see _failing_element).
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
# What the csv module's error says of a "\r" inside an unquoted field.
_LONE_CR = "new-line character seen in unquoted field"


class LoadError(ValueError):
    """A file that cannot be read as comments: the message names the file and what to do."""


def load_paths(paths: Iterable[str | Path], skipped: Callable[[str], object] | None = None) -> list[Comment]:
    """Load every data file under the given files and directories, in order.

    In a directory, what is not a regular file (a named pipe, a socket, a broken link) is skipped
    and reported to `skipped` (default: a logged warning): opening a named pipe would wait forever
    for a writer. Named directly, such a path is an error.
    """
    comments: list[Comment] = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = data_files(root, skipped)
            if not files:
                raise LoadError(f"{given}: no data files in this directory")
            for path in files:
                comments += load_file(path, source=path.relative_to(root).as_posix())
        elif root.is_file():
            comments += load_file(root)
        elif root.exists():
            raise LoadError(f"{given}: not a regular file (a named pipe, socket or device); give a file")
        else:
            raise LoadError(f"{given}: no such file or directory")
    return comments


def data_files(root: Path, skipped: Callable[[str], object] | None = None) -> list[Path]:
    """Return the regular data files under a directory, sorted, without hidden files or documentation.

    Anything else found there is reported to `skipped` (default: a logged warning).
    """
    report = skipped or (lambda message: log.warning("%s", message))
    found = []
    for top, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for path in (Path(top) / n for n in names if _is_data_name(n)):
            if path.is_file():
                found.append(path)
            else:
                report(f"skipped {path}: not a regular file (a named pipe, socket, device or broken link)")
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def _is_data_name(name: str) -> bool:
    path = Path(name)
    stem = path.stem.lower() if path.suffix else name.lower()
    return not (name.startswith(".") or path.suffix.lower() in _NOT_DATA_SUFFIXES or stem in _NOT_DATA_NAMES)


def load_file(path: str | Path, *, source: str | None = None) -> list[Comment]:
    """Load one file in any known format; `source` defaults to the file's name."""
    path = Path(path)
    source = source or path.name
    comments = []
    stem = path.stem or path.name
    for kind, number, raw in _rows(path):
        try:
            comment = parse_record(raw, source=source)
        except RecordError as exc:
            raise LoadError(f"{path}: {kind} {number}: {exc.message}") from None
        if comment.id is None:
            comment = replace(comment, id=f"{stem}:{number}")
        comments.append(comment)
    return comments


def _rows(path: Path) -> list[Located]:
    """Return the located raw records of a file, its format detected from name and content."""
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
            _check_head(path, head)
            f.seek(0)
            first = head.lstrip()[:1]
            suffix = path.suffix.lower()
            if suffix in _JSON_LINES_EXTENSIONS:
                return list(_json_lines(path, f))
            if suffix == ".json" or (suffix not in _CSV_EXTENSIONS and first in (b"{", b"[")):
                return _json_file(path, f)
            return _csv_file(path, f)
    except OSError as exc:
        raise LoadError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _check_head(path: Path, head: bytes) -> None:
    if not head.strip() and len(head) < _SNIFF_BYTES:
        raise LoadError(f"{path}: the file is empty")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError(f"{path}: the file is UTF-16 text; save it as UTF-8")
    if head.startswith((b"\x1f\x8b", b"PK\x03\x04", b"BZh", b"\xfd7zXZ")):
        raise LoadError(f"{path}: the file is compressed; extract it first")
    if b"\x00" in head:
        raise LoadError(f"{path}: the file is binary, not UTF-8 text (it contains NUL bytes)")


def _lines(path: Path, f: BinaryIO) -> Iterator[str]:
    """Yield the decoded lines of a binary file, each bounded in length and checked as UTF-8."""
    number = 0
    while line := f.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES:
            raise LoadError(f"{path}: line {number} is longer than {MAX_LINE_BYTES:,} bytes")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LoadError(
                f"{path}: line {number} is not valid UTF-8 (byte 0x{line[exc.start]:02x} at column"
                f" {exc.start + 1}); save the file as UTF-8"
            ) from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def _json_lines(path: Path, f: BinaryIO) -> Iterator[Located]:
    for number, line in enumerate(_lines(path, f), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:
            problem = _json_problem(exc)
            raise LoadError(
                f"{path}: line {number} is not a JSON object ({problem}); fix or remove it"
            ) from None
        yield "line", number, record


def _json_file(path: Path, f: BinaryIO) -> list[Located]:
    first = f.readline(MAX_LINE_BYTES + 1)
    while first and not first.strip():
        first = f.readline(MAX_LINE_BYTES + 1)
    f.seek(0)
    try:
        # JSON Lines if the first line is a whole record; a minified document is read below.
        if "content" in json.loads(first):
            return list(_json_lines(path, f))
    except (ValueError, TypeError, RecursionError):  # not a record (UnicodeDecodeError is a ValueError)
        pass
    data = f.read(MAX_JSON_DOCUMENT_BYTES + 1)
    if len(data) > MAX_JSON_DOCUMENT_BYTES:
        raise LoadError(f"{path}: a JSON document over {MAX_JSON_DOCUMENT_BYTES:,} bytes; use JSON Lines")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LoadError(f"{path}: line {line} is not valid UTF-8; save the file as UTF-8") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        # These errors carry no position: find the record by reading the elements one at a time.
        where = _failing_element(text)
        raise LoadError(
            f"{path}: {where}not valid JSON ({_json_problem(exc)}); fix or remove that record"
        ) from None
    if isinstance(document, list):
        return [("record", n, raw) for n, raw in enumerate(document, 1)]
    if isinstance(document, dict) and "content" in document:
        return [("record", 1, document)]
    if isinstance(document, dict) and (rows := scamspot_json_rows(document)) is not None:
        return rows
    raise LoadError(_unknown_shape(path, f"a JSON {type(document).__name__} of another shape"))


def _json_problem(exc: ValueError | RecursionError) -> str:
    """Say what json.loads found wrong, in words (the HTTP API answers 400 to the same text)."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "arrays or objects nested too deeply"
    # The only other ValueError: an integer over Python's limit on digits converted to int.
    return f"a number with more than {sys.get_int_max_str_digits():,} digits"


def _failing_element(text: str) -> str:
    """Return where the first unreadable element of a JSON document's top-level array or object
    starts ("record 3, line 7: " or "line 7: "), or "" if none is found.

    Deep nesting and overlong numbers stop json.loads without a position; reading the top-level
    elements one at a time with raw_decode finds the one at fault.
    """
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    closing = {"[": "]", "{": "}"}.get(text[pos : pos + 1])
    number = 0
    while closing is not None:
        pos = start = _skip_space(text, pos + 1)  # past the "[", "{" or ","
        number += 1
        try:
            if closing == "}":  # a key, then its value
                _, pos = decoder.raw_decode(text, pos)
                pos = _skip_space(text, pos)
                if not text.startswith(":", pos):
                    return ""
                pos = _skip_space(text, pos + 1)
            _, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            line = text.count("\n", 0, start) + 1
            return f"record {number}, line {line}: " if closing == "]" else f"line {line}: "
        pos = _skip_space(text, pos)
        if not text.startswith(",", pos):
            return ""
    return ""


def _skip_space(text: str, pos: int) -> int:
    match = _JSON_SPACE.match(text, pos)
    return match.end() if match else pos


def _csv_file(path: Path, f: BinaryIO) -> list[Located]:
    first = next(_lines(path, f), "")
    f.seek(0)
    if SMS_LINE.match(first):
        return _sms_file(path, f)
    suffix = path.suffix.lower()
    tabs = suffix in (".tsv", ".tab") or suffix != ".csv" and first.count("\t") > first.count(",")
    with _field_limit(MAX_LINE_BYTES):
        reader = csv.reader(_lines(path, f), delimiter="\t" if tabs else ",", strict=True)
        try:
            header = [name.strip() for name in next(reader)]
        except csv.Error as exc:
            if _LONE_CR in str(exc):  # old Mac line ends: the whole file reads as one line
                raise LoadError(f"{path}: line 1: not valid CSV ({_csv_problem(exc)})") from None
            header = []
        fmt = csv_format(header)
        if fmt is None:
            raise LoadError(_unknown_shape(path, "first line: " + first.strip()[:200]))
        to_raw = CSV_FORMATS[fmt]
        rows = []
        number = reader.line_num + 1
        try:
            for cells in reader:
                if cells and len(cells) != len(header):
                    raise LoadError(
                        f"{path}: line {number} has {len(cells)} fields, the header has {len(header)}"
                    )
                if cells and (raw := to_raw(dict(zip(header, cells, strict=True)))) is not None:
                    rows.append(("line", number, raw))
                number = reader.line_num + 1
        except csv.Error as exc:
            raise LoadError(f"{path}: line {number}: not valid CSV ({_csv_problem(exc)})") from None
    return rows


def _sms_file(path: Path, f: BinaryIO) -> list[Located]:
    # No quoting: 145 lines of the collection hold a '"', and quoting would join lines.
    reader = csv.reader(_lines(path, f), delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = []
    with _field_limit(MAX_LINE_BYTES):
        try:
            for cells in reader:
                raw = sms_row(cells) if cells else {}
                if raw is None:
                    raise LoadError(
                        f"{path}: line {reader.line_num} is not 'ham<TAB>text' or 'spam<TAB>text'"
                    )
                if raw:
                    rows.append(("line", reader.line_num, raw))
        except csv.Error:  # the only one without quoting: a "\r" mid-line (see _csv_problem)
            raise LoadError(
                f"{path}: line {reader.line_num}: a carriage return (\\r) in the text; "
                'remove it or end lines with "\\n"'
            ) from None
    return rows


def _csv_problem(exc: csv.Error) -> str:
    # Lines come split at "\n" only, so a lone "\r" (old Mac line ends, or one pasted into a cell)
    # reaches the reader mid-line, and its own message suggests a Python fix.
    if _LONE_CR in str(exc):
        return 'a carriage return (\\r) outside quotes; quote that field or end lines with "\\n"'
    if "field limit" in str(exc):
        return f"a quoted field runs over {csv.field_size_limit():,} characters; close the quote it opens"
    return str(exc)


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    # The csv module's default limit (128 KiB) is below what parse_record accepts as content.
    previous = csv.field_size_limit(max(limit, csv.field_size_limit()))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _unknown_shape(path: Path, found: str) -> str:
    formats = "\n".join(f"  - {name}: {columns}" for name, columns in EXPECTED.items())
    return f"{path}: not a known comment file ({found}). Expected one of:\n{formats}"
