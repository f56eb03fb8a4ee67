"""The second stage at serving: the same evidence features as training, the combined score, old models."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest

from spamguard import evidence, history, screening
from spamguard.comment import Comment, parse_record
from spamguard.evidence import FEATURES, Stage, features, rescore, stage_of, text_logit
from spamguard.model import load_model
from spamguard.policy import APPROVE, REJECT, Thresholds, Verdict
from training import stage as training_stage

CAMPAIGN = (
    "Hey everyone check out my new channel where I post daily videos about gaming and music,"
    " please subscribe and like, it would mean a lot to me thanks"
)
PILLS = "cheap-pills.biz"


@dataclass(eq=False)
class FakeModel:
    """What screening reads of a model: its version and second stage."""

    version: str
    stage: dict[str, Any] | None


def stream() -> list[tuple[float, Comment]]:
    """A site's comments, ten minutes apart: a campaign, a spam domain, regulars with e-mails."""
    rows = []
    for i in range(12):
        if i % 3 == 0:
            record = {"content": CAMPAIGN, "author_name": f"bot{i}", "label": "spam"}
        elif i % 3 == 1:
            record = {
                "content": f"pills at http://www.{PILLS}/buy/{i} today",
                "author_ip": "192.0.2.9",
                "label": "spam",
            }
        else:
            record = {"content": f"Thanks for the write-up number {i}, it helped me fix my setup.",
                      "author_email": f"reader{i % 2}@example.org", "label": "ham"}  # fmt: skip
        rows.append((1_000_000.0 + 600 * i, parse_record({**record, "id": f"c{i}", "site": "blog"})))
    return rows


def test_training_and_screening_compute_the_same_features_for_a_stream(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A stage that decides on the text alone, so what screening records equals the labels, as in training.
    coef = (1.0,) + (0.0,) * len(FEATURES)
    st = Stage(coef, 0.0, Thresholds(0.5, 0.5), {PILLS: (7, 1)})
    model = FakeModel(version="v1", stage=st.to_dict())
    served = []
    original = evidence.features

    def spy(*args):  # type: ignore[no-untyped-def]
        out = original(*args)
        served.append(out[0])
        return out

    monkeypatch.setattr(evidence, "features", spy)
    rows = stream()
    for at, c in rows:
        verdict = Verdict(REJECT if c.label else APPROVE, 0.99 if c.label else 0.01, [], "v1", c.id)
        decided = screening.screen(store, "blog", c.id, c, verdict, now=at, model=model)
        assert decided.decision == (REJECT if c.label else APPROVE)
    monkeypatch.undo()
    trained = [
        features(ev, found, st.domains)[0] for found, ev in training_stage.replay([c for _, c in rows])
    ]
    assert served == trained
    assert (
        any(x[0] > 0 for x in trained) and any(x[3] > 0 for x in trained) and any(x[6] > 0 for x in trained)
    )
    assert any(x[5] > 0 for x in trained) and any(x[7] > 0 for x in trained)


def test_rescore_combines_the_text_score_and_names_the_learned_domain() -> None:
    coef = (1.0,) + tuple(0.5 if n == "link_domain" else 0.0 for n in FEATURES)
    st = Stage(coef, -0.25, Thresholds(0.3, 0.9), {PILLS: (14, 0)})
    comment = parse_record({"content": f"buy at http://{PILLS}/x now"})
    found = history.facts(comment)
    verdict = Verdict(APPROVE, 0.2, [], "v1", None, Thresholds(0.5, 0.95))
    out = rescore(st, verdict, history.Evidence(), found)
    weight = math.log(15)
    expected = 1 / (1 + math.exp(-(text_logit(0.2) + 0.5 * weight - 0.25)))
    assert out.score == pytest.approx(expected)
    assert out.thresholds == st.thresholds and out.decision == "hold"
    (reason,) = out.reasons
    assert reason.signal == "learned:link_domain" and reason.weight == pytest.approx(0.5 * weight)
    assert reason.detail == f"links to {PILLS}, seen in 14 spam and 0 legitimate comments in training"


def test_a_trained_model_carries_its_stage_and_old_models_screen_as_before(trained_registry, store) -> None:  # type: ignore[no-untyped-def]
    model = load_model(trained_registry)
    st = stage_of(model)
    assert isinstance(st, Stage) and Stage.from_dict(st.to_dict()) == st
    assert len(st.domains) <= training_stage.MAX_DOMAINS
    assert set(model.manifest["metrics"]["stage"]["oof_decisions"]) == {
        "ham_rejected",
        "spam_approved",
        "held",
    }
    comment = parse_record({"content": "Thanks for the garden write-up, it helped me fix my setup."})
    verdict = model.score(comment)
    old = FakeModel(version=model.version, stage=None)
    assert stage_of(old) is None
    assert screening.screen(store, "blog", "old", comment, verdict, model=old).score == verdict.score
    other = FakeModel(version=model.version, stage={**st.to_dict(), "format": 99})
    assert stage_of(other) is None  # a stage of another format: the text score, as before
    new = screening.screen(store, "fresh", "new", comment, verdict, model=model)  # no history there
    found = history.facts(comment)
    x, _ = features(history.Evidence(), found, st.domains)
    assert new.score == pytest.approx(1 / (1 + math.exp(-st.log_odds(text_logit(verdict.score), x))))
    assert new.thresholds == st.thresholds


def test_score_answers_the_combined_score(client, auth, trained_registry) -> None:  # type: ignore[no-untyped-def]
    model = load_model(trained_registry)
    st = stage_of(model)
    assert st is not None
    record = {
        "id": "s1",
        "content": "FREE iPhone giveaway!!! visit https://cheap-deals.xyz/win now, limited offer",
    }
    body = client.post("/score", json=record, headers=auth).get_json()
    comment = parse_record(record)
    x, _ = features(history.Evidence(), history.facts(comment), st.domains)
    expected = 1 / (1 + math.exp(-st.log_odds(text_logit(model.score(comment).score), x)))
    assert body["score"] == pytest.approx(expected, abs=1e-6)


def test_a_version_saved_without_a_stage_loads_and_screens_on_its_text(registry_dir, store) -> None:  # type: ignore[no-untyped-def]
    from training.artifacts import write_version

    staged = load_model(registry_dir)
    staged.stage = None  # as versions trained before the stage are
    write_version(registry_dir, staged, {})
    model = load_model(registry_dir)
    assert stage_of(model) is None
    comment = parse_record({"content": "Hot singles in your area http://bit.ly/x9z click here"})
    verdict = model.score(comment)
    out = screening.screen(store, "blog", "old-1", comment, verdict, model=model)
    assert (out.score, out.thresholds) == (verdict.score, verdict.thresholds)
    assert not any(r.signal.startswith("learned:") for r in out.reasons)
