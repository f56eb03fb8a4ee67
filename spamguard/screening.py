"""After the model: site lists, site policy and history rules decide what is answered and stored.

`screen` runs on the /score path between scoring and storing. It reads the site's lists and policy
(cached per worker: spamguard/site_policy.py) and the history (bounded, indexed queries:
spamguard/history.py), decides, and adds the comment to the history (once per site and id). It does
no network I/O. While the store cannot be reached it leaves the model's verdict as it is (and skips
the store for STORE_RETRY_S), so that a spooled comment is still scored without waiting on it.

Precedence: the honeypot rejects; then a deny-list hit rejects; then an allow-list hit or a trusted
commenter approves; otherwise the history rules may only raise the decision (approve → hold →
reject). In shadow mode all of that is decided and recorded, and the answer is `approve`.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from spamguard import history, site_policy
from spamguard.comment import Comment
from spamguard.evidence import rescore, stage_of
from spamguard.normalize import normalize
from spamguard.policy import APPROVE, REJECT, Reason, Verdict, decide
from spamguard.store import StoreError

log = logging.getLogger(__name__)

SHADOW = "policy:shadow"
# After a store error, requests skip screening this long instead of each waiting on the store again.
STORE_RETRY_S = 2.0
_down_until: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_SHADOW_TEXT = "shadow mode: answered approve, would have decided "
_TEXT_ENTRIES = ("list:deny_keyword", "list:deny_regex")


# Adds a screened comment to the history with `run` of the caller's Store.transaction.
HistoryWrite = Callable[[Callable[..., Any]], object]


def screen(store: Any, site: str, comment_id: str, comment: Comment, verdict: Verdict,
           now: float | None = None, model: Any = None) -> Verdict:  # fmt: skip
    """Apply the site's lists, policy and history rules to the model's verdict; record the comment."""
    verdict, write = plan(store, site, comment_id, comment, verdict, now, model)
    if write is not None:
        try:
            with store.transaction() as run:
                write(run)
        except StoreError as exc:
            log.warning("could not add %s/%s to the history: %s", site, comment_id, exc)
    return verdict


def plan(store: Any, site: str, comment_id: str, comment: Comment, verdict: Verdict,
         now: float | None = None, model: Any = None) -> tuple[Verdict, HistoryWrite | None]:  # fmt: skip
    """Do what `screen` does, but return the history write instead of running it (None when the
    history could not be read): /score runs it in the transaction that stores the comment.

    When `model` (the one that gave the verdict) has a second stage, the score becomes the stage's
    combination of the text score and the history evidence (spamguard/evidence.py).
    """
    if time.monotonic() < _down_until.get(store, 0.0):
        return verdict, None
    text = normalize(comment.content)
    found = history.facts(comment, text)
    try:
        conf = site_policy.config(store, site)
        evidence = history.lookup(store, site, found, now)
    except StoreError as exc:
        log.warning("history unavailable, scoring %s/%s on its text alone: %s", site, comment_id, exc)
        _down_until[store] = time.monotonic() + STORE_RETRY_S
        return verdict, None
    policy = conf.policy(comment.comment_type)
    unscored = any(r.signal == "system:unscored" for r in verdict.reasons)
    stage = stage_of(model) if model is not None and not unscored and not comment.honeypot else None
    if stage is not None and verdict.model_version == getattr(model, "version", None):
        verdict = rescore(stage, verdict, evidence, found)
    thresholds = policy.thresholds(verdict.thresholds)
    decision = verdict.decision
    if thresholds is not None and thresholds != verdict.thresholds and not unscored and not comment.honeypot:
        decision = decide(verdict.score, thresholds)
    hits = conf.lists.match(comment, text)
    ruling = history.history_rules(evidence, policy.trusted, policy.trusted_min, policy.velocity)
    actions = {action for action, _ in hits}
    text_denied = any(a == "deny" and r.signal in _TEXT_ENTRIES for a, r in hits)
    sender_rejected = bool(comment.honeypot) or "deny" in actions and not text_denied
    if comment.honeypot or "deny" in actions:
        decision = REJECT
    elif "allow" in actions or ruling.trusted and not unscored:
        decision = APPROVE
    else:
        decision = history.stricter(decision, ruling.floor)
    reasons = history.rank([*verdict.reasons, *(r for _, r in hits), *ruling.reasons])
    answered = decision
    if policy.mode == "shadow":
        reasons.append(Reason(SHADOW, 0.0, _SHADOW_TEXT + decision))
        answered = APPROVE
    kept = history.SENDER_REJECTED if sender_rejected else decision
    screened = Verdict(answered, verdict.score, reasons, verdict.model_version, verdict.id, thresholds)
    return screened, lambda run: history.write(run, site, comment_id, found, kept, now)


def annotate(answer: dict[str, Any]) -> dict[str, Any]:
    """Add `shadow_decision` to a /score answer (fresh or stored) decided in shadow mode; return it."""
    for reason in answer.get("reasons") or ():
        if reason.get("signal") == SHADOW:
            answer["shadow_decision"] = str(reason.get("detail", "")).rsplit(" ", 1)[-1]
    return answer
