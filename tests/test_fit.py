"""Tests for training: fitting refuses too little data, and a crash never leaves a half-written model."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import demo_records
from sklearn.linear_model import LogisticRegression

from spamguard import registry
from spamguard.comment import Comment, parse_record
from spamguard.features import FeatureSpace, extract
from spamguard.model import load_model
from training import fit
from training.artifacts import write_version
from training.fit import TrainConfig, TrainingError, design_matrix, featurize, fit_model
from training.pipeline import dedupe, summary, train

TINY = TrainConfig(space=FeatureSpace(word_bits=10, char_bits=11), C=1.0, folds=3)


def labelled(n_spam: int, n_ham: int) -> list[Comment]:
    """Distinct labelled comments (the synthetic templates repeat, so each gets a number)."""
    records = demo_records(2 * max(n_spam, n_ham) + 2)
    chosen = [r for r in records if r["label"] == "spam"][:n_spam] + [
        r for r in records if r["label"] == "ham"
    ][:n_ham]
    return [parse_record({**r, "content": f"{r['content']} ({i})"}) for i, r in enumerate(chosen)]


def snapshot(root: Path) -> dict[str, object]:
    """Everything a reader of the registry can see."""
    return {
        "current": (root / registry.CURRENT).read_bytes(),
        "versions": sorted(os.listdir(root / registry.VERSIONS)),
        "history": (root / registry.HISTORY).read_bytes(),
    }


# --- refusing to train --------------------------------------------------------------------------------


@pytest.mark.parametrize("n_spam, n_ham", [(19, 40), (40, 19), (0, 100), (5, 5)])
def test_refuses_fewer_than_20_of_either_class(n_spam, n_ham):
    with pytest.raises(TrainingError) as info:
        fit_model(labelled(n_spam, n_ham), TINY)
    assert str(info.value) == (
        f"training needs at least 20 labelled examples of each class; got {n_spam} spam and {n_ham} ham: "
        "add labelled comments"
    )


def test_unlabelled_comments_do_not_count():
    comments = labelled(19, 40) + [Comment("Buy now http://bit.ly/x")] * 10
    with pytest.raises(TrainingError, match="got 19 spam and 40 ham"):
        fit_model(comments, TINY)


def test_duplicates_do_not_count(tmp_path):
    spam = [Comment("Buy cheap pills at http://bit.ly/x", label=1)] * 30
    with pytest.raises(TrainingError, match="got 1 spam and 40 ham"):
        train(spam + labelled(0, 40), [], tmp_path / "models", TINY)
    assert not (tmp_path / "models").exists()


def test_the_minimum_is_configurable():
    with pytest.raises(TrainingError, match="at least 50 labelled"):
        fit_model(labelled(40, 40), replace(TINY, min_per_class=50))


# --- fitting ------------------------------------------------------------------------------------------


def test_fit_gives_a_calibrated_model_with_thresholds():
    model = fit_model(labelled(40, 40), TINY)
    assert model.coef.shape == (TINY.space.dim,)
    assert 0.0 <= model.thresholds.approve_below <= model.thresholds.reject_at <= 1.0
    metrics = model.manifest["metrics"]
    assert 0.5 <= metrics["oof_roc_auc"] <= 1.0
    assert set(metrics["oof_decisions"]) == {"ham_rejected", "spam_approved", "held"}
    assert model.manifest["config"]["C"] == TINY.C
    probs = model.predict_proba(labelled(40, 40))
    assert probs[:40].mean() > probs[40:].mean()


def test_featurize_in_chunks_equals_one_batch(monkeypatch):
    comments = labelled(10, 10)
    whole = extract(comments, TINY.space)
    monkeypatch.setattr(fit, "CHUNK", 10)  # two chunks
    seen = []
    chunked = featurize(comments, TINY.space, progress=seen.append)
    assert seen == [10, 10]
    for name in ("word_ptr", "word_idx", "word_cnt", "char_ptr", "char_idx", "char_cnt", "signals"):
        assert np.array_equal(getattr(chunked, name), getattr(whole, name)), name


def test_design_matrix_shape_and_rows():
    comments = labelled(3, 3)
    space = TINY.space
    ex = extract(comments, space)
    X = design_matrix(ex, np.ones(space.n_word), np.ones(space.n_char), space)
    assert X.shape == (6, space.dim)
    text = X[:, : space.n_word + space.n_char]
    assert np.allclose(np.sqrt(text[:, : space.n_word].multiply(text[:, : space.n_word]).sum(axis=1)), 1.0)
    assert np.array_equal(X[:, space.n_word + space.n_char :].toarray(), ex.signals)


# --- Naive-Bayes scaling --------------------------------------------------------------------------------


def _toy_matrix() -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Four columns: spam-only, ham-only, in every row, and a signal; rows 0-2 spam, 3-5 ham."""
    X = sp.csr_matrix(
        np.array(
            [
                [1.0, 0.0, 0.5, 2.0],
                [0.7, 0.0, 0.5, 0.0],
                [0.9, 0.0, 0.5, 1.0],
                [0.0, 0.8, 0.5, 0.0],
                [0.0, 0.6, 0.5, 3.0],
                [0.0, 0.9, 0.5, 0.0],
            ]
        )
    )
    return X, np.array([1, 1, 1, 0, 0, 0]), np.array([True, True, True, False])


