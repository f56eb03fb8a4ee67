"""Fit the linear model: features, out-of-fold calibration, thresholds."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import matthews_corrcoef, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from spamguard.comment import Comment
from spamguard.evidence import text_logit
from spamguard.features import Extracted, FeatureSpace, extract, idf_from_df, weigh
from spamguard.history import Evidence, Facts, facts
from spamguard.model import ARTIFACT_FORMAT, Model
from spamguard.signals import SIGNAL_NAMES
from training.stage import fit_stage, replay
from training.thresholds import choose_thresholds, decision_rates

log = logging.getLogger(__name__)
# Featurise in chunks so progress can be shown and peak memory stays proportional to the output.
CHUNK = 5000


class TrainingError(ValueError):
    """Training data that cannot give a usable model; the message says what to add."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and decision targets of one training run."""

    space: FeatureSpace = field(default_factory=FeatureSpace)
    C: float = 20.0
    # Naive-Bayes feature scaling (NBSVM, Wang & Manning 2012): each text column is scaled by
    # |log-count ratio| ** nb_power before the logistic regression, so n-grams that separate the
    # classes cost less of the L2 budget; 0 turns it off. The scale is learned on each fold's own
    # training rows and folded into the saved weights, so scoring is unchanged.
    nb_power: float = 0.5
    nb_alpha: float = 1.0
    folds: int = 5
    max_ham_rejected: float = 0.005
    max_spam_approved: float = 0.03
    min_per_class: int = 20
    max_cv_rows: int = 20_000
    holdout: float = 0.2
    min_source_folds: int = 3
    sgd_epochs: int = 6
    seed: int = 0


def featurize_chunks(
    comments: Sequence[Comment],
    space: FeatureSpace,
    progress: Callable[[int], None] | None = None,
    n_jobs: int = -1,
) -> list[Extracted]:
    """Extract raw features chunk by chunk, on every core for large inputs."""
    starts = range(0, len(comments), CHUNK)
    if len(starts) <= 2:
        n_jobs = 1
    tasks = (delayed(extract)(comments[s : s + CHUNK], space) for s in starts)
    chunks = []
    for chunk in Parallel(n_jobs=n_jobs, return_as="generator")(tasks):
        chunks.append(chunk)
        if progress:
            progress(len(chunk))
    return chunks


def featurize(
    comments: Sequence[Comment],
    space: FeatureSpace,
    progress: Callable[[int], None] | None = None,
    n_jobs: int = -1,
) -> Extracted:
    """Extract raw features of many comments as one batch."""
    chunks = featurize_chunks(comments, space, progress, n_jobs)
    if len(chunks) == 1:
        return chunks[0]
    ptr = _stack_ptr
    return Extracted(
        ptr([c.word_ptr for c in chunks]),
        np.concatenate([c.word_idx for c in chunks]),
        np.concatenate([c.word_cnt for c in chunks]),
        ptr([c.char_ptr for c in chunks]),
        np.concatenate([c.char_idx for c in chunks]),
        np.concatenate([c.char_cnt for c in chunks]),
        np.vstack([c.signals for c in chunks]) if chunks else np.zeros((0, len(SIGNAL_NAMES))),
    )


def _stack_ptr(ptrs: list[np.ndarray]) -> np.ndarray:
    out, base = [np.zeros(1, dtype=np.int64)], 0
    for p in ptrs:
        out.append(p[1:] + base)
        base += p[-1]
    return np.concatenate(out)


def learn_idf(chunks: list[Extracted], space: FeatureSpace) -> tuple[np.ndarray, np.ndarray]:
    """Learn the word and character idf over all chunks."""
    word_df = np.zeros(space.n_word, dtype=np.int64)
    char_df = np.zeros(space.n_char, dtype=np.int64)
    for c in chunks:
        word_df += np.bincount(c.word_idx, minlength=space.n_word)
        char_df += np.bincount(c.char_idx, minlength=space.n_char)
    n_docs = sum(len(c) for c in chunks)
    return idf_from_df(word_df, n_docs), idf_from_df(char_df, n_docs)


