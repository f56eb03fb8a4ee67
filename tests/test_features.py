"""Tests for spamguard.features: stable hashing, TF-IDF weighting, one path for any batch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer

from spamguard.comment import Comment, parse_record
from spamguard.features import (
    FeatureSpace,
    extract,
    idf_from_df,
    text_buckets,
    weigh,
)
from spamguard.signals import SIGNAL_NAMES

SPACE = FeatureSpace(word_bits=12, char_bits=14)
TEXTS = [
    "Buy cheap pills now at http://bit.ly/x",
    "Thanks for the write-up, it helped me fix my setup.",
    "Привет, отличная статья! 😀 ｆｒｅｅ",
    "",
    "a",
]
ROOT = Path(__file__).resolve().parents[1]


# Runs here and in a subprocess: keep it free of test-only imports so the subprocess starts fast.
BUCKETS_CODE = """
from spamguard.comment import Comment
from spamguard.features import FeatureSpace, extract


def buckets(texts, space):
    ex = extract([Comment(t) for t in texts], space)
    rows = range(len(texts))
    return {
        "word": [ex.word_idx[ex.word_ptr[i] : ex.word_ptr[i + 1]].tolist() for i in rows],
        "char": [ex.char_idx[ex.char_ptr[i] : ex.char_ptr[i + 1]].tolist() for i in rows],
    }
