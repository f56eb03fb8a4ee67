"""Evaluate a model on labelled comments: ranking quality, decisions, worst mistakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, matthews_corrcoef, precision_score, recall_score, roc_auc_score

from spamguard.comment import Comment
from spamguard.model import Model
from spamguard.policy import DECISIONS, Verdict
from training.thresholds import decision_rates

WORST = 10


def evaluate(
    model: Model, comments: Sequence[Comment], progress: Callable[[int], None] | None = None
) -> tuple[dict[str, Any], list[Verdict]]:
    """Score labelled comments and return the metrics with every verdict (`progress`: as score_many's)."""
    comments = [c for c in comments if c.label is not None]
    if not comments:
        raise ValueError("no labelled comments to evaluate on: give files with a label column")
    verdicts = model.score_many(comments, progress)
    labels = np.array([c.label for c in comments])
    probs = np.array([v.score for v in verdicts])
    both = len(set(labels.tolist())) == 2
    predicted = probs >= 0.5
    matrix = {
        label: {
            d: sum(1 for v, y in zip(verdicts, labels, strict=True) if y == code and v.decision == d)
            for d in DECISIONS
        }
        for label, code in (("ham", 0), ("spam", 1))
    }
    metrics: dict[str, Any] = {
        "model_version": model.version,
        "rows": len(comments),
        "spam": int(labels.sum()),
        "ham": int((labels == 0).sum()),
        "roc_auc": float(roc_auc_score(labels, probs)) if both else None,
        "mcc_at_0.5": float(matthews_corrcoef(labels, predicted)) if both else None,
        "precision_at_0.5": float(precision_score(labels, predicted, zero_division=0)),
        "recall_at_0.5": float(recall_score(labels, predicted, zero_division=0)),
        "f1_at_0.5": float(f1_score(labels, predicted, zero_division=0)),
        "thresholds": model.thresholds.to_dict(),
        "decisions": decision_rates(probs, labels, model.thresholds),
        "matrix": matrix,
    }
    return metrics, verdicts


def worst_mistakes(
    comments: Sequence[Comment], verdicts: Sequence[Verdict], n: int = WORST
) -> list[tuple[Comment, Verdict]]:
    """Return the labelled comments the model got most confidently wrong."""
    pairs = [(c, v) for c, v in zip(comments, verdicts, strict=True) if c.label is not None]
    wrong = [(abs(v.score - c.label), c, v) for c, v in pairs if (v.score >= 0.5) != bool(c.label)]  # type: ignore[operator]
    wrong.sort(key=lambda t: -t[0])
    return [(c, v) for _, c, v in wrong[:n]]


def format_metrics(metrics: dict[str, Any]) -> str:
    """Render metrics as a short human-readable table."""
    d = metrics["decisions"]
    lines = [
        f"model        {metrics['model_version']}",
        f"rows         {metrics['rows']} ({metrics['spam']} spam, {metrics['ham']} ham)",
        f"ROC AUC      {_fmt(metrics['roc_auc'])}",
        f"MCC @0.5     {_fmt(metrics['mcc_at_0.5'])}",
        f"F1 @0.5      {_fmt(metrics['f1_at_0.5'])}  (precision {_fmt(metrics['precision_at_0.5'])}, "
        f"recall {_fmt(metrics['recall_at_0.5'])})",
        f"decisions    ham rejected {d['ham_rejected']:.2%}, spam approved {d['spam_approved']:.2%}, "
        f"held {d['held']:.2%}",
        "             " + "  ".join(f"{k:>8}" for k in DECISIONS),
    ]
    for label, row in metrics["matrix"].items():
        lines.append(f"  {label:<10} " + "  ".join(f"{row[k]:>8}" for k in DECISIONS))
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
