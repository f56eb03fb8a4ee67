"""Tests for the large-data path of training: one hold-out and SGD instead of k folds and liblinear."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from test_fit import TINY, labelled

from spamguard.comment import parse_record
from training.fit import featurize, fit_model


def test_large_data_uses_one_holdout_and_still_calibrates():
    comments = labelled(120, 180)
    config = replace(TINY, max_cv_rows=100, holdout=0.25)
    model = fit_model(comments, config)
    metrics = model.manifest["metrics"]
    assert metrics["folds"] == "holdout"
    assert metrics["oof_rows"] == 75  # a quarter of 300 rows, stratified
    probs = model.predict_proba(comments)
    labels = np.array([c.label for c in comments])
    assert probs[labels == 1].mean() > 0.5 > probs[labels == 0].mean()
    assert model.thresholds.approve_below <= model.thresholds.reject_at


def test_small_data_uses_k_folds_over_every_row():
    comments = labelled(40, 60)
    metrics = fit_model(comments, TINY).manifest["metrics"]
    assert metrics["folds"] == TINY.folds
    assert metrics["oof_rows"] == 100


def test_parallel_featurising_matches_serial():
    comments = [parse_record({"content": f"comment number {i} visit http://example{i % 7}.com"})
                for i in range(10_500)]  # fmt: skip
    serial = featurize(comments, TINY.space, n_jobs=1)
    parallel = featurize(comments, TINY.space, n_jobs=2)
    for name in ("word_ptr", "word_idx", "word_cnt", "char_ptr", "char_idx", "char_cnt", "signals"):
        np.testing.assert_array_equal(getattr(serial, name), getattr(parallel, name))


def test_folds_hold_out_whole_sources_when_there_are_several():
    comments = labelled(60, 60)
    sourced = [replace(c, source=f"site-{i % 4}") for i, c in enumerate(comments)]
    assert fit_model(sourced, TINY).manifest["metrics"]["folds_by_source"] is True
    assert fit_model(comments, TINY).manifest["metrics"]["folds_by_source"] is False