"""
_namespace: dict = {}
exec(BUCKETS_CODE, _namespace)


def buckets(texts: list[str]) -> dict[str, list[list[int]]]:
    """Word and character buckets of each text, through the whole extraction path."""
    return _namespace["buckets"](texts, SPACE)


def test_hashing_is_the_same_in_every_process():
    # Python salts str hashes per process; a model trained in one process and served in another
    # must see the same buckets, so features must not depend on hash().
    code = BUCKETS_CODE + (
        "import json, sys\n"
        "texts = json.loads(sys.stdin.read())\n"
        f"print(json.dumps(buckets(texts, FeatureSpace(**{SPACE.to_dict()!r}))))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345" if os.environ.get("PYTHONHASHSEED") != "12345" else "7"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, input=json.dumps(TEXTS),
                         capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    assert json.loads(out.stdout) == buckets(TEXTS)


def test_buckets_are_in_range_and_deterministic():
    first, second = buckets(TEXTS), buckets(TEXTS)
    assert first == second
    assert all(0 <= b < SPACE.n_word for row in first["word"] for b in row)
    assert all(0 <= b < SPACE.n_char for row in first["char"] for b in row)


def words(text: str, space: FeatureSpace = SPACE):
    word_idx, word_cnt, grams, _, _ = text_buckets(text, space)
    return word_idx, word_cnt, grams


def test_word_counts_cover_unigrams_and_bigrams():
    idx, cnt, grams = words("cheap, pills now")
    assert len(idx) == 5 and cnt.sum() == 5
    shown = [grams.text[start:end] for start, end in grams.spans.tolist()]
    assert shown == ["cheap", "pills", "now", "cheap, pills", "pills now"]  # unigrams first, as written
    assert sorted(set(grams.buckets.tolist())) == idx.tolist()
    assert len(words("a b c")[0]) == 0  # single letters are not words


def reference_word_buckets(text: str, space: FeatureSpace) -> dict[int, int]:
    """Word unigrams and bigrams of spamguard.kernels, written plainly with re and zlib."""
    if space.fold_digits:
        text = re.sub(r"\d", "0", text)
    found_words = re.findall(r"\w\w+", text)
    grams = found_words + [f"{a} {b}" for a, b in zip(found_words, found_words[1:], strict=False)]
    counts: dict[int, int] = {}
    for gram in grams:
        bucket = zlib.crc32(gram.encode()) & (space.n_word - 1)
        counts[bucket] = counts.get(bucket, 0) + 1
    return counts


@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize(
    "text",
    [
        "call 555-0134 now!!",
        "naïve café ünïcode_words 𝒳𝒴 ok",
        "١٢٣ digits ٤٥ and ²³",
        "a",
        "",
        "x_y z9 __ 🙂ab",
    ],
)
def test_word_counts_match_the_plain_definition(text, fold):
    space = FeatureSpace(fold_digits=fold)
    idx, cnt, _ = words(text, space)
    assert dict(zip(idx.tolist(), cnt.tolist(), strict=True)) == reference_word_buckets(text, space)


def char_counts(text: str, space: FeatureSpace = SPACE):
    _, _, _, char_idx, char_cnt = text_buckets(text, space)
    return char_idx, char_cnt


def test_char_counts_count_every_ngram():
    text = "abcdef"
    expected = sum(len(text) - k + 1 for k in range(SPACE.char_min, SPACE.char_max + 1))
    idx, cnt = char_counts(text)
    assert cnt.sum() == expected and list(idx) == sorted(set(idx))
    assert len(char_counts("ab")[0]) == 0
    assert len(char_counts("")[0]) == 0
    # Same n-gram, same bucket, wherever it is; a repeated n-gram is counted.
    assert set(char_counts("xabc")[0]) & set(char_counts("abcy")[0])
    assert char_counts("abcabcabc")[1].max() == 3


def test_extract_does_not_depend_on_the_batch():
    together = extract([Comment(t) for t in TEXTS], SPACE)
    for i, text in enumerate(TEXTS):
        alone = extract([Comment(text)], SPACE)
        w0, w1 = together.word_ptr[i], together.word_ptr[i + 1]
        c0, c1 = together.char_ptr[i], together.char_ptr[i + 1]
        assert np.array_equal(alone.word_idx, together.word_idx[w0:w1])
        assert np.array_equal(alone.word_cnt, together.word_cnt[w0:w1])
        assert np.array_equal(alone.char_idx, together.char_idx[c0:c1])
        assert np.array_equal(alone.char_cnt, together.char_cnt[c0:c1])
        assert np.array_equal(alone.signals[0], together.signals[i])


def test_counts_add_up():
    ex = extract([Comment("spam spam spam eggs")], SPACE)
    assert sorted(ex.word_cnt.tolist()) == [1.0, 1.0, 2.0, 3.0]  # eggs, "spam eggs", "spam spam", spam
    assert len(set(ex.word_idx.tolist())) == len(ex.word_idx)  # one entry per bucket


def test_case_and_disguise_do_not_change_features():
    a, b = buckets(["FREE Money"]), buckets(["ｆｒｅｅ mоney\u200b"])  # fullwidth, Cyrillic о, ZWSP
    assert a == b


def test_empty_text():
    ex = extract([parse_record({"content": ""})], SPACE, explain=True)
    assert len(ex) == 1
    assert ex.word_ptr.tolist() == [0, 0] and ex.char_ptr.tolist() == [0, 0]
    assert ex.signals.shape == (1, len(SIGNAL_NAMES)) and not ex.signals.any()
    assert ex.details == [{}]
    empty = weigh(ex.word_ptr, ex.word_idx, ex.word_cnt, np.ones(SPACE.n_word))
    assert empty.shape == (0,)


def test_extract_of_no_comments():
    ex = extract([], SPACE)
    assert len(ex) == 0 and ex.signals.shape == (0, len(SIGNAL_NAMES))
    assert ex.word_ptr.tolist() == [0]


def test_weigh_rows_are_l2_normalised():
    # Rows 0 and 3 are empty: normalisation must stay aligned with the rows that have values.
    ptr = np.array([0, 0, 3, 4, 4, 6])
    idx = np.array([1, 5, 7, 2, 0, 9])
    cnt = np.array([1.0, 3.0, 2.0, 5.0, 1.0, 1.0])
    idf = np.linspace(1.0, 3.0, 10)
    values = weigh(ptr, idx, cnt, idf)
    assert values.shape == idx.shape and (values > 0).all()
    for row in range(len(ptr) - 1):
        part = values[ptr[row] : ptr[row + 1]]
        if len(part):
            assert np.isclose(np.sqrt((part**2).sum()), 1.0, atol=1e-12)
    assert np.isclose(values[3], 1.0)  # a row with one value is that value, normalised


def test_weigh_and_idf_match_scikit_learn():
    ex = extract([Comment(t) for t in TEXTS], SPACE)
    counts = sp.csr_matrix((ex.char_cnt, ex.char_idx, ex.char_ptr), shape=(len(TEXTS), SPACE.n_char))
    reference = TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2").fit(counts)
    idf = idf_from_df(np.bincount(ex.char_idx, minlength=SPACE.n_char), len(ex))
    assert np.allclose(idf, reference.idf_, atol=1e-12)
    ours = sp.csr_matrix((weigh(ex.char_ptr, ex.char_idx, ex.char_cnt, idf), ex.char_idx, ex.char_ptr),
                         shape=counts.shape)  # fmt: skip
    assert abs(ours - reference.transform(counts)).max() < 1e-12


def test_feature_space_dimensions():
    space = FeatureSpace(word_bits=4, char_bits=5)
    assert (space.n_word, space.n_char) == (16, 32)
    assert space.dim == 16 + 32 + len(SIGNAL_NAMES)
    assert FeatureSpace(**space.to_dict()) == space


def reference_char_buckets(text: str, space: FeatureSpace) -> dict[int, int]:
    """The character n-gram hash of spamguard.kernels, written plainly in Python integers."""
    mask64, found = (1 << 64) - 1, {}
    for n in range(space.char_min, space.char_max + 1):
        for i in range(len(text) - n + 1):
            gram = text[i : i + n]
            if space.char_wb and " " in gram[1:-1]:
                continue
            h = 0
            for ch in gram:
                h = (h * 0x100000001B3 + ord(ch) + 1) & mask64
            h ^= h >> 33
            h = (h * 0xFF51AFD7ED558CCD) & mask64
            h ^= h >> 29
            h = (h * 0xC4CEB9FE1A85EC53) & mask64
            h ^= h >> 33
            bucket = h & (space.n_char - 1)
            found[bucket] = found.get(bucket, 0) + 1
    return found


@pytest.mark.parametrize("wb", [True, False])
@pytest.mark.parametrize("text", [" hello world ", " a bc def ghij ", " ßüñ 𝒳𝒴𝒵 😀😀 x ", "  ", " 0000 000 "])
def test_char_counts_match_the_plain_definition(text, wb):
    space = FeatureSpace(char_wb=wb)
    idx, cnt = char_counts(text, space)
    folded = re.sub(r"\d", "0", text) if space.fold_digits else text
    assert dict(zip(idx.tolist(), cnt.tolist(), strict=True)) == reference_char_buckets(folded, space)


def test_word_bounded_ngrams_have_no_space_inside():
    bounded, free = FeatureSpace(char_wb=True), FeatureSpace(char_wb=False)
    # " ab cd ": "b c" spans the words; " ab" and "ab " are a word with its padding.
    assert set(char_counts(" ab cd ", bounded)[0]) < set(char_counts(" ab cd ", free)[0])
    # " ab", "ab ", " cd", "cd ", " ab " and " cd ": a word with its padding on either side.
    assert char_counts(" ab cd ", bounded)[1].sum() == 6


def test_a_lone_surrogate_is_featurised_not_raised():
    ex = extract([Comment("abc \ud800 defg \udfff")], SPACE)
    assert len(ex.word_idx) == 3  # abc, defg, "abc defg"
