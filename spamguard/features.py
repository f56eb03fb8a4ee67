"""Featurise comments: hashed word and character n-grams (TF-IDF) plus named signals.

One code path for training and scoring: `extract` turns comments into raw counts and signals,
`weigh` turns counts into TF-IDF values with the idf learned at training time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from spamguard import kernels
from spamguard.comment import Comment
from spamguard.normalize import normalize
from spamguard.signals import SIGNAL_NAMES, signals


@dataclass(frozen=True, slots=True)
class FeatureSpace:
    """The shape of the feature vector: hash sizes, n-gram ranges and block weights."""

    word_bits: int = 18
    char_bits: int = 20
    char_min: int = 3
    char_max: int = 5
    # Character n-grams inside words only (like scikit-learn's char_wb), and digits folded to 0
    # so that phone numbers, prices and codes generalise: both measured in bench/accuracy.py.
    char_wb: bool = True
    fold_digits: bool = True
    word_weight: float = 1.0
    char_weight: float = 1.0
    signal_weight: float = 1.0

    @property
    def n_word(self) -> int:
        """Return the number of word-n-gram buckets."""
        return 1 << self.word_bits

    @property
    def n_char(self) -> int:
        """Return the number of character-n-gram buckets."""
        return 1 << self.char_bits

    @property
    def dim(self) -> int:
        """Return the length of the whole feature vector."""
        return self.n_word + self.n_char + len(SIGNAL_NAMES)

    def to_dict(self) -> dict[str, float]:
        """Return the parameters as plain values for the manifest."""
        return asdict(self)


@dataclass(slots=True)
class Extracted:
    """Raw features of a batch of comments, as CSR-style arrays per block."""

    word_ptr: np.ndarray
    word_idx: np.ndarray
    word_cnt: np.ndarray
    char_ptr: np.ndarray
    char_idx: np.ndarray
    char_cnt: np.ndarray
    signals: np.ndarray
    details: list[dict[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.signals)


def text_buckets(
    text: str, space: FeatureSpace
) -> tuple[np.ndarray, np.ndarray, Grams, np.ndarray, np.ndarray]:
    """Return the word and character n-gram buckets of a text, each sorted with counts.

    Words are unigrams and bigrams of regex `\\w\\w+` words, hashed with CRC-32; character n-grams are
    hashed with a 64-bit polynomial hash (spamguard/kernels.py). Digits are folded to 0 first when
    the space says so.
    """
    # surrogatepass: a lone surrogate (parse_record replaces them, a Comment built directly may not)
    # is hashed as its code point instead of raising.
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    word_idx, word_cnt, grams, spans, char_idx, char_cnt = kernels.text_buckets(
        cps,
        kernels.classes(),
        space.fold_digits,
        space.n_word - 1,
        space.char_min,
        space.char_max,
        space.char_wb,
        space.n_char - 1,
    )
    return word_idx, word_cnt, Grams(text, grams, spans), char_idx, char_cnt


@dataclass(frozen=True, slots=True)
class Grams:
    """The word grams of a text in order: each one's bucket and span, to show which words a bucket is."""

    text: str
    buckets: np.ndarray
    spans: np.ndarray


@dataclass(frozen=True, slots=True)
class Raw:
    """Raw features of one comment: n-gram buckets with counts, and signal values."""

    word_idx: np.ndarray
    word_cnt: np.ndarray
    char_idx: np.ndarray
    char_cnt: np.ndarray
    signals: np.ndarray
    details: dict[str, str]
    grams: Grams


def extract_one(comment: Comment, space: FeatureSpace) -> Raw:
    """Turn one comment into raw n-gram counts and signal values, with what explains them."""
    text = normalize(comment.content)
    lowered = text.text.lower()
    sig, details = signals(comment, text, lowered)
    word_idx, word_cnt, grams, char_idx, char_cnt = text_buckets(" " + lowered + " ", space)
    return Raw(word_idx, word_cnt, char_idx, char_cnt, sig, details, grams)


def extract(comments: Sequence[Comment], space: FeatureSpace, *, explain: bool = False) -> Extracted:
    """Turn comments into raw n-gram counts and signal values, stacked as CSR-style arrays."""
    raws = [extract_one(c, space) for c in comments]
    sig = np.vstack([r.signals for r in raws]) if raws else np.zeros((0, len(SIGNAL_NAMES)))
    return Extracted(
        _ptr([r.word_idx for r in raws]),
        _cat([r.word_idx for r in raws], np.int32),
        _cat([r.word_cnt for r in raws], np.uint16),
        _ptr([r.char_idx for r in raws]),
        _cat([r.char_idx for r in raws], np.int32),
        _cat([r.char_cnt for r in raws], np.uint16),
        sig,
        [r.details for r in raws] if explain else [],
    )


def _ptr(parts: list[np.ndarray]) -> np.ndarray:
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=ptr[1:])
    return ptr


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


def weigh(ptr: np.ndarray, idx: np.ndarray, cnt: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """Return sublinear TF-IDF values, L2-normalised per row, for CSR-style counts."""
    values = (1.0 + np.log(cnt, dtype=np.float64)) * idf[idx]
    if not len(values):
        return values
    lengths = np.diff(ptr)
    starts = ptr[:-1][lengths > 0]
    norms = np.sqrt(np.add.reduceat(values * values, starts))
    return values / np.repeat(norms, lengths[lengths > 0])


def idf_from_df(df: np.ndarray, n_docs: int) -> np.ndarray:
    """Return smoothed idf weights from document frequencies (each bucket counted once per row)."""
    return np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
