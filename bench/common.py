"""Shared pieces of the benchmarks: dataset readers, the naive baseline, the spamguard adapter."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The shared datasets are read in place, never copied into the repo.
DATASETS = ROOT.parent / "shared" / "datasets"
YOUTUBE_DIR = DATASETS / "youtube-spam-collection"
PILOT_DIR = DATASETS / "tubespam-pilot-2014"
SMS_FILE = DATASETS / "sms-spam-collection-v1" / "SMSSpamCollection"
INSTAGRAM_FILE = DATASETS / "instagram-scamspot-2023" / "comments-rated-plus-reported.csv"

# `python bench/x.py` puts bench/ on sys.path, not the repo root that holds spamguard/ and training/.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Row = dict[str, Any]


# --- readers -----------------------------------------------------------------------------------------
# Each returns rows {"content", "author_name", "created_at", "id", "label", "source"} with the text
# exactly as it is in the file (YouTube keeps its trailing U+FEFF: stripping it is the model's job).


def _row(content: str, label: str, source: str, *, id=None, author_name=None, created_at=None) -> Row:
    return {
        "content": content,
        "author_name": author_name or None,
        "created_at": created_at or None,
        "id": id or None,
        "label": int(label),
        "source": source,
    }


def read_youtube_file(path: Path) -> list[Row]:
    """Read one YouTube Spam Collection CSV (`COMMENT_ID, AUTHOR, DATE, CONTENT, CLASS`)."""
    with path.open(encoding="utf-8", newline="") as f:
        return [
            _row(
                r["CONTENT"],
                r["CLASS"],
                path.name,
                id=r["COMMENT_ID"],
                author_name=r["AUTHOR"],
                created_at=r["DATE"],
            )
            for r in csv.DictReader(f)
        ]


def read_pilot_file(path: Path) -> list[Row]:
    """Read one TubeSpam pilot CSV (`COMMENT_ID, CONTENT, TAG`)."""
    with path.open(encoding="utf-8", newline="") as f:
        return [_row(r["CONTENT"], r["TAG"], path.name, id=r["COMMENT_ID"]) for r in csv.DictReader(f)]


def youtube_videos() -> dict[str, list[Row]]:
    """Return the five YouTube Spam Collection videos, by file name, in file order."""
    return {p.name: read_youtube_file(p) for p in sorted(YOUTUBE_DIR.glob("*.csv"))}


def pilot_videos() -> dict[str, list[Row]]:
    """Return the five TubeSpam pilot videos, by file name."""
    return {p.name: read_pilot_file(p) for p in sorted(PILOT_DIR.glob("*.csv"))}


def read_sms(path: Path = SMS_FILE) -> list[Row]:
    """Read the SMS Spam Collection (no quoting) and keep the first copy of each exact text."""
    seen: set[str] = set()
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        # 145 lines hold a '"': with default quoting csv swallows line breaks and loses 2 rows.
        for n, (label, text) in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if text in seen:
                continue
            seen.add(text)
            rows.append(_row(text, {"spam": "1", "ham": "0"}[label], path.name, id=f"sms-{n}"))
    return rows


def read_instagram(path: Path = INSTAGRAM_FILE) -> list[Row]:
    """Read ScamSpot `comments-rated-plus-reported.csv` (`number, scam, msg_length, msg`), all rows."""
    with path.open(encoding="utf-8", newline="") as f:
        # `number` repeats in this file, so the row position is the id.
        return [_row(r["msg"], r["scam"], path.name, id=f"ig-{n}") for n, r in enumerate(csv.DictReader(f))]


def flatten(groups: Iterable[list[Row]]) -> list[Row]:
    """Concatenate lists of rows."""
    return [row for group in groups for row in group]


# --- the two models ----------------------------------------------------------------------------------


def make_baseline():
    """Return the naive baseline of issue 2: word + char_wb TF-IDF and LogisticRegression(C=10)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    return Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
                    ]
                ),
            ),
            ("clf", LogisticRegression(C=10)),
        ]
    )


class Baseline:
    """The baseline side: fed the raw text, no thresholds (it decides at 0.5)."""

    name = "baseline"
    has_thresholds = False

    def fit(self, rows: list[Row]):
        """Fit the baseline on the raw text of the rows."""
        return make_baseline().fit([r["content"] for r in rows], [r["label"] for r in rows])

    def proba(self, model, rows: list[Row]):
        """Return spam probabilities for the rows, as a numpy array."""
        return model.predict_proba([r["content"] for r in rows])[:, 1]

    def decisions(self, model, rows: list[Row]) -> list[str]:
        """Return reject at score >= 0.5, approve below: the baseline has no hold band."""
        return ["reject" if p >= 0.5 else "approve" for p in self.proba(model, rows)]


class Spamguard:
    """The spamguard side: the same rows, turned into Comments by spamguard's own parser."""

    name = "spamguard"
    has_thresholds = True

    def __init__(self, fit_model: Callable, parse_record: Callable) -> None:
        self._fit_model = fit_model
        self._parse_record = parse_record

    def comments(self, rows: list[Row]) -> list:
        """Parse the rows as spamguard parses records from the API."""
        return [
            self._parse_record({k: v for k, v in r.items() if k != "source"}, source=r["source"])
            for r in rows
        ]

    def fit(self, rows: list[Row]):
        """Train a spamguard model (thresholds included) on the rows."""
        return self.fit_comments(self.comments(rows))

    def fit_comments(self, comments: list):
        """Train a spamguard model on already parsed Comments."""
        return self._fit_model(comments)

    def proba(self, model, rows: list[Row]):
        """Return spam probabilities for the rows (batch scoring)."""
        return model.predict_proba(self.comments(rows))

    def decisions(self, model, rows: list[Row]) -> list[str]:
        """Return approve / hold / reject with the thresholds the model chose when it was trained."""
        return [v.decision for v in model.score_many(self.comments(rows))]


def load_spamguard() -> tuple[Spamguard | None, str]:
    """Return the spamguard adapter, or None and why it cannot be imported yet."""
    try:
        from spamguard.comment import parse_record
        from training.fit import fit_model
    except ImportError as exc:
        return None, f"not available ({type(exc).__name__}: {exc})"
    return Spamguard(fit_model, parse_record), "available"
