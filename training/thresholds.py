"""Choose the approve / reject thresholds from out-of-fold probabilities."""

from __future__ import annotations

import math

import numpy as np

from spamguard.policy import APPROVE, HOLD, REJECT, Thresholds, decide


def choose_thresholds(
    probs: np.ndarray, labels: np.ndarray, *, max_ham_rejected: float = 0.005, max_spam_approved: float = 0.03
) -> Thresholds:
    """Pick the narrowest hold band that rejects at most `max_ham_rejected` of ham and
    approves at most `max_spam_approved` of spam (rates measured on `probs`)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    ham = np.sort(probs[labels == 0])[::-1]
    spam = np.sort(probs[labels == 1])
    # Reject at or above a score that leaves at most k ham above it.
    k = math.floor(max_ham_rejected * len(ham) + 1e-9)
    reject_at = float(np.nextafter(ham[k], 2.0)) if k < len(ham) else 0.0
    # Approve below a score that has at most m spam under it.
    m = math.floor(max_spam_approved * len(spam) + 1e-9)
    approve_below = float(spam[m]) if m < len(spam) else 1.0
    if approve_below > reject_at and reject_at <= 1.0:
        # Both targets hold with no hold band at all: cut once, between the two.
        cut = (approve_below + reject_at) / 2.0
        return Thresholds(cut, cut)
    return Thresholds(approve_below, reject_at)


def decision_rates(probs: np.ndarray, labels: np.ndarray, thresholds: Thresholds) -> dict[str, float]:
    """Return the share of ham rejected, of spam approved and of all comments held."""
    decisions = np.array([decide(float(p), thresholds) for p in probs])
    labels = np.asarray(labels)
    ham, spam = labels == 0, labels == 1
    return {
        "ham_rejected": float(np.mean(decisions[ham] == REJECT)) if ham.any() else 0.0,
        "spam_approved": float(np.mean(decisions[spam] == APPROVE)) if spam.any() else 0.0,
        "held": float(np.mean(decisions == HOLD)) if len(decisions) else 0.0,
    }
