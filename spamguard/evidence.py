"""History evidence as a few numbers, and the small second stage that adds them to the text score.

Training (training/stage.py) replays its rows in time order through the same `history` code and
turns each row's `Evidence` into numbers with `features`; screening (spamguard/screening.py) does the
same for each /score. A logistic regression fitted on [text log-odds, these numbers] gives the score
the stage's thresholds were chosen on. The stage lives in the model's artifact (`"stage"`, so its
sha256 covers it); a model without one is screened as before.

The link-domain weights are learned too: per registered link domain, how many spam and how many
legitimate training comments linked to it (moderators' verdicts are training labels), kept for the
most frequent `training.stage.MAX_DOMAINS` domains.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spamguard.history import Evidence, Facts
from spamguard.policy import Reason, Thresholds, Verdict, decide

log = logging.getLogger(__name__)

STAGE_FORMAT = 1
FEATURES = (
    "near_duplicate_spam",  # log1p(near-duplicates rejected in the last 24 h)
    "near_duplicates",  # log1p(near-duplicates in the last 24 h)
    "campaign",  # log1p(other authors among them)
    "domain_spam",  # log1p(earlier rejected comments sharing a link or author-URL domain)
    "domain_legit",  # log1p(earlier approved ones)
    "sender_spam",  # log1p(earlier rejected comments from the same IP or e-mail)
    "sender_legit",  # log1p(earlier approved ones)
    "link_domain",  # learned weight of the most spam-ward link domain (0 when none is known)
)
_DOMAINS = ("link_domain", "url_domain")
# A probability of exactly 0 or 1 has no log-odds; the text model's scores are clipped to this.
_EPS = 1e-9
MIN_REASON_WEIGHT = 0.05


def text_logit(prob: float) -> float:
    """Return the log-odds of the text model's calibrated probability (clipped away from 0 and 1)."""
    p = min(max(prob, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def domain_weight(spam: int, ham: int) -> float:
    """Return a domain's smoothed log-odds of spam: log((spam + 1) / (legitimate + 1))."""
    return math.log((spam + 1) / (ham + 1))


def features(
    ev: Evidence, found: Facts, domains: Mapping[str, tuple[int, int]]
) -> tuple[list[float], str | None]:
    """Return the FEATURES of one comment and the link domain whose learned weight is used."""
    d_spam = d_legit = s_spam = s_legit = 0
    for key in ev.keys:
        if key.kind in _DOMAINS:
            d_spam += key.rejected
            d_legit += key.approved
        else:
            s_spam += key.rejected
            s_legit += key.approved
    best, best_w = None, 0.0
    for kind, value in found.keys:
        counts = domains.get(value) if kind == "link_domain" else None
        if counts is not None:
            w = domain_weight(*counts)
            if best is None or w > best_w:
                best, best_w = value, w
    log1p = math.log1p
    x = [
        log1p(ev.near_rejected),
        log1p(ev.near_total),
        log1p(ev.near_authors),
        log1p(d_spam),
        log1p(d_legit),
        log1p(s_spam),
        log1p(s_legit),
        best_w,
    ]
    return x, best


@dataclass(frozen=True)
class Stage:
    """Weights on [text log-odds, *FEATURES], an intercept, thresholds on its output, domain counts."""

    coef: tuple[float, ...]
    intercept: float
    thresholds: Thresholds
    domains: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def log_odds(self, text: float, x: Sequence[float]) -> float:
        """Return the stage's log-odds from the text log-odds and the features."""
        return (
            self.coef[0] * text + sum(c * v for c, v in zip(self.coef[1:], x, strict=True)) + self.intercept
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the stage as plain data (kept in the model's artifact)."""
        return {
            "format": STAGE_FORMAT,
            "features": ["text", *FEATURES],
            "coef": list(self.coef),
            "intercept": self.intercept,
            "thresholds": self.thresholds.to_dict(),
            "domains": {d: list(c) for d, c in self.domains.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stage:
        """Read a stage written by `to_dict`; ValueError when it is of another format."""
        if data.get("format") != STAGE_FORMAT or list(data.get("features", ())) != ["text", *FEATURES]:
            raise ValueError("a second stage of another format")
        coef = tuple(float(c) for c in data["coef"])
        if len(coef) != 1 + len(FEATURES):
            raise ValueError("second-stage weights do not match its features")
        domains = {str(d): (int(c[0]), int(c[1])) for d, c in dict(data.get("domains") or {}).items()}
        return cls(coef, float(data["intercept"]), Thresholds(**data["thresholds"]), domains)


_stages: weakref.WeakKeyDictionary[Any, Stage | None] = weakref.WeakKeyDictionary()


def stage_of(model: Any) -> Stage | None:
    """Return a model's second stage (read once per model object), or None if it has none."""
    try:
        return _stages[model]
    except KeyError:
        pass
    data = getattr(model, "stage", None)
    stage = None
    if data:
        try:
            stage = Stage.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("model %s: second stage not usable, screening on the text score: %s",
                        getattr(model, "version", "?"), exc)  # fmt: skip
    _stages[model] = stage
    return stage


def _detail(name: str, ev: Evidence, found: Facts, domain: str | None, stage: Stage) -> str:
    if name == "link_domain" and domain is not None:
        spam, ham = stage.domains[domain]
        return f"links to {domain[:80]}, seen in {spam} spam and {ham} legitimate comments in training"
    if name == "near_duplicate_spam":
        return f"near-duplicate of {ev.near_rejected} comments rejected in the last 24 h"
    if name == "near_duplicates":
        return f"near-duplicate of {ev.near_total} comments in the last 24 h"
    if name == "campaign":
        return f"near-duplicates from {ev.near_authors} other authors in the last 24 h"
    kinds = _DOMAINS if name.startswith("domain") else ("ip", "email")
    outcome = "rejected" if name.endswith("spam") else "approved"
    n = sum(k.rejected if outcome == "rejected" else k.approved for k in ev.keys if k.kind in kinds)
    what = "link or author-URL domains" if name.startswith("domain") else "IP or e-mail"
    return f"{n} earlier comments with its {what} were {outcome}"


def rescore(stage: Stage, verdict: Verdict, ev: Evidence, found: Facts) -> Verdict:
    """Combine the text score with the history evidence: the stage's score, reasons and decision."""
    x, domain = features(ev, found, stage.domains)
    z = stage.log_odds(text_logit(verdict.score), x)
    score = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    reasons = list(verdict.reasons)
    for name, c, v in zip(FEATURES, stage.coef[1:], x, strict=True):
        if v and abs(c * v) >= MIN_REASON_WEIGHT:
            reasons.append(Reason(f"learned:{name}", c * v, _detail(name, ev, found, domain, stage)))
    decision = decide(score, stage.thresholds)
    return Verdict(decision, score, reasons, verdict.model_version, verdict.id, stage.thresholds)
