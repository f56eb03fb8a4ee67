"""Map the rows of each known file format to comment records (contract sections 1 and 2)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from spamguard.comment import TEXT_FIELDS

Row = Mapping[str, str]
Raw = dict[str, Any]

SMS_LINE = re.compile(r"^(?:ham|spam)\t")

# What each format's header must hold, shown when a file matches none of them.
EXPECTED = {
    "native": "'content' plus any of " + ", ".join((*TEXT_FIELDS, "time_on_page_ms", "label")),
    "wordpress": "comment_content, comment_author, comment_author_email, comment_author_url, "
    "comment_author_IP, comment_agent, comment_date_gmt, comment_type, comment_approved",
    "youtube": "COMMENT_ID, AUTHOR, DATE, CONTENT, CLASS (or COMMENT_ID, CONTENT, TAG)",
    "sms": "no header, every line 'ham<TAB>text' or 'spam<TAB>text'",
    "scamspot": "number, scam, msg_length, msg (CSV), or a JSON object of {id: {text, type, account, media}}",
}

# WordPress comment_approved: '0' is pending and 'trash' deleted, which say nothing about spam.
_WORDPRESS_LABELS = {"1": "ham", "spam": "spam"}
_WORDPRESS_FIELDS = {
    "comment_ID": "id",
    "comment_post_ID": "post_id",
    "comment_author": "author_name",
    "comment_author_email": "author_email",
    "comment_author_url": "author_url",
    "comment_author_IP": "author_ip",
    "comment_agent": "user_agent",
    "comment_date_gmt": "created_at",
    "comment_type": "comment_type",
    "comment_content": "content",
}
_SCAMSPOT_LABELS = {"scam": "spam", "real": "ham"}


def native_row(row: Row) -> Raw:
    """Return a native CSV row as a record: its columns already carry the record's names."""
    return dict(row)


def wordpress_row(row: Row) -> Raw:
    """Return a `wp_comments` row as a record; pending and trashed comments are unlabelled."""
    raw: Raw = {field: row[column] for column, field in _WORDPRESS_FIELDS.items() if column in row}
    parent = row.get("comment_parent", "").strip()
    if parent and parent != "0":  # WordPress writes 0 for a top-level comment
        raw["parent_id"] = parent
    if raw.get("created_at", "").startswith("0000"):  # the zero date of drafts and imports
        del raw["created_at"]
    raw["label"] = _WORDPRESS_LABELS.get(row.get("comment_approved", "").strip().lower())
    return raw


def youtube_row(row: Row) -> Raw:
    """Return a YouTube Spam Collection row (CLASS or TAG variant) as a record."""
    return {
        "id": row["COMMENT_ID"],
        "author_name": row.get("AUTHOR"),
        "created_at": row.get("DATE"),
        "content": row["CONTENT"],
        "label": row["CLASS"] if "CLASS" in row else row["TAG"],
    }


def scamspot_row(row: Row) -> Raw | None:
    """Return a ScamSpot CSV row as a record, or None when it has no label."""
    return {"content": row["msg"], "label": row["scam"]} if row["scam"].strip() else None


CSV_FORMATS: dict[str, Callable[[Row], Raw | None]] = {
    "native": native_row,
    "wordpress": wordpress_row,
    "youtube": youtube_row,
    "scamspot": scamspot_row,
}


def csv_format(header: list[str]) -> str | None:
    """Return the name of the CSV format a header belongs to, or None."""
    columns = set(header)
    if "content" in columns:
        return "native"
    if "comment_content" in columns:
        return "wordpress"
    if {"COMMENT_ID", "CONTENT"} <= columns and columns & {"CLASS", "TAG"}:
        return "youtube"
    if {"scam", "msg"} <= columns:
        return "scamspot"
    return None


def scamspot_json_rows(document: Mapping[str, Any]) -> list[tuple[str, int, Raw]] | None:
    """Return the labelled entries of ScamSpot `comments_extracted.json`, or None if it is not one."""
    entries = list(document.items())
    if not entries or not all(isinstance(v, dict) and {"text", "type"} <= v.keys() for _, v in entries):
        return None
    rows = []
    for number, (key, entry) in enumerate(entries, 1):
        label = _SCAMSPOT_LABELS.get(str(entry["type"]).strip().lower())
        if label is not None:
            raw = {"id": key, "content": entry["text"], "label": label}
            raw |= {"site": entry.get("account"), "post_id": entry.get("media")}
            rows.append(("entry", number, raw))
    return rows


def sms_row(cells: list[str]) -> Raw | None:
    """Return an SMS Spam Collection line (already split on tabs) as a record, or None if malformed."""
    if len(cells) < 2 or cells[0] not in ("ham", "spam"):
        return None
    # The collection has exactly one tab per line; a tab inside the text would be kept as text.
    return {"content": "\t".join(cells[1:]), "label": cells[0]}
