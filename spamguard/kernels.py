"""Compiled inner loops of featurising and scoring one comment (numba).

A comment of a few hundred characters yields a few hundred n-grams: numpy spends more time
dispatching its calls on arrays that small than computing, so the loops are compiled instead.
Compiled code is cached beside this file (or in numba's per-user cache where that is read-only);
`warm_up` loads or compiles every kernel, so no request pays for it.
"""

from __future__ import annotations

import functools

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
_ZERO = np.uint32(48)
# Code point classes (see `classes`): part of a word (regex \w), and a decimal digit (regex \d).
WORD, DIGIT = 1, 2


def _crc_table() -> np.ndarray:
    """The byte table of CRC-32 (zlib's polynomial, reflected)."""
    table = np.empty(256, dtype=np.int64)
    for n in range(256):
        c = n
        for _ in range(8):
            c = 0xEDB88320 ^ (c >> 1) if c & 1 else c >> 1
        table[n] = c
    return table


_CRC = _crc_table()


@functools.cache
def classes() -> np.ndarray:
    """Return the class bits of every code point: WORD where regex \\w matches, DIGIT where \\d does."""
    bits = bytes(c.isalnum() | c.isdecimal() << 1 for c in map(chr, range(0x110000)))
    table = np.frombuffer(bits, dtype=np.uint8).copy()
    table[ord("_")] |= WORD
    return table


@njit(cache=True, nogil=True)
def _crc_code_point(crc: int, cp: int) -> int:
    """Feed the UTF-8 bytes of one code point to a running (inverted) CRC-32."""
    if cp < 0x80:
        return _CRC[(crc ^ cp) & 0xFF] ^ (crc >> 8)
    if cp < 0x800:
        head, n = 0xC0 | (cp >> 6), 1
    elif cp < 0x10000:
        head, n = 0xE0 | (cp >> 12), 2
    else:
        head, n = 0xF0 | (cp >> 18), 3
    crc = _CRC[(crc ^ head) & 0xFF] ^ (crc >> 8)
    for k in range(n - 1, -1, -1):
        crc = _CRC[(crc ^ (0x80 | ((cp >> (6 * k)) & 0x3F))) & 0xFF] ^ (crc >> 8)
    return crc


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
def block_contributions(idx: np.ndarray, cnt: np.ndarray, table: np.ndarray, scale: float) -> np.ndarray:
    """Return each bucket's share of the log-odds: sublinear TF-IDF, L2-normalised, times its weight.

    `table[b]` holds bucket b's idf and the model's coefficient; `scale` is the block's weight.
    """
    out = np.empty(len(idx), np.float64)
    squares = 0.0
    for t in range(len(idx)):
        value = (1.0 + np.log(np.float64(cnt[t]))) * table[idx[t], 0]
        squares += value * value
        out[t] = value * (table[idx[t], 1] * scale)
    if squares > 0.0:
        out /= np.sqrt(squares)
    return out