def test_nb_scale_weighs_text_columns_by_how_they_separate_the_classes():
    X, y, text = _toy_matrix()
    scale = fit._nb_scale(X, y, text, TrainConfig(nb_power=1.0, nb_alpha=1.0), None)
    # Rows containing each text column, per class, plus nb_alpha; as shares of their class's total.
    spam, ham = np.array([3, 0, 3]) + 1.0, np.array([0, 3, 3]) + 1.0
    expected = np.abs(np.log(spam / spam.sum()) - np.log(ham / ham.sum()))
    assert np.allclose(scale[:3], np.maximum(expected, 1e-6))
    assert scale[0] == pytest.approx(scale[1]) and scale[0] > 1.0
    assert scale[2] == pytest.approx(1e-6)  # as common in spam as in ham: no evidence either way
    assert scale[3] == 1.0  # signals keep their own scale


def test_nb_scale_power_zero_is_off_and_zero_weight_rows_do_not_count():
    X, y, text = _toy_matrix()
    assert np.array_equal(fit._nb_scale(X, y, text, TrainConfig(nb_power=0.0), None), np.ones(4))
    config = TrainConfig(nb_power=1.0)
    weight = np.array([1, 1, 1, 0, 1, 1.0])
    dropped = fit._nb_scale(X, y, text, config, weight)
    without_row = fit._nb_scale(X[[0, 1, 2, 4, 5]], y[[0, 1, 2, 4, 5]], text, config, None)
    assert np.allclose(dropped, without_row)


def test_fit_linear_folds_the_scale_into_the_weights_and_restores_x():
    X, y, text = _toy_matrix()
    before = X.copy()
    config = TrainConfig(C=3.0, nb_power=0.5)
    w, intercept = fit._fit_linear(X, y, text, config)
    assert np.allclose(X.toarray(), before.toarray(), rtol=1e-12)
    scale = fit._nb_scale(before, y, text, config, None)
    scaled = LogisticRegression(C=3.0, solver="liblinear", max_iter=1000).fit(before @ sp.diags(scale), y)
    assert np.allclose(before @ w + intercept, scaled.decision_function(before @ sp.diags(scale)))


def test_fit_linear_without_scaling_is_the_plain_logistic_regression():
    X, y, text = _toy_matrix()
    before = X.copy()
    w, intercept = fit._fit_linear(X, y, text, TrainConfig(C=3.0, nb_power=0.0))
    assert np.array_equal(X.data, before.data)
    plain = LogisticRegression(C=3.0, solver="liblinear", max_iter=1000).fit(before, y)
    assert np.allclose(w, plain.coef_[0]) and intercept == pytest.approx(plain.intercept_[0])


