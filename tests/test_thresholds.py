"""Tests for training.thresholds: the narrowest hold band that meets both error targets."""

from __future__ import annotations

import numpy as np
import pytest

from spamguard.policy import APPROVE, HOLD, REJECT, Thresholds, decide
from training.thresholds import choose_thresholds, decision_rates


def synthetic(n_ham: int, n_spam: int, seed: int, overlap: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Scores of ham around 0.2 and spam around 0.8; `overlap` > 1 widens both."""
    rng = np.random.default_rng(seed)
    ham = rng.beta(2 / overlap, 8 / overlap, n_ham)
    spam = rng.beta(8 / overlap, 2 / overlap, n_spam)
    return np.concatenate([ham, spam]), np.concatenate([np.zeros(n_ham, int), np.ones(n_spam, int)])


TARGETS = [(0.005, 0.03), (0.0, 0.0), (0.01, 0.2), (0.1, 0.01)]


@pytest.mark.parametrize("max_ham_rejected, max_spam_approved", TARGETS)
@pytest.mark.parametrize(
    "seed, n_ham, n_spam, overlap", [(0, 5000, 1000, 1.0), (1, 300, 3000, 2.0), (2, 50, 50, 3.0)]
)
def test_targets_are_met(seed, n_ham, n_spam, overlap, max_ham_rejected, max_spam_approved):
    probs, labels = synthetic(n_ham, n_spam, seed, overlap)
    t = choose_thresholds(
        probs, labels, max_ham_rejected=max_ham_rejected, max_spam_approved=max_spam_approved
    )
    rates = decision_rates(probs, labels, t)
    assert rates["ham_rejected"] <= max_ham_rejected
    assert rates["spam_approved"] <= max_spam_approved
    assert 0.0 <= t.approve_below <= t.reject_at <= 1.0


@pytest.mark.parametrize("max_ham_rejected, max_spam_approved", TARGETS)
def test_the_band_is_the_narrowest(max_ham_rejected, max_spam_approved):
    probs, labels = synthetic(4000, 4000, seed=3, overlap=2.0)
    t = choose_thresholds(
        probs, labels, max_ham_rejected=max_ham_rejected, max_spam_approved=max_spam_approved
    )
    assert t.approve_below < t.reject_at  # these overlapping classes need a hold band
    ham, spam = probs[labels == 0], probs[labels == 1]
    # Rejecting from the next ham score down would reject too much ham ...
    lower_reject = ham[ham < t.reject_at].max()
    wider = decision_rates(probs, labels, Thresholds(min(t.approve_below, lower_reject), lower_reject))
    assert wider["ham_rejected"] > max_ham_rejected
    # ... and approving up to the next spam score would approve too much spam.
    higher_approve = float(np.nextafter(spam[spam >= t.approve_below].min(), 2.0))
    wider = decision_rates(probs, labels, Thresholds(higher_approve, max(t.reject_at, higher_approve)))
    assert wider["spam_approved"] > max_spam_approved


def test_looser_targets_never_widen_the_band():
    probs, labels = synthetic(3000, 3000, seed=4, overlap=2.0)
    strict = choose_thresholds(probs, labels, max_ham_rejected=0.001, max_spam_approved=0.01)
    loose = choose_thresholds(probs, labels, max_ham_rejected=0.02, max_spam_approved=0.1)
    assert loose.reject_at <= strict.reject_at and loose.approve_below >= strict.approve_below
    held = [decision_rates(probs, labels, t)["held"] for t in (strict, loose)]
    assert held[1] <= held[0]


def test_separable_scores_need_no_hold_band():
    rng = np.random.default_rng(5)
    probs = np.concatenate([rng.uniform(0.0, 0.3, 500), rng.uniform(0.7, 1.0, 500)])
    labels = np.repeat([0, 1], 500)
    t = choose_thresholds(probs, labels)
    assert t.approve_below == t.reject_at
    assert 0.3 < t.approve_below < 0.7
    assert decision_rates(probs, labels, t) == {"ham_rejected": 0.0, "spam_approved": 0.0, "held": 0.0}


def test_ties_are_held_rather_than_misjudged():
    probs = np.full(200, 0.5)
    labels = np.repeat([0, 1], 100)
    t = choose_thresholds(probs, labels, max_ham_rejected=0.0, max_spam_approved=0.0)
    assert decision_rates(probs, labels, t) == {"ham_rejected": 0.0, "spam_approved": 0.0, "held": 1.0}


def test_ham_at_probability_one_is_not_rejected():
    probs = np.concatenate([np.linspace(0.0, 0.5, 990), np.ones(10), np.linspace(0.5, 1.0, 1000)])
    labels = np.concatenate([np.zeros(1000, int), np.ones(1000, int)])
    t = choose_thresholds(probs, labels, max_ham_rejected=0.005, max_spam_approved=0.03)
    assert decision_rates(probs, labels, t)["ham_rejected"] <= 0.005


def test_decision_rates():
    probs = np.array([0.1, 0.5, 0.9, 0.2, 0.95])
    labels = np.array([0, 0, 0, 1, 1])
    rates = decision_rates(probs, labels, Thresholds(0.3, 0.8))
    assert rates == pytest.approx({"ham_rejected": 1 / 3, "spam_approved": 1 / 2, "held": 1 / 5})
    only_ham = decision_rates(np.array([0.1, 0.9]), np.array([0, 0]), Thresholds(0.3, 0.8))
    assert only_ham == {"ham_rejected": 0.5, "spam_approved": 0.0, "held": 0.0}
    assert decision_rates(np.array([]), np.array([]), Thresholds(0.3, 0.8))["held"] == 0.0


def test_decide_boundaries():
    t = Thresholds(0.3, 0.8)
    assert [decide(s, t) for s in (0.0, 0.2999, 0.3, 0.7999, 0.8, 1.0)] == [
        APPROVE, APPROVE, HOLD, HOLD, REJECT, REJECT,
    ]  # fmt: skip
    assert [decide(s, Thresholds(0.5, 0.5)) for s in (0.4999, 0.5)] == [APPROVE, REJECT]


@pytest.mark.parametrize("approve_below, reject_at", [(0.8, 0.3), (-0.1, 0.5), (0.5, 2.1), (1.1, 1.5)])
def test_thresholds_must_be_ordered_probabilities(approve_below, reject_at):
    with pytest.raises(ValueError, match="0 <= approve_below <= 1 and approve_below <= reject_at <= 2"):
        Thresholds(approve_below, reject_at)