def stacked_matrix(
    chunks: list[Extracted], word_idf: np.ndarray, char_idf: np.ndarray, space: FeatureSpace
) -> sp.csr_matrix:
    """Build the design matrix of all chunks, emptying `chunks` as it goes.

    The final arrays are allocated once and filled chunk by chunk, so peak memory is the raw
    features plus the matrix, not twice the matrix as stacking would make it.
    """
    n_rows = sum(len(c) for c in chunks)
    nnz = sum(len(c.word_idx) + len(c.char_idx) + int(np.count_nonzero(c.signals)) for c in chunks)
    data = np.empty(nnz, dtype=np.float64)
    indices = np.empty(nnz, dtype=np.int32)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    row = at = 0
    while chunks:
        part = design_matrix(chunks.pop(0), word_idf, char_idf, space)
        data[at : at + part.nnz] = part.data
        indices[at : at + part.nnz] = part.indices
        indptr[row + 1 : row + 1 + part.shape[0]] = part.indptr[1:] + at
        row += part.shape[0]
        at += part.nnz
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, space.dim))


def design_matrix(
    ex: Extracted, word_idf: np.ndarray, char_idf: np.ndarray, space: FeatureSpace
) -> sp.csr_matrix:
    """Build the (rows × dim) TF-IDF + signal matrix the linear model is fitted on."""
    n = len(ex)
    blocks = [
        sp.csr_matrix(
            (
                weigh(ex.word_ptr, ex.word_idx, ex.word_cnt, word_idf) * space.word_weight,
                ex.word_idx,
                ex.word_ptr,
            ),
            shape=(n, space.n_word),
        ),
        sp.csr_matrix(
            (
                weigh(ex.char_ptr, ex.char_idx, ex.char_cnt, char_idf) * space.char_weight,
                ex.char_idx,
                ex.char_ptr,
            ),
            shape=(n, space.n_char),
        ),
        sp.csr_matrix(ex.signals * space.signal_weight),
    ]
    return sp.hstack(blocks, format="csr", dtype=np.float64)


def _source_groups(labels: np.ndarray, sources: list[str], config: TrainConfig) -> np.ndarray | None:
    """Number each row's source, if there are enough sources with both classes to fold by source."""
    groups = np.unique(sources, return_inverse=True)[1] if sources else np.zeros(0, dtype=int)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < config.min_source_folds:
        return None
    if any(len(set(labels[groups == g].tolist())) < 2 for g in range(n_groups)):
        return None
    return groups