@njit(cache=True, nogil=True)
def word_grams(cps: np.ndarray, table: np.ndarray, mask: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash word unigrams and bigrams into buckets; return the buckets with where each gram is.

    Words are runs of two or more WORD code points (the regex \\w\\w+). A gram's hash is zlib's
    CRC-32 of its UTF-8 bytes, a bigram being the two words joined by one space, masked to the
    bucket count. Grams come unigrams first, each with its start and end in `cps`.
    """
    n = len(cps)
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    crcs = np.empty(n, np.int64)
    words = 0
    i = 0
    while i < n:
        if not table[cps[i]] & WORD:
            i += 1
            continue
        j, crc = i, 0xFFFFFFFF
        while j < n and table[cps[j]] & WORD:
            crc = _crc_code_point(crc, cps[j])
            j += 1
        if j - i >= 2:
            starts[words], ends[words], crcs[words] = i, j, crc
            words += 1
        i = j
    m = max(2 * words - 1, 0)
    buckets = np.empty(m, np.int64)
    spans = np.empty((m, 2), np.int64)
    for w in range(words):
        buckets[w] = (crcs[w] ^ 0xFFFFFFFF) & mask
        spans[w, 0], spans[w, 1] = starts[w], ends[w]
    for w in range(words - 1):
        crc = _crc_code_point(crcs[w], 32)
        for t in range(starts[w + 1], ends[w + 1]):
            crc = _crc_code_point(crc, cps[t])
        buckets[words + w] = (crc ^ 0xFFFFFFFF) & mask
        spans[words + w, 0], spans[words + w, 1] = starts[w], ends[w + 1]
    return buckets, spans


@njit(cache=True, nogil=True)
def fold_digits(cps: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Return the code points with every decimal digit replaced by 0."""
    out = cps.copy()
    for i in range(len(out)):
        if table[out[i]] & DIGIT:
            out[i] = _ZERO
    return out


@njit(cache=True, nogil=True)
def text_buckets(
    cps: np.ndarray,
    table: np.ndarray,
    fold: bool,
    word_mask: int,
    char_min: int,
    char_max: int,
    word_bounded: bool,
    char_mask: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Featurise one text in one call: digits folded, then word grams and character n-grams.

    Returns the word buckets with counts, every word gram's bucket and span (to show reasons), and
    the character buckets with counts. One call instead of five: each call from Python costs
    microseconds of argument checking, as much as the work on a short comment.
    """
    if fold:
        cps = fold_digits(cps, table)
    grams, spans = word_grams(cps, table, word_mask)
    word_idx, word_cnt = bucket_counts(grams)
    char_idx, char_cnt = char_buckets(cps, char_min, char_max, word_bounded, np.uint64(char_mask))
    return word_idx, word_cnt, grams, spans, char_idx, char_cnt


# Layout of score_comment's `params` (see `score_params`).
WORD_SCALE, CHAR_SCALE, INTERCEPT, CAL_A, CAL_B, MIN_WEIGHT, MOST, LEAST = range(8)
# Kinds of evidence score_comment returns, besides a signal's index.
WORDS, STYLE = -1, -2


@njit(cache=True, nogil=True)
def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@njit(cache=True, nogil=True)
def score_comment(
    word_idx: np.ndarray,
    word_cnt: np.ndarray,
    char_idx: np.ndarray,
    char_cnt: np.ndarray,
    grams: np.ndarray,
    spans: np.ndarray,
    signals: np.ndarray,
    word_table: np.ndarray,
    char_table: np.ndarray,
    signal_weights: np.ndarray,
    params: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Score one featurised comment and pick the evidence that explains the score.

    Returns the calibrated probability and the chosen evidence, strongest spam evidence first and
    strongest legitimate evidence last: at most `MOST` rows of positive and `LEAST` of negative
    weight, each at least `MIN_WEIGHT` in size, as (weight, kind, start, end). The kind is a signal's
    index, WORDS (a word gram: start and end of its first occurrence in the text) or STYLE (the whole
    character n-gram block).
    """
    most, least, min_weight = int(params[MOST]), int(params[LEAST]), params[MIN_WEIGHT]
    words = block_contributions(word_idx, word_cnt, word_table, params[WORD_SCALE])
    style = block_contributions(char_idx, char_cnt, char_table, params[CHAR_SCALE]).sum()
    log_odds = words.sum() + style + params[INTERCEPT]
    evidence = np.empty((len(signals) + most + least + 1, 4), np.float64)
    k = 0
    for i in range(len(signals)):
        weight = signals[i] * signal_weights[i]
        log_odds += weight
        if abs(weight) >= min_weight:
            evidence[k, 0], evidence[k, 1], evidence[k, 2], evidence[k, 3] = weight, i, -1, -1
            k += 1
    # Only the strongest words each way can be chosen.
    order = np.argsort(words)
    n = len(order)
    for r in range(n):
        if r >= least and r < n - most:
            continue
        t = order[r]
        if abs(words[t]) < min_weight:
            continue
        first = 0
        while grams[first] != word_idx[t]:
            first += 1
        evidence[k, 0], evidence[k, 1], evidence[k, 2], evidence[k, 3] = (
            words[t],
            WORDS,
            spans[first, 0],
            spans[first, 1],
        )
        k += 1
    if abs(style) >= min_weight:
        evidence[k, 0], evidence[k, 1], evidence[k, 2], evidence[k, 3] = style, STYLE, -1, -1
        k += 1
    ranked = evidence[:k][np.argsort(-evidence[:k, 0], kind="mergesort")]
    spam = 0
    while spam < min(most, k) and ranked[spam, 0] > 0:
        spam += 1
    ham = k
    while ham > max(spam, k - least) and ranked[ham - 1, 0] < 0:
        ham -= 1
    chosen = np.concatenate((ranked[:spam], ranked[ham:]))
    return _expit(params[CAL_A] * log_odds + params[CAL_B]), chosen


def score_params(
    word_scale: float,
    char_scale: float,
    intercept: float,
    calibration: tuple[float, float],
    min_weight: float,
    most: int,
    least: int,
) -> np.ndarray:
    """Return the scalars of `score_comment` as the array it reads them from."""
    return np.array(
        [word_scale, char_scale, intercept, *calibration, min_weight, most, least], dtype=np.float64
    )


def weight_table(idf: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Interleave idf and coefficient per bucket, as float32: 8 bytes read per bucket looked up.

    Both must already be float32 values (see `spamguard.model`), so that nothing is rounded here.
    """
    table = np.ascontiguousarray(np.stack([idf, coef], axis=1), dtype=np.float32)
    if not (np.array_equal(table[:, 0], idf) and np.array_equal(table[:, 1], coef)):
        raise ValueError("weight_table takes float32 values only")
    return table


def warm_up() -> None:
    """Load (or compile, the first time) every kernel with the argument types used."""
    cps = np.frombuffer(" warm up 42 ".encode("utf-32-le"), dtype=np.uint32)
    word_idx, word_cnt, grams, spans, char_idx, char_cnt = text_buckets(
        cps, np.zeros(128, dtype=np.uint8), True, 15, 3, 5, True, 15
    )
    table = weight_table(np.ones(16), np.ones(16))
    score_comment(
        word_idx,
        word_cnt,
        char_idx,
        char_cnt,
        grams,
        spans,
        np.zeros(3),
        table,
        table,
        np.ones(3),
        score_params(1.0, 1.0, 0.0, (1.0, 0.0), 0.05, 6, 3),
    )
