"""Featurise comments: hashed word and character n-grams (TF-IDF) plus named signals.

One code path for training and scoring: `extract` turns comments into raw counts and signals,
`weigh` turns counts into TF-IDF values with the idf learned at training time.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from spamguard.comment import Comment
from spamguard.normalize import normalize
from spamguard.signals import SIGNAL_NAMES, signals

_WORD = re.compile(r"\w\w+")
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_PRIME = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33, _S29 = np.uint64(33), np.uint64(29)


@dataclass(frozen=True, slots=True)
class FeatureSpace:
    """The shape of the feature vector: hash sizes, n-gram ranges and block weights."""

    word_bits: int = 18
    char_bits: int = 20
    char_min: int = 3
    char_max: int = 5
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
    tokens: list[dict[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.signals)


def char_hashes(text: str, space: FeatureSpace) -> np.ndarray:
    """Hash every character n-gram of the text into bucket numbers, vectorised."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(cps)
    parts = []
    h = np.zeros(n, dtype=np.uint64)
    for k in range(space.char_max):
        m = n - k
        if m <= 0:
            break
        # Polynomial rolling hash of the n-gram starting at each position, then a 64-bit finaliser.
        h = h[:m] * _PRIME + cps[k : k + m] + np.uint64(1)
        if k + 1 >= space.char_min:
            x = h ^ (h >> _S33)
            x *= _MIX1
            x ^= x >> _S29
            x *= _MIX2
            x ^= x >> _S33
            parts.append(x)
    if not parts:
        return np.empty(0, dtype=np.int64)
    mask = np.uint64(space.n_char - 1)
    return (np.concatenate(parts) & mask).astype(np.int64)


def word_hashes(text: str, space: FeatureSpace, keep: bool) -> tuple[np.ndarray, dict[int, str]]:
    """Hash word unigrams and bigrams into bucket numbers; keep the strings if asked."""
    words = _WORD.findall(text)
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    mask = space.n_word - 1
    idx = [zlib.crc32(g.encode()) & mask for g in grams]
    tokens = dict(zip(idx, grams, strict=True)) if keep else {}
    return np.asarray(idx, dtype=np.int64), tokens


def _counts(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(idx):
        return idx, np.empty(0, dtype=np.float64)
    uniq, counts = np.unique(idx, return_counts=True)
    return uniq, counts.astype(np.float64)


def extract(comments: Sequence[Comment], space: FeatureSpace, *, explain: bool = False) -> Extracted:
    """Turn comments into raw n-gram counts and signal values (explain keeps reason details)."""
    w_idx, w_cnt, c_idx, c_cnt = [], [], [], []
    sig = np.zeros((len(comments), len(SIGNAL_NAMES)))
    details, tokens = [], []
    for row, comment in enumerate(comments):
        text = normalize(comment.content)
        lowered = text.text.lower()
        words, names = word_hashes(lowered, space, explain)
        for hashes, idx_out, cnt_out in (
            (words, w_idx, w_cnt),
            (char_hashes(" " + lowered + " ", space), c_idx, c_cnt),
        ):
            uniq, counts = _counts(hashes)
            idx_out.append(uniq)
            cnt_out.append(counts)
        sig[row], found = signals(comment, text)
        if explain:
            details.append(found)
            tokens.append(names)
    return Extracted(
        _ptr(w_idx), _cat(w_idx, np.int64), _cat(w_cnt, np.float64),
        _ptr(c_idx), _cat(c_idx, np.int64), _cat(c_cnt, np.float64),
        sig, details, tokens,
    )  # fmt: skip


def _ptr(parts: list[np.ndarray]) -> np.ndarray:
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=ptr[1:])
    return ptr


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


def weigh(ptr: np.ndarray, idx: np.ndarray, cnt: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """Return sublinear TF-IDF values, L2-normalised per row, for CSR-style counts."""
    values = (1.0 + np.log(cnt)) * idf[idx]
    if not len(values):
        return values
    lengths = np.diff(ptr)
    starts = ptr[:-1][lengths > 0]
    norms = np.sqrt(np.add.reduceat(values * values, starts))
    return values / np.repeat(norms, lengths[lengths > 0])


def idf_from_counts(ptr: np.ndarray, idx: np.ndarray, size: int) -> np.ndarray:
    """Learn smoothed idf weights from the documents' bucket lists (each bucket once per row)."""
    n_docs = len(ptr) - 1
    df = np.bincount(idx, minlength=size)
    return np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
