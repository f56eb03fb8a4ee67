"""The second stage in training: history replayed in time order, learned domain weights, the fit."""

from __future__ import annotations

import math
import random

import numpy as np

from spamguard.comment import Comment, parse_record
from spamguard.evidence import FEATURES, features
from training import stage

CAMPAIGN = (
    "Hey everyone check out my new channel where I post daily videos about gaming and music,"
    " please subscribe and like, it would mean a lot to me thanks"
)


def row(
    content: str, minute: int | None, label: str, author: str, site: str | None = "v1", **more: str
) -> Comment:
    record = {"content": content, "label": label, "author_name": author, "site": site, **more}
    if minute is not None:
        record["created_at"] = f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z"
    return parse_record(record)


def ham(i: int, minute: int | None, site: str = "v1") -> Comment:
    words = ("song", "chorus", "video", "dance", "beat", "voice", "lyrics", "guitar")
    text = f"I really like the {words[i % 8]} in this one, number {i} is {words[(i * 3) % 8]} for me"
    return row(text, minute, "ham", f"fan{i}", site)


def feature_rows(comments: list[Comment]) -> list[list[float]]:
    return [features(ev, found, {})[0] for found, ev in stage.replay(comments)]


def test_a_comment_never_sees_later_comments_in_training() -> None:
    # File order puts the later copies first; time order decides what each copy may see.
    copies = [row(CAMPAIGN, m, "spam", f"bot{m}") for m in (30, 20, 10)]
    comments = [*copies, ham(1, 5), ham(2, 40)]
    evidence = [ev for _, ev in stage.replay(comments)]
    first, second, third = evidence[2], evidence[1], evidence[0]  # minutes 10, 20, 30
    assert (first.near_total, first.near_rejected, first.near_authors) == (0, 0, 0)
    assert (second.near_total, second.near_rejected) == (1, 1)
    assert (third.near_total, third.near_rejected, third.near_authors) == (2, 2, 2)
    assert feature_rows(comments)[2] == [0.0] * len(FEATURES)


def test_changing_or_shuffling_the_future_does_not_change_a_rows_features() -> None:
    past = [row(CAMPAIGN, 1, "spam", "a"), ham(1, 2), row(CAMPAIGN, 3, "spam", "b"), ham(2, 4)]
    future = [row(CAMPAIGN, 10 + i, "spam", f"c{i}") for i in range(5)] + [ham(i, 20 + i) for i in range(5)]
    before = feature_rows(past + future)[: len(past)]
    rng = random.Random(0)
    for _ in range(3):
        shuffled = future[:]
        rng.shuffle(shuffled)
        mixed = shuffled[:3] + past + shuffled[3:]  # the future first in the file, still later in time
        rows = feature_rows(mixed)
        assert [rows[mixed.index(c)] for c in past] == before
    assert feature_rows(past + future[:1])[: len(past)] == before  # less of the future: the same
    assert feature_rows(past + future)[len(past)][0] > 0  # and the future does see the past


def test_rows_without_dates_replay_in_file_order_per_site() -> None:
    comments = [row(CAMPAIGN, None, "spam", "a"), row(CAMPAIGN, None, "spam", "b", site="other"),
                row(CAMPAIGN, None, "spam", "c")]  # fmt: skip
    evidence = [ev for _, ev in stage.replay(comments)]
    assert [e.near_rejected for e in evidence] == [0, 0, 1]  # sites never see each other


def test_earlier_labels_are_the_verdicts_the_history_keeps() -> None:
    link = "see http://www.cheap-pills.example.biz/buy now"
    comments = [row(f"{link} {i}", i, "spam", f"s{i}") for i in range(3)] + [
        row(f"I wrote about it at http://blog.example.org/{i} last week", 10 + i, "ham", f"h{i}")
        for i in range(2)
    ]
    evidence = [ev for _, ev in stage.replay(comments)]
    keys = [{k.kind: (k.rejected, k.approved) for k in ev.keys} for ev in evidence]
    assert [k["link_domain"] for k in keys[:3]] == [(0, 0), (1, 0), (2, 0)]
    assert [k["link_domain"] for k in keys[3:]] == [(0, 0), (0, 1)]


def test_domain_weights_of_a_row_never_count_its_own_label() -> None:
    def linking(domain: str, label: str, i: int) -> Comment:
        return row(f"more at http://{domain}/page{i} for you", i, label, f"a{i}")

    spec = [("only-once.biz", "spam"), ("spam.biz", "spam"), ("spam.biz", "spam"), ("spam.biz", "spam"),
            ("ham.org", "ham")]  # fmt: skip
    comments = [linking(domain, label, i) for i, (domain, label) in enumerate(spec)]
    labels = np.array([c.label for c in comments])
    folds = np.array([0, 0, 1, 1, 1])
    X = stage.stage_matrix(np.zeros(5), labels, folds, stage.replay(comments))
    col = 1 + FEATURES.index("link_domain")
    assert X[0, col] == 0.0  # only-once.biz appears in fold 0 only: unknown to its own row
    assert X[1, col] == math.log((2 + 1) / 1)  # spam.biz counted on fold 1: 2 spam, 0 ham
    assert X[2, col] == math.log((1 + 1) / 1)  # counted on fold 0: 1 spam
    assert X[4, col] == 0.0  # ham.org is in fold 1 only
    table = stage.top_domains(
        stage.domain_counts([f for f, _ in stage.replay(comments)], labels, np.arange(5)), 2
    )
    assert table == {"spam.biz": (3, 0), "ham.org": (0, 1)}  # bounded: the most frequent, ties by name


def test_the_fit_keeps_each_weights_sign() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    X = np.zeros((400, 1 + len(FEATURES)))
    X[:, 0] = np.where(y == 1, 2.0, -2.0) + rng.normal(0, 2, 400)
    spam_col = 1 + FEATURES.index("domain_spam")
    X[:, spam_col] = np.where(y == 0, 1.0, 0.0)  # "spam from this domain" seen on legitimate rows only
    w, _ = stage.fit_logistic(X, y.astype(float))
    assert w[0] > 0 and w[spam_col] == 0.0  # it may not learn that spam evidence lowers a score
    X[:, spam_col] = np.where(y == 1, 1.0, 0.0)
    w, _ = stage.fit_logistic(X, y.astype(float))
    assert w[spam_col] > 0.5


def test_training_replays_every_copy_even_those_deduplicated_away() -> None:
    from test_fit import TINY, labelled

    from training.fit import fit_model
    from training.pipeline import dedupe

    stream = labelled(30, 30) + [row(CAMPAIGN, m, "spam", f"bot{m}", site=None) for m in (1, 2, 3)]
    kept = dedupe(stream)
    assert len(kept) == len(stream) - 2

    def near_spam_rows(model) -> int:  # type: ignore[no-untyped-def]
        return model.manifest["metrics"]["stage"]["rows_with_feature"]["near_duplicate_spam"]

    assert near_spam_rows(fit_model(kept, TINY, stream=stream)) == near_spam_rows(fit_model(kept, TINY)) + 1
