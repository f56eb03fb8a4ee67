"""The second stage: replay the training rows through the history in time order, fit [text, evidence].

Each source (site, else file) is replayed on its own, oldest first (`created_at`; a row without a
date keeps its place after the dated row before it; a source without dates keeps its file order),
through the same `history.facts`, `history.lookup` and `history.record` as /score, against a
throw-away SQLite store. A row is looked up before it is recorded, so its evidence comes from the
rows before it only; earlier rows' labels act as the moderator's verdicts.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from spamguard import history
from spamguard.comment import Comment
from spamguard.evidence import FEATURES, Stage, features
from spamguard.history import Evidence, Facts
from spamguard.policy import APPROVE, HOLD, REJECT
from spamguard.store import Store
from training.thresholds import choose_thresholds, decision_rates

# Link domains kept in the model (the most frequent in training): bounds the manifest and memory.
MAX_DOMAINS = 2000
STAGE_C = 1.0  # inverse regularisation of the stage's logistic regression (9 weights, many rows)
# The sign each weight may take (+1 at least 0, -1 at most 0, 0 either), text first: evidence of
# spam may never lower a score, nor evidence of legitimate comments raise it. Without this the fit
# may learn that a spam domain lowers the score when the text model already over-counts links,
# which a spammer could use.
SIGNS = {
    "text": 1,
    "near_duplicate_spam": 1,
    "near_duplicates": 0,
    "campaign": 1,
    "domain_spam": 1,
    "domain_legit": -1,
    "sender_spam": 1,
    "sender_legit": -1,
    "link_domain": 1,
}


def timeline(comments: Sequence[Comment]) -> list[tuple[str, float, int]]:
    """Return (site, time, row) for every row, in replay order within each site."""
    out: list[tuple[str, float, int]] = []
    last: dict[str, float] = {}
    for n, c in enumerate(comments):
        site = c.site or c.source or ""
        if c.created_at is not None:
            at = c.created_at.replace(tzinfo=c.created_at.tzinfo or UTC).timestamp()
            last[site] = at
        elif site not in last:
            first = next((d.created_at for d in comments[n:] if (d.site or d.source or "") == site
                          and d.created_at is not None), None)  # fmt: skip
            last[site] = first.replace(tzinfo=first.tzinfo or UTC).timestamp() if first else 0.0
        out.append((site, last[site], n))
    out.sort()
    return out


def replay(comments: Sequence[Comment]) -> list[tuple[Facts, Evidence]]:
    """Return each row's facts and the evidence the history held for it when it arrived."""
    found = [history.facts(c) for c in comments]
    out: list[tuple[Facts, Evidence]] = [(f, Evidence()) for f in found]
    with tempfile.TemporaryDirectory(prefix="spamguard-replay-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'history.db'}")
        try:
            store.upgrade()
            store.execute("PRAGMA synchronous=OFF")  # a throw-away file: no need to survive a crash
            for site, at, n in timeline(comments):
                ev = history.lookup(store, site, found[n], now=at)
                out[n] = (found[n], ev)
                label = comments[n].label
                decision = REJECT if label == 1 else APPROVE if label == 0 else HOLD
                history.record(store, site, str(n), found[n], decision, now=at)
        finally:
            store.close()
    return out


def domain_counts(found: Sequence[Facts], labels: np.ndarray, rows: np.ndarray) -> dict[str, tuple[int, int]]:
    """Count, per link domain, the spam and legitimate rows among `rows` that link to it."""
    spam: Counter[str] = Counter()
    ham: Counter[str] = Counter()
    for n in rows:
        for kind, value in found[n].keys:
            if kind == "link_domain":
                (spam if labels[n] == 1 else ham)[value] += 1
    return {d: (spam[d], ham[d]) for d in spam.keys() | ham.keys()}


def top_domains(counts: dict[str, tuple[int, int]], n: int = MAX_DOMAINS) -> dict[str, tuple[int, int]]:
    """Keep the `n` domains seen most often (ties by name, so the choice is deterministic)."""
    return dict(sorted(counts.items(), key=lambda kv: (-sum(kv[1]), kv[0]))[:n])


def fit_logistic(X: np.ndarray, y: np.ndarray, c: float = STAGE_C) -> tuple[np.ndarray, float]:
    """Fit an L2 logistic regression (sklearn's objective for C) with each weight's sign as in SIGNS."""
    bounds = [(0.0, None) if s > 0 else (None, 0.0) if s < 0 else (None, None)
              for s in (SIGNS[n] for n in ("text", *FEATURES))] + [(None, None)]  # fmt: skip

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        z = X @ w + b
        residual = expit(z) - y
        loss = c * float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * float(w @ w)
        return loss, np.append(c * (X.T @ residual) + w, c * residual.sum())

    found = minimize(objective, np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return found.x[:-1], float(found.x[-1])


def stage_matrix(
    text_logits: np.ndarray, labels: np.ndarray, folds: np.ndarray, evidence: Sequence[tuple[Facts, Evidence]]
) -> np.ndarray:
    """Return [text log-odds, *FEATURES] of the held-out rows (`folds` >= 0), in row order.

    The domain weights of a row in fold k are counted on the rows outside fold k only.
    """
    held = np.flatnonzero(folds >= 0)
    found = [f for f, _ in evidence]
    X = np.zeros((len(held), 1 + len(FEATURES)))
    for k in np.unique(folds[held]):
        table = top_domains(domain_counts(found, labels, np.flatnonzero(folds != k)))
        for j in np.flatnonzero(folds[held] == k):
            n = held[j]
            X[j, 0] = text_logits[n]
            X[j, 1:] = features(evidence[n][1], found[n], table)[0]
    return X


def fit_stage(
    text_logits: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    evidence: Sequence[tuple[Facts, Evidence]],
    *,
    max_ham_rejected: float,
    max_spam_approved: float,
    n_splits: int = 5,
    seed: int = 0,
) -> tuple[Stage, dict[str, object]]:
    """Fit the stage on the held-out rows (`folds` >= 0) from their out-of-fold text log-odds.

    A row's learned domain weight counts only rows outside its fold, so it never sees its own label;
    the thresholds are chosen on stage scores cross-fitted over the held-out rows.
    """
    held = np.flatnonzero(folds >= 0)
    found = [f for f, _ in evidence]
    X = stage_matrix(text_logits, labels, folds, evidence)
    y = labels[held]
    crossed = np.zeros(len(held))
    n_splits = max(2, min(n_splits, int(np.bincount(y, minlength=2).min())))
    for train, test in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y):
        w, b = fit_logistic(X[train], y[train])
        crossed[test] = expit(X[test] @ w + b)
    thresholds = choose_thresholds(
        crossed, y, max_ham_rejected=max_ham_rejected, max_spam_approved=max_spam_approved
    )
    w, b = fit_logistic(X, y)
    table = top_domains(domain_counts(found, labels, np.arange(len(labels))))
    stage = Stage(tuple(float(c) for c in w), b, thresholds, table)
    fired = (X[:, 1:] != 0).sum(axis=0)
    metrics: dict[str, object] = {
        "oof_roc_auc": float(roc_auc_score(y, crossed)),
        "oof_decisions": decision_rates(crossed, y, thresholds),
        "coef": dict(zip(["text", *FEATURES], stage.coef, strict=True)),
        "rows_with_feature": dict(zip(FEATURES, (int(v) for v in fired), strict=True)),
        "domains": len(table),
    }
    return stage, metrics
