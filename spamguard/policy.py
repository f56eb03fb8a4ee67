"""Decision policy: a probability and rule hits in, approve / hold / reject out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from spamguard.comment import Comment

APPROVE, HOLD, REJECT = "approve", "hold", "reject"
DECISIONS = (APPROVE, HOLD, REJECT)

# Humans need at least a few seconds to read a post and type a comment; a form posted
# faster than this was filled by a script.
MIN_HUMAN_TIME_ON_PAGE_MS = 1500


class Reason(NamedTuple):
    """One named piece of evidence; positive weight pushes towards spam.

    A named tuple rather than a dataclass: a /score builds about ten, and a tuple is built faster.
    """

    signal: str
    weight: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the reason as the JSON object of the contract."""
        return {"signal": self.signal, "weight": round(self.weight, 4), "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores below `approve_below` approve, at or above `reject_at` reject, between hold."""

    approve_below: float
    reject_at: float

    def __post_init__(self) -> None:
        # reject_at may exceed 1: no score reaches it, so nothing is rejected by score alone.
        if not 0.0 <= self.approve_below <= 1.0 or not self.approve_below <= self.reject_at <= 2.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= approve_below <= 1 and approve_below <= reject_at <= 2, "
                f"got {self.approve_below} and {self.reject_at}"
            )

    def to_dict(self) -> dict[str, float]:
        """Return the thresholds as plain floats."""
        # Not dataclasses.asdict: its deep copy costs ~10 µs on every stored comment.
        return {"approve_below": self.approve_below, "reject_at": self.reject_at}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What scoring one comment decided, and why."""

    decision: str
    score: float
    reasons: list[Reason] = field(default_factory=list)
    model_version: str | None = None
    id: str | None = None
    thresholds: Thresholds | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as the JSON object of the contract."""
        return {
            "id": self.id,
            "decision": self.decision,
            "score": round(self.score, 6),
            "reasons": [r.to_dict() for r in self.reasons],
            "model_version": self.model_version,
        }


def decide(score: float, thresholds: Thresholds) -> str:
    """Map a spam probability to a decision with the given thresholds."""
    if score >= thresholds.reject_at:
        return REJECT
    if score < thresholds.approve_below:
        return APPROVE
    return HOLD


def rule_hits(comment: Comment) -> list[Reason]:
    """Return the blatant rule hits that reject a comment without asking the model."""
    hits = []
    if comment.honeypot:
        hits.append(Reason("rule:honeypot_filled", 10.0, "the hidden form field was filled in"))
    return hits


def unscored(comment: Comment, why: str, model_version: str | None = None) -> Verdict:
    """Decide a comment that could not be scored: reject on a rule hit, otherwise hold."""
    hits = rule_hits(comment)
    if hits:
        return Verdict(REJECT, 1.0, hits, model_version, comment.id)
    return Verdict(HOLD, 0.5, [Reason("system:unscored", 0.0, why)], model_version, comment.id)
