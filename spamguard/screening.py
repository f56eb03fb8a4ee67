"""After the model: the site's history rules turn its verdict into the decision answered and stored.

`screen` runs on the /score path between scoring and storing. It reads the history (bounded,
indexed queries: spamguard/history.py), decides, and adds the comment to the history (once per
site and id). It does no network I/O. While the store cannot be reached it leaves the model's
verdict as it is, so that a spooled comment is still scored.
"""

from __future__ import annotations

import logging
from typing import Any

from spamguard import history
from spamguard.comment import Comment
from spamguard.normalize import normalize
from spamguard.policy import APPROVE, REJECT, Verdict
from spamguard.store import StoreError

log = logging.getLogger(__name__)


def screen(store: Any, site: str, comment_id: str, comment: Comment, verdict: Verdict,
           now: float | None = None) -> Verdict:  # fmt: skip
    """Apply the history rules to the model's verdict and record the comment in the history."""
    found = history.facts(comment, normalize(comment.content))
    try:
        evidence = history.lookup(store, site, found, now)
    except StoreError as exc:
        log.warning("history unavailable, scoring %s/%s on its text alone: %s", site, comment_id, exc)
        return verdict
    unscored = any(r.signal == "system:unscored" for r in verdict.reasons)
    ruling = history.history_rules(evidence)
    decision = verdict.decision
    if comment.honeypot:
        decision = REJECT
    elif ruling.trusted and not unscored:
        decision = APPROVE
    else:
        decision = history.stricter(decision, ruling.floor)
    reasons = history.rank([*verdict.reasons, *ruling.reasons])
    try:
        kept = history.HONEYPOT if comment.honeypot else decision
        history.record(store, site, comment_id, found, kept, now)
    except StoreError as exc:
        log.warning("could not add %s/%s to the history: %s", site, comment_id, exc)
    return Verdict(decision, verdict.score, reasons, verdict.model_version, verdict.id, verdict.thresholds)


def annotate(answer: dict[str, Any]) -> dict[str, Any]:
    """Add the fields the screening adds to a /score answer (fresh or stored); return it."""
    return answer