def _splits(
    labels: np.ndarray, sources: list[str], config: TrainConfig
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (train, held-out) index pairs: k folds, or one stratified hold-out on large data.

    With comments from several sources (sites, files), each fold holds out whole sources: the
    out-of-fold scores then show how the model does on a site it never saw, which is what the
    calibration and the thresholds must hold for.
    """
    rows = np.arange(len(labels))
    if len(labels) > config.max_cv_rows:
        # k refits cost k times the final fit; past max_cv_rows one hold-out measures as well.
        yield tuple(
            train_test_split(rows, test_size=config.holdout, stratify=labels, random_state=config.seed)
        )
        return
    groups = _source_groups(labels, sources, config)
    if groups is not None:
        n_splits = min(config.folds, int(groups.max()) + 1)
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=config.seed)
        yield from folds.split(rows, labels, groups)
        return
    yield from StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed).split(
        rows, labels
    )


def _compact(X: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Keep only the columns some row uses (hashing leaves most buckets empty, and the solvers'
    time grows with the width), renumbering the indices in place, block by block, to spare a copy."""
    used = np.flatnonzero(np.bincount(X.indices, minlength=X.shape[1]))
    renumber = np.zeros(X.shape[1], dtype=np.int32)
    renumber[used] = np.arange(len(used), dtype=np.int32)
    indices = X.indices
    for start in range(0, len(indices), 1 << 24):
        block = indices[start : start + (1 << 24)]
        block[:] = renumber[block]
    return sp.csr_matrix((X.data, indices, X.indptr), shape=(X.shape[0], len(used)), copy=False), used


def _nb_scale(
    X: sp.csr_matrix, y: np.ndarray, text: np.ndarray, config: TrainConfig, weight: np.ndarray | None
) -> np.ndarray:
    """Return each column's Naive-Bayes scale: |log-count ratio| ** nb_power on text, 1 elsewhere.

    The ratio compares how many spam and how many ham rows (those with a non-zero weight) contain
    the column, smoothed by nb_alpha; signals keep their own scale.
    """
    scale = np.ones(X.shape[1])
    if config.nb_power == 0:
        return scale
    keep = np.ones(len(y), dtype=bool) if weight is None else weight > 0
    present = {0: np.zeros(X.shape[1]), 1: np.zeros(X.shape[1])}
    for start in range(0, X.shape[0], CHUNK):
        block = X[start : start + CHUNK]
        row_class = np.where(keep[start : start + CHUNK], y[start : start + CHUNK], -1)
        nnz_class = np.repeat(row_class, np.diff(block.indptr))
        for label, counts in present.items():
            counts += np.bincount(block.indices[nnz_class == label], minlength=X.shape[1])
    spam, ham = (present[label][text] + config.nb_alpha for label in (1, 0))
    scale[text] = np.abs(np.log(spam / spam.sum()) - np.log(ham / ham.sum())) ** config.nb_power
    # A column equally common in both classes would get 0 and could not be scaled back.
    return np.maximum(scale, 1e-6)


def _scale_columns(X: sp.csr_matrix, factor: np.ndarray) -> None:
    """Multiply X's columns by `factor` in place, in blocks (no copy of the matrix)."""
    step = 1 << 24
    for start in range(0, X.nnz, step):
        X.data[start : start + step] *= factor[X.indices[start : start + step]]


def _fit_linear(
    X: sp.csr_matrix,
    y: np.ndarray,
    text: np.ndarray,
    config: TrainConfig,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Fit the logistic regression; return its weights on X's (unscaled) columns and its intercept.

    X is scaled in place for the fit and restored after it; `text` marks its text columns.
    """
    rows = int(np.count_nonzero(weight)) if weight is not None else len(y)
    scale = _nb_scale(X, y, text, config, weight)
    scaled = config.nb_power != 0
    if scaled:
        _scale_columns(X, scale)
    try:
        if len(y) <= config.max_cv_rows:
            clf = LogisticRegression(C=config.C, solver="liblinear", max_iter=1000).fit(
                X, y, sample_weight=weight
            )
        else:
            # liblinear copies the matrix into its own format; SGD streams over the CSR rows as
            # they are. alpha = 1 / (C n) gives the same objective as LogisticRegression(C).
            clf = SGDClassifier(
                loss="log_loss",
                alpha=1.0 / (config.C * rows),
                max_iter=config.sgd_epochs,
                tol=None,
                average=True,
                random_state=config.seed,
            ).fit(X, y, sample_weight=weight)
    finally:
        if scaled:
            _scale_columns(X, 1.0 / scale)
    return clf.coef_[0].astype(np.float64) * scale, float(clf.intercept_[0])


def check_labels(labels: np.ndarray, config: TrainConfig) -> None:
    """Refuse data with too few examples of either class."""
    n_spam, n_ham = int((labels == 1).sum()), int((labels == 0).sum())
    if min(n_spam, n_ham) < config.min_per_class:
        raise TrainingError(
            f"training needs at least {config.min_per_class} labelled examples of each class; "
            f"got {n_spam} spam and {n_ham} ham: add labelled comments"
        )


def fit_model(
    comments: Sequence[Comment],
    config: TrainConfig | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    stream: Sequence[Comment] | None = None,
) -> Model:
    """Fit a model on labelled comments; thresholds and calibration come from out-of-fold scores.

    The second stage (training/stage.py) reads each row's history from `stream`, the comments as
    they arrived (default: `comments`; `train` passes them before de-duplication), in time order.
    """
    config = config or TrainConfig()
    comments = [c for c in comments if c.label is not None]
    labels = np.array([c.label for c in comments], dtype=np.int64)
    check_labels(labels, config)
    space = config.space
    chunks = featurize_chunks(comments, space, progress)
    word_idf, char_idf = learn_idf(chunks, space)
    X = stacked_matrix(chunks, word_idf, char_idf, space)

    X, used = _compact(X)
    text = used < space.n_word + space.n_char
    large = len(labels) > config.max_cv_rows
    oof, held_out = np.zeros(len(labels)), np.zeros(len(labels), dtype=bool)
    folds = np.full(len(labels), -1)
    sources = [c.source or "" for c in comments]
    for k, (train_idx, test_idx) in enumerate(_splits(labels, sources, config)):
        folds[test_idx] = k
        if large:
            # One hold-out on large data: zero weights keep its rows out without copying X.
            weight = np.ones(len(labels))
            weight[test_idx] = 0.0
            w, intercept = _fit_linear(X, labels, text, config, weight)
        else:
            w, intercept = _fit_linear(X[train_idx], labels[train_idx], text, config)
        oof[test_idx] = X[test_idx] @ w + intercept
        held_out[test_idx] = True
    all_oof = oof
    oof, oof_labels = oof[held_out], labels[held_out]
    platt = LogisticRegression(C=1e4).fit(oof.reshape(-1, 1), oof_labels)
    calibration = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
    oof_probs = expit(calibration[0] * oof + calibration[1])
    text_logits = np.array([text_logit(p) for p in expit(calibration[0] * all_oof + calibration[1])])
    stage, stage_metrics = fit_stage(
        text_logits,
        labels,
        folds,
        _evidence(comments, stream),
        max_ham_rejected=config.max_ham_rejected,
        max_spam_approved=config.max_spam_approved,
        n_splits=config.folds,
        seed=config.seed,
    )
    thresholds = choose_thresholds(
        oof_probs,
        oof_labels,
        max_ham_rejected=config.max_ham_rejected,
        max_spam_approved=config.max_spam_approved,
    )
    if not large:
        # Small data: refit on every row; calibration and thresholds come from the k folds.
        # Large data keeps the hold-out model itself: its calibration is exact, and the fifth of
        # the rows it did not see adds little at that size.
        w, intercept = _fit_linear(X, labels, text, config)
    coef = np.zeros(space.dim)
    coef[used] = w
    artifact = {
        "format": ARTIFACT_FORMAT,
        "space": space.to_dict(),
        "word_idf": word_idf,
        "char_idf": char_idf,
        "coef": coef,
        "intercept": intercept,
        "calibration": list(calibration),
        "thresholds": thresholds.to_dict(),
        "stage": stage.to_dict(),
    }
    metrics = {
        "oof_roc_auc": float(roc_auc_score(oof_labels, oof_probs)),
        "oof_mcc_at_0.5": float(matthews_corrcoef(oof_labels, oof_probs >= 0.5)),
        "oof_decisions": decision_rates(oof_probs, oof_labels, thresholds),
        "oof_rows": int(held_out.sum()),
        "folds": config.folds if held_out.all() else "holdout",
        "folds_by_source": held_out.all() and _source_groups(labels, sources, config) is not None,
        "stage": stage_metrics,
    }
    config_dict = asdict(config)
    return Model(artifact, {"metrics": metrics, "config": config_dict})


def _evidence(comments: Sequence[Comment], stream: Sequence[Comment] | None) -> list[tuple[Facts, Evidence]]:
    """Return each comment's facts and history evidence, replaying `stream` (or the comments)."""
    if stream is None:
        return replay(comments)
    by_row = {id(c): e for c, e in zip(stream, replay(stream), strict=True)}
    return [by_row.get(id(c)) or (facts(c), Evidence()) for c in comments]
