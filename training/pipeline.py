"""`spamguard train`: load labelled files, fit, write a new model version."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from spamguard import registry
from spamguard.comment import Comment
from training.artifacts import write_version
from training.fit import TrainConfig, fit_model


def dedupe(comments: Iterable[Comment]) -> list[Comment]:
    """Keep one comment per distinct content (the last one seen, so later labels win)."""
    by_content: dict[str, Comment] = {}
    for comment in comments:
        key = " ".join(comment.content.split())
        by_content.pop(key, None)
        by_content[key] = comment
    return list(by_content.values())


def data_files(paths: Sequence[str | Path]) -> list[Path]:
    """Return the data files under the given paths, sorted."""
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    return files


def fingerprints(paths: Sequence[str | Path]) -> dict[str, str]:
    """Return the sha256 of every file read."""
    return {str(f): registry.sha256_file(f) for f in data_files(paths) if f.exists()}


def summary(comments: Sequence[Comment]) -> dict[str, Any]:
    """Count rows per class and per source, and fingerprint the rows themselves."""
    per_source: dict[str, Counter[str]] = {}
    digest = hashlib.sha256()
    for c in comments:
        label = "spam" if c.label else "ham"
        per_source.setdefault(c.source or "unknown", Counter())[label] += 1
        digest.update(f"{label}\t{c.content}\n".encode("utf-8", "surrogatepass"))
    classes = Counter("spam" if c.label else "ham" for c in comments)
    return {
        "rows": len(comments),
        "rows_per_class": dict(classes),
        "rows_per_source": {s: dict(c) for s, c in sorted(per_source.items())},
        "rows_sha256": digest.hexdigest(),
    }


def train(
    comments: Sequence[Comment],
    paths: Sequence[str | Path],
    out: str | Path = "models",
    config: TrainConfig | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    labels: Sequence[Comment] = (),
) -> Path:
    """Train on the labelled comments loaded from `paths` and make the result the current version.

    `labels` are human labels from the store (`store_labels`): they come after the files, so for
    the same content a human label wins over a file's.
    """
    stream = [c for c in [*comments, *labels] if c.label is not None]
    comments = dedupe(stream)
    # The history replay sees every copy (a campaign repeats itself); the text model one per content.
    model = fit_model(comments, config, progress=progress, stream=stream)
    data = {**summary(comments), "files": fingerprints(paths), "store_labels": len(labels)}
    return write_version(Path(out), model, {"data": data})


def store_labels(records: Iterable[dict[str, Any]]) -> list[Comment]:
    """Turn the store's human labels (`moderation_store.labelled_records`) into labelled comments."""
    from spamguard.comment import RecordError, parse_record

    out = []
    for record in records:
        try:
            comment = parse_record(record, source="store")
        except RecordError:
            continue  # a record stored by an older version that no longer parses: not a label to trust
        if comment.label is not None:
            out.append(comment)
    return out
