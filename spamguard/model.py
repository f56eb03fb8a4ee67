"""A trained model: load it, verify it, score comments with reasons."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from spamguard import kernels, registry
from spamguard.comment import Comment, parse_record
from spamguard.features import Extracted, FeatureSpace, Raw, extract, extract_one, weigh
from spamguard.policy import REJECT, Reason, Thresholds, Verdict, decide, rule_hits
from spamguard.signals import SIGNAL_HELP, SIGNAL_NAMES

ARTIFACT_FORMAT = 1
# Reasons shown per comment: enough to explain, few enough to read.
MAX_SPAM_REASONS = 6
MAX_HAM_REASONS = 3
MIN_REASON_WEIGHT = 0.05


class Model:
    """A linear model over the feature space, with calibration and decision thresholds."""

    def __init__(
        self,
        artifact: Mapping[str, Any],
        manifest: Mapping[str, Any] | None = None,
        version_dir: Path | None = None,
    ) -> None:
        if artifact.get("format") != ARTIFACT_FORMAT:
            raise registry.ModelError(f"unknown model format {artifact.get('format')!r}: retrain")
        self.space = FeatureSpace(**artifact["space"])
        # Parameters are used at float32 precision (relative error 6e-8, far below what moves a
        # decision), so that the single-comment path reads half the memory per bucket. The batch
        # path uses the very same values.
        self.word_idf = _float32(artifact["word_idf"])
        self.char_idf = _float32(artifact["char_idf"])
        coef = _float32(artifact["coef"])
        if (
            coef.shape != (self.space.dim,)
            or self.word_idf.shape != (self.space.n_word,)
            or self.char_idf.shape != (self.space.n_char,)
        ):
            raise registry.ModelError("model arrays do not match its feature space: retrain")
        n_word, n_char = self.space.n_word, self.space.n_char
        self.coef = coef
        self.w_word = coef[:n_word] * self.space.word_weight
        self.w_char = coef[n_word : n_word + n_char] * self.space.char_weight
        self.w_sig = coef[n_word + n_char :] * self.space.signal_weight
        # The single-comment path reads idf and coefficient of a bucket from one row of these tables.
        self._word_table = kernels.weight_table(self.word_idf, coef[:n_word])
        self._char_table = kernels.weight_table(self.char_idf, coef[n_word : n_word + n_char])
        self.intercept = float(artifact["intercept"])
        self.calibration = tuple(float(x) for x in artifact["calibration"])
        self._params = kernels.score_params(
            self.space.word_weight,
            self.space.char_weight,
            self.intercept,
            self.calibration,
            MIN_REASON_WEIGHT,
            MAX_SPAM_REASONS,
            MAX_HAM_REASONS,
        )
        kernels.warm_up()
        self.thresholds = Thresholds(**artifact["thresholds"])
        # The second stage over the history evidence (spamguard/evidence.py), None in older models.
        self.stage: dict[str, Any] | None = artifact.get("stage")
        self.manifest = dict(manifest or {})
        self.version: str = str(self.manifest.get("version", "unversioned"))
        self.version_dir = version_dir

    # -- scoring -------------------------------------------------------------------------

    def decision_function(self, comments: Iterable[Comment | Mapping[str, Any]]) -> np.ndarray:
        """Return the uncalibrated log-odds of each comment."""
        return self._log_odds(extract(_comments(comments), self.space))

    def predict_proba(self, comments: Iterable[Comment | Mapping[str, Any]]) -> np.ndarray:
        """Return the calibrated spam probability of each comment."""
        return self.calibrate(self.decision_function(comments))

    def calibrate(self, log_odds: np.ndarray) -> np.ndarray:
        """Map log-odds to calibrated probabilities (Platt scaling fitted out of fold)."""
        a, b = self.calibration
        return expit(a * log_odds + b)

    def score(self, record: Comment | Mapping[str, Any]) -> Verdict:
        """Score one comment and explain the score."""
        comment = record if isinstance(record, Comment) else parse_record(record)
        raw = extract_one(comment, self.space)
        grams = raw.grams
        score, evidence = kernels.score_comment(
            raw.word_idx,
            raw.word_cnt,
            raw.char_idx,
            raw.char_cnt,
            grams.buckets,
            grams.spans,
            raw.signals,
            self._word_table,
            self._char_table,
            self.w_sig,
            self._params,
        )
        hits = rule_hits(comment)
        decision = REJECT if hits else decide(score, self.thresholds)
        reasons = hits + [_reason(raw, *row) for row in evidence.tolist()]
        return Verdict(decision, score, reasons, self.version, comment.id, self.thresholds)

    def score_many(
        self, records: Iterable[Comment | Mapping[str, Any]], progress: Callable[[int], None] | None = None
    ) -> list[Verdict]:
        """Score comments one by one, each with its reasons; `progress(n)` hears of every 1,000 scored."""
        verdicts = []
        for record in records:
            verdicts.append(self.score(record))
            if progress and len(verdicts) % 1000 == 0:
                progress(1000)
        if progress and len(verdicts) % 1000:
            progress(len(verdicts) % 1000)
        return verdicts

    def _log_odds(self, ex: Extracted) -> np.ndarray:
        word = weigh(ex.word_ptr, ex.word_idx, ex.word_cnt, self.word_idf) * self.w_word[ex.word_idx]
        char = weigh(ex.char_ptr, ex.char_idx, ex.char_cnt, self.char_idf) * self.w_char[ex.char_idx]
        return (
            _row_sums(ex.word_ptr, word)
            + _row_sums(ex.char_ptr, char)
            + ex.signals @ self.w_sig
            + self.intercept
        )

    # -- persistence ---------------------------------------------------------------------

    def to_artifact(self) -> dict[str, Any]:
        """Return the plain data a model is saved as."""
        return {
            "format": ARTIFACT_FORMAT,
            "space": self.space.to_dict(),
            "word_idf": self.word_idf,
            "char_idf": self.char_idf,
            "coef": self.coef,
            "intercept": self.intercept,
            "calibration": list(self.calibration),
            "thresholds": self.thresholds.to_dict(),
            **({"stage": self.stage} if self.stage is not None else {}),
        }


def _reason(raw: Raw, weight: float, kind: float, start: float, end: float) -> Reason:
    """Name one row of the evidence `kernels.score_comment` chose."""
    if kind == kernels.WORDS:
        return Reason("text:words", weight, raw.grams.text[int(start) : int(end)])
    if kind == kernels.STYLE:
        return Reason("text:style", weight, "spelling and character patterns")
    name = SIGNAL_NAMES[int(kind)]
    return Reason(name, weight, raw.details.get(name) or SIGNAL_HELP[name])


def _float32(values: Any) -> np.ndarray:
    """Return the values rounded to float32, as float64 arrays."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def _row_sums(ptr: np.ndarray, values: np.ndarray) -> np.ndarray:
    rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    return np.bincount(rows, weights=values, minlength=len(ptr) - 1)


def _comments(records: Iterable[Comment | Mapping[str, Any]]) -> list[Comment]:
    return [r if isinstance(r, Comment) else parse_record(r) for r in records]


def load_model(path: str | os.PathLike[str] = "models") -> Model:
    """Load and verify the current model of a registry, or one version directory."""
    import joblib

    version_dir = registry.resolve(path)
    manifest = registry.verify(version_dir)
    try:
        artifact = joblib.load(version_dir / registry.ARTIFACT)
    except Exception as exc:  # a corrupt pickle can raise almost anything; the hash already matched
        raise registry.ModelError(f"cannot load {version_dir / registry.ARTIFACT}: {exc}") from exc
    if not isinstance(artifact, dict):
        raise registry.ModelError(f"{version_dir / registry.ARTIFACT} is not a spamguard model")
    try:
        return Model(artifact, manifest, version_dir)
    except (KeyError, TypeError, ValueError) as exc:
        raise registry.ModelError(f"{version_dir} is not a usable spamguard model ({exc}): retrain") from exc