# --- the pipeline and its artifacts -------------------------------------------------------------------


def test_dedupe_keeps_the_last_label():
    a = Comment("Great  post", label=0, id="1")
    b = Comment("Great post ", label=1, id="2")
    c = Comment("Other", label=0, id="3")
    assert [x.id for x in dedupe([a, c, b])] == ["3", "2"]


def test_summary_counts_classes_and_sources():
    comments = [
        Comment("a", label=1, source="x.csv"),
        Comment("b", label=0, source="x.csv"),
        Comment("c", label=0),
    ]
    s = summary(comments)
    assert s["rows"] == 3 and s["rows_per_class"] == {"spam": 1, "ham": 2}
    assert s["rows_per_source"] == {"unknown": {"ham": 1}, "x.csv": {"spam": 1, "ham": 1}}
    assert len(s["rows_sha256"]) == 64


def test_train_writes_a_verified_current_version(tmp_path):
    data = tmp_path / "train.jsonl"
    comments = labelled(40, 40)
    data.write_text("\n".join(json.dumps(c.to_record()) for c in comments))
    version_dir = train(comments, [data], tmp_path / "models", TINY)
    root = tmp_path / "models"
    assert registry.resolve(root) == version_dir
    manifest = registry.verify(version_dir)
    assert manifest["version"] == version_dir.name
    assert manifest["data"]["rows"] == 80 and manifest["data"]["rows_per_class"] == {"spam": 40, "ham": 40}
    assert manifest["data"]["files"] == {str(data): registry.sha256_file(data)}
    assert manifest["libraries"]["scikit-learn"] and manifest["metrics"]["folds"] == 3
    assert set(manifest["thresholds"]) == {"approve_below", "reject_at"}
    assert sorted(os.listdir(version_dir)) == sorted([registry.ARTIFACT, registry.MANIFEST])
    assert load_model(root).version == version_dir.name


class Crash(Exception):
    """Stands for the process dying in the middle of a write."""


@pytest.mark.parametrize("error", [Crash, KeyboardInterrupt])
def test_a_crash_while_writing_leaves_current_untouched(registry_dir, monkeypatch, error):
    before = snapshot(registry_dir)

    def dump_half_then_die(value, filename, **kwargs):
        Path(filename).write_bytes(b"\x80\x04 half a pickle")
        raise error("killed")

    monkeypatch.setattr(joblib, "dump", dump_half_then_die)
    with pytest.raises(error):
        train(labelled(40, 40), [], registry_dir, TINY)
    assert snapshot(registry_dir) == before  # no staging directory, no new version, same CURRENT
    assert load_model(registry_dir).version == before["current"].decode().strip()


def test_a_crash_while_promoting_leaves_current_untouched(registry_dir, monkeypatch):
    before = snapshot(registry_dir)
    model = load_model(registry_dir)

    def die(path, data):
        raise Crash("killed")

    monkeypatch.setattr(registry, "write_atomic", die)
    with pytest.raises(Crash):
        write_version(registry_dir, model, {})
    after = snapshot(registry_dir)
    assert after["current"] == before["current"] and after["history"] == before["history"]
    # The new version may stay, complete and verifiable, for `spamguard models promote`.
    for name in set(after["versions"]) - set(before["versions"]):
        assert not name.startswith(".")


def test_resaving_a_loaded_model_gives_a_consistent_manifest(registry_dir, monkeypatch):
    model = load_model(registry_dir)
    monkeypatch.setattr(registry, "new_version_name", lambda digest: "resaved-" + digest[:6])
    version_dir = write_version(registry_dir, model, {})
    manifest = registry.verify(version_dir)
    assert manifest["version"] == version_dir.name == registry.current_version(registry_dir)
    assert load_model(registry_dir).version == version_dir.name
