"""Compiled inner loops of featurising and scoring one comment (numba).

A comment of a few hundred characters yields a few hundred n-grams: numpy spends more time
dispatching its calls on arrays that small than computing, so the loops are compiled instead.
Compiled code is cached beside this file (or in numba's per-user cache where that is read-only);
`warm_up` loads or compiles every kernel, so no request pays for it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# FNV-1a's 64-bit prime as the rolling multiplier, and MurmurHash3's 64-bit finaliser.
_PRIME = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S29 = np.uint64(29)
_ONE = np.uint64(1)
_SPACE = np.uint32(32)


@njit(cache=True, nogil=True)
def bucket_counts(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct buckets, sorted, with how often each occurs (as uint16)."""
    ordered = np.sort(buckets)
    idx = np.empty(len(ordered), np.int64)
    cnt = np.empty(len(ordered), np.uint16)
    u = -1
    for b in ordered:
        if u < 0 or b != idx[u]:
            u += 1
            idx[u] = b
            cnt[u] = 1
        elif cnt[u] < 65535:
            cnt[u] += 1
    return idx[: u + 1], cnt[: u + 1]


@njit(cache=True, nogil=True)
def char_buckets(
    cps: np.ndarray, char_min: int, char_max: int, word_bounded: bool, mask: np.uint64
) -> tuple[np.ndarray, np.ndarray]:
    """Hash every character n-gram of the code points into buckets; return them with counts.

    The hash of an n-gram is a polynomial over its code points (each plus one), mixed by a
    64-bit finaliser and masked to the bucket count. Word-bounded n-grams have no space inside
    them (they may start or end with one, as scikit-learn's `char_wb` pads words).
    """
    n = len(cps)
    out = np.empty(max(n, 1) * (char_max - char_min + 1), np.int64)
    m = 0
    for i in range(n):
        h = np.uint64(0)
        for k in range(char_max):
            j = i + k
            if j >= n or word_bounded and k >= 2 and cps[j - 1] == _SPACE:
                break
            h = h * _PRIME + (np.uint64(cps[j]) + _ONE)
            if k + 1 >= char_min:
                x = h ^ (h >> _S33)
                x *= _MIX1
                x ^= x >> _S29
                x *= _MIX2
                x ^= x >> _S33
                out[m] = np.int64(x & mask)
                m += 1
    return bucket_counts(out[:m])


@njit(cache=True, nogil=True)
def block_contributions(idx: np.ndarray, cnt: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Return each bucket's share of the log-odds: sublinear TF-IDF, L2-normalised, times its weight.

    `table[b]` holds bucket b's idf and its idf times the model's weight.
    """
    out = np.empty(len(idx), np.float64)
    squares = 0.0
    for t in range(len(idx)):
        tf = 1.0 + np.log(np.float64(cnt[t]))
        value = tf * table[idx[t], 0]
        squares += value * value
        out[t] = tf * table[idx[t], 1]
    if squares > 0.0:
        out /= np.sqrt(squares)
    return out


@njit(cache=True, nogil=True)
def block_log_odds(idx: np.ndarray, cnt: np.ndarray, table: np.ndarray) -> float:
    """Return the sum of `block_contributions`, without building the array."""
    squares = 0.0
    total = 0.0
    for t in range(len(idx)):
        tf = 1.0 + np.log(np.float64(cnt[t]))
        value = tf * table[idx[t], 0]
        squares += value * value
        total += tf * table[idx[t], 1]
    return total / np.sqrt(squares) if squares > 0.0 else 0.0


def weight_table(idf: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Interleave idf and idf × weight per bucket: one cache line per bucket looked up."""
    return np.ascontiguousarray(np.stack([idf, idf * weights], axis=1), dtype=np.float64)


def warm_up() -> None:
    """Load (or compile, the first time) every kernel with the argument types used."""
    cps = np.frombuffer(" warm up ".encode("utf-32-le"), dtype=np.uint32)
    idx, cnt = char_buckets(cps, 3, 5, True, np.uint64(15))
    table = weight_table(np.ones(16), np.ones(16))
    block_contributions(idx, cnt, table)
    block_log_odds(idx, cnt, table)
    bucket_counts(np.zeros(2, dtype=np.int64))
