"""Tests for spamguard.model: one comment and a batch score the same, as the fitted matrix says."""

from __future__ import annotations

import json
import math
from pathlib import Path

import joblib
import numpy as np
import pytest
from conftest import DATASETS
from sklearn.linear_model import LogisticRegression

from spamguard import registry
from spamguard.comment import Comment, parse_record
from spamguard.features import FeatureSpace, extract, text_buckets, weigh
from spamguard.model import MAX_HAM_REASONS, MAX_SPAM_REASONS, Model, load_model
from spamguard.policy import DECISIONS, REJECT, decide
from spamguard.signals import SIGNAL_NAMES
from training.fit import design_matrix
from training.loaders import load_file

YOUTUBE = DATASETS / "youtube-spam-collection"
PER_VIDEO = 60


@pytest.fixture(scope="module")
def youtube_comments() -> list[Comment]:
    """300 real YouTube comments: the first 60 of each video (HTML, entities, U+FEFF and all)."""
    files = sorted(YOUTUBE.glob("Youtube0*.csv"))
    if not files:
        pytest.skip(f"no YouTube collection in {YOUTUBE}")
    return [c for f in files for c in load_file(f)[:PER_VIDEO]]


def sklearn_probs(model: Model, comments: list[Comment]) -> np.ndarray:
    """Score comments the way training sees them: the design matrix through a scikit-learn estimator."""
    X = design_matrix(extract(comments, model.space), model.word_idf, model.char_idf, model.space)
    clf = LogisticRegression()
    clf.coef_, clf.intercept_, clf.classes_ = (
        model.coef.reshape(1, -1),
        np.array([model.intercept]),
        np.arange(2),
    )
    decision = clf.decision_function(X)
    assert np.allclose(decision, X @ model.coef + model.intercept, rtol=0, atol=1e-9)
    return model.calibrate(decision)


def assert_parity(model: Model, comments: list[Comment]) -> None:
    one_by_one = np.array([model.score(c).score for c in comments])
    batch = model.predict_proba(comments)
    many = np.array([v.score for v in model.score_many(comments)])
    assert np.abs(one_by_one - batch).max() <= 1e-9
    assert np.abs(one_by_one - many).max() <= 1e-9
    assert np.abs(one_by_one - sklearn_probs(model, comments)).max() <= 1e-9


@pytest.mark.datasets
def test_parity_on_real_youtube_comments(demo_model, youtube_comments):
    assert len(youtube_comments) == 5 * PER_VIDEO
    assert_parity(demo_model, youtube_comments)


def test_parity_on_demo_comments(demo_model, demo_comments):
    assert_parity(demo_model, demo_comments[::5])


def test_parity_on_odd_comments(demo_model):
    odd = ["", " ", "a", "😀" * 50, "<a href='http://x.example.com'>x</a>", "ｆｒｅｅ", "x" * 100_000]
    assert_parity(demo_model, [Comment(t) for t in odd])


def test_records_and_comments_score_the_same(demo_model):
    record = {"content": "Buy now http://bit.ly/x", "author_email": "x@mailinator.com", "id": 7}
    assert demo_model.score(record) == demo_model.score(parse_record(record))


def test_verdict(demo_model, demo_registry):
    v = demo_model.score({"id": "c1", "content": "Great write-up, thanks for the postgres tips."})
    assert v.id == "c1"
    assert v.model_version == registry.current_version(demo_registry) == demo_model.version
    assert 0.0 <= v.score <= 1.0 and v.decision in DECISIONS
    assert v.decision == decide(v.score, demo_model.thresholds)
    d = v.to_dict()
    assert set(d) >= {"id", "decision", "score", "reasons", "model_version"}
    json.dumps(d)


@pytest.mark.parametrize("content", ["Buy cheap pills at http://bit.ly/x now!!! call +1 800 555 0199",
                                     "Thanks for the write-up, it helped me fix my setup."])  # fmt: skip
def test_reasons_are_sorted_spam_ward_first(demo_model, content):
    reasons = demo_model.score({"content": content, "author_email": "qwrtzp9981@mailinator.com"}).reasons
    assert reasons
    weights = [r.weight for r in reasons]
    assert weights == sorted(weights, reverse=True)
    assert len([w for w in weights if w > 0]) <= MAX_SPAM_REASONS
    assert len([w for w in weights if w < 0]) <= MAX_HAM_REASONS
    assert all(r.signal in SIGNAL_NAMES or r.signal.startswith("text:") for r in reasons)
    assert all(isinstance(r.detail, str) and r.detail for r in reasons if r.signal != "text:words")


def test_spam_evidence_is_named(demo_model):
    v = demo_model.score({"content": "Cheap pills at http://bit.ly/x", "author_email": "x@mailinator.com"})
    named = {r.signal: r.detail for r in v.reasons}
    assert named.get("link:shortener") == "bit.ly" or named.get("ident:email_disposable") == "mailinator.com"


def test_honeypot_rejects_with_a_rule_reason(demo_model):
    v = demo_model.score({"content": "Thanks for the write-up, it helped me fix my setup.", "honeypot": "x"})
    assert v.decision == REJECT
    assert v.reasons[0].signal == "rule:honeypot_filled"
    assert [r.signal for r in v.reasons].count("rule:honeypot_filled") == 1


def test_separates_demo_spam_from_ham(demo_model, demo_comments):
    probs = demo_model.predict_proba(demo_comments)
    labels = np.array([c.label for c in demo_comments])
    assert probs[labels == 1].mean() > 0.7 > 0.3 > probs[labels == 0].mean()


def test_artifact_round_trip(demo_model, demo_comments):
    copy = Model(demo_model.to_artifact())
    batch = demo_comments[:20]
    assert np.array_equal(copy.predict_proba(batch), demo_model.predict_proba(batch))
    assert copy.version == "unversioned"


def test_calibration_is_monotone_and_bounded(demo_model):
    log_odds = np.array([-1e6, -50.0, -1.0, 0.0, 1.0, 50.0, 1e6])
    with np.errstate(over="ignore"):
        p = demo_model.calibrate(log_odds)
    assert ((p >= 0) & (p <= 1)).all() and (np.diff(p) >= 0).all()
    a, b = demo_model.calibration
    assert a > 0 and math.isclose(p[3], 1 / (1 + math.exp(-b)))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(format=99), "unknown model format"),
        (lambda a: a.update(coef=a["coef"][:-1]), "do not match its feature space"),
        (lambda a: a.update(word_idf=a["word_idf"][:3]), "do not match its feature space"),
    ],
)
def test_inconsistent_artifacts_are_refused(demo_model, change, message):
    artifact = demo_model.to_artifact()
    change(artifact)
    with pytest.raises(registry.ModelError, match=message):
        Model(artifact)


def _resign(version_dir: Path) -> None:
    """Make the manifest's hash match the artifact again, as an attacker or a bad script would."""
    manifest = json.loads((version_dir / registry.MANIFEST).read_text())
    manifest["sha256"] = registry.sha256_file(version_dir / registry.ARTIFACT)
    (version_dir / registry.MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"not a pickle at all", "cannot load"),
        (["a", "list"], "is not a spamguard model"),
        ({"format": 1, "space": {}}, "not a usable spamguard model"),
    ],
)
def test_unreadable_artifacts_with_a_matching_hash_are_refused(registry_dir, payload, message):
    version_dir = registry.resolve(registry_dir)
    artifact = version_dir / registry.ARTIFACT
    if isinstance(payload, bytes):
        artifact.write_bytes(payload)
    else:
        joblib.dump(payload, artifact)
    _resign(version_dir)
    with pytest.raises(registry.ModelError, match=message):
        load_model(registry_dir)


def test_load_model_from_registry_or_version_dir(demo_registry):
    a = load_model(demo_registry)
    b = load_model(registry.resolve(demo_registry))
    assert a.version == b.version and np.array_equal(a.coef, b.coef)
    assert a.version_dir == registry.resolve(demo_registry)


@pytest.mark.parametrize("intercept, expected", [(-1e6, 0.0), (1e6, 1.0)])
def test_extreme_log_odds_saturate_without_overflow(demo_model, intercept, expected):
    model = Model({**demo_model.to_artifact(), "intercept": intercept})
    assert model.score({"content": "anything at all"}).score == expected
    assert model.predict_proba([{"content": "anything at all"}]).tolist() == [expected]


def test_word_reasons_name_the_strongest_words():
    space = FeatureSpace(word_bits=12, char_bits=12)
    coef = np.zeros(space.dim)

    def bucket(gram: str) -> int:
        return text_buckets(f" {gram} ", space)[2].buckets.tolist()[-1]

    weights = {"cheap": 2.0, "pills": 1.0, "cheap pills": 0.5, "thanks": -1.5, "now": 0.001}
    for gram, weight in weights.items():
        coef[bucket(gram)] = weight
    artifact = {"format": 1, "space": space.to_dict(), "word_idf": np.ones(space.n_word),
                "char_idf": np.ones(space.n_char), "coef": coef, "intercept": 0.0, "calibration": [1.0, 0.0],
                "thresholds": {"approve_below": 0.3, "reject_at": 0.9}}  # fmt: skip
    model = Model(artifact)
    comment = parse_record({"content": "Cheap, pills now. CHEAP pills! Thanks"})
    ex = extract([comment], space)
    contributions = weigh(ex.word_ptr, ex.word_idx, ex.word_cnt, model.word_idf) * model.w_word[ex.word_idx]
    expected = {b: w for b, w in zip(ex.word_idx.tolist(), contributions.tolist(), strict=True) if w}
    words = {r.detail: r.weight for r in model.score(comment).reasons if r.signal == "text:words"}
    # Each as first written (lower-cased); "now" is too weak to be a reason.
    assert set(words) == {"cheap", "pills", "cheap, pills", "thanks"}
    assert words["cheap"] == pytest.approx(expected[bucket("cheap")], abs=1e-12)
    assert words["thanks"] == pytest.approx(expected[bucket("thanks")], abs=1e-12) and words["thanks"] < 0
    assert words["cheap"] > words["pills"] > words["cheap, pills"] > 0
