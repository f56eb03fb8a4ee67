"""CLI commands for models: train, score, evaluate, and the registry."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from spamguard.cli import FiniteRange, main, writing

MODEL_HELP = "Model registry, or one version's directory (default: models/)."
# Beyond this C is no regularisation at all; it only slows the solver down.
MAX_C = 1e6


@contextlib.contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """Show a progress bar on a terminal; stay silent in pipes and logs."""
    if not sys.stderr.isatty() or not total:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _load(paths: tuple[str, ...]) -> list:
    from training.loaders import LoadError, load_paths

    def skipped(message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    try:
        return load_paths(paths, skipped=skipped)
    except (LoadError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


def _model(path: str):  # noqa: ANN202 - click-level helper
    from spamguard.model import load_model
    from spamguard.registry import ModelError

    try:
        return load_model(path)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="models",
    show_default=True,
    help="Model registry (a directory) to write the new version to.",
)
@click.option(
    "--C",
    "c",
    type=FiniteRange(0, MAX_C, min_open=True),
    default=None,
    help="Inverse regularisation strength of the model (default 20).",
)
@click.option(
    "--max-ham-rejected", type=FiniteRange(0, 1), default=None, help="Target share of ham rejected (0.005)."
)
@click.option(
    "--max-spam-approved", type=FiniteRange(0, 1), default=None, help="Target share of spam approved (0.03)."
)
@click.option(
    "--store/--no-store", "use_store", default=True, show_default=True,
    help="Also learn from the human labels (verdicts, feedback) in the store, if it exists.",
)  # fmt: skip
def train(
    paths: tuple[str, ...],
    out: str,
    c: float | None,
    max_ham_rejected: float | None,
    max_spam_approved: float | None,
    use_store: bool = True,
) -> None:
    """Fit a model on labelled files, pick thresholds, make it the current version."""
    import dataclasses

    from training.fit import TrainConfig, TrainingError
    from training.pipeline import train as run

    overrides = {"C": c, "max_ham_rejected": max_ham_rejected, "max_spam_approved": max_spam_approved}
    config = dataclasses.replace(TrainConfig(), **{k: v for k, v in overrides.items() if v is not None})
    comments = _load(paths)
    from spamguard.cli_moderation import store_labels_for_training

    found = store_labels_for_training() if use_store else None
    labels = found[0] if found else []
    try:
        with _progress("featurising", len(comments)) as bar:
            version_dir = run(comments, paths, out, config, progress=bar, labels=labels)
    except TrainingError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write the model to {out}: {exc.strerror or exc}") from None
    manifest = json.loads((version_dir / "manifest.json").read_text())
    m = manifest["metrics"]
    if found:
        click.echo(f"used {len(labels)} human labels from the store ({found[1]})")
    data = manifest["data"]
    click.echo(f"trained {manifest['version']} on {data['rows']} comments {data['rows_per_class']}")
    click.echo(
        f"out-of-fold ROC AUC {m['oof_roc_auc']:.4f}, MCC {m['oof_mcc_at_0.5']:.4f}; thresholds "
        f"approve < {manifest['thresholds']['approve_below']:.3f} <= hold < "
        f"{manifest['thresholds']['reject_at']:.3f} <= reject"
    )
    click.echo(f"now current in {out}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--model", "model_path", default="models", show_default=True, help=MODEL_HELP)
def score(paths: tuple[str, ...], model_path: str) -> None:
    """Score comments: one JSON line per input record, in input order."""
    model = _model(model_path)
    comments = _load(paths)
    with _progress("scoring", len(comments)) as bar, writing(None):
        for start in range(0, len(comments), 1000):
            chunk = comments[start : start + 1000]
            for verdict in model.score_many(chunk):
                click.echo(json.dumps(verdict.to_dict(), ensure_ascii=False))
            if bar:
                bar(len(chunk))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--model", "model_path", default="models", show_default=True, help=MODEL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option(
    "--report", type=click.Path(dir_okay=False, writable=True), help="Write an HTML report to this file."
)
def evaluate(paths: tuple[str, ...], model_path: str, as_json: bool, report: str | None) -> None:
    """Measure a model on labelled files: AUC, MCC, decisions, worst mistakes."""
    from training.evaluate import evaluate as run
    from training.evaluate import format_metrics

    model = _model(model_path)
    comments = [c for c in _load(paths) if c.label is not None]
    try:
        with _progress("scoring", len(comments)) as bar:
            metrics, verdicts = run(model, comments, progress=bar)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if report:
        from training.report import write_report

        with writing(report):
            write_report(report, metrics, comments, verdicts)
        metrics["report"] = report
    with writing(None):
        click.echo(json.dumps(metrics, indent=2) if as_json else format_metrics(metrics))


def _registry(root: str) -> Path:
    """Return the registry directory, or stop with what to do when there is none."""
    path = Path(root)
    if not path.exists():
        raise click.ClickException(f"no model registry at {root}: run `spamguard train data/` first")
    if not path.is_dir():
        raise click.ClickException(f"{root} is a file, not a model registry: give the directory of --model")
    return path


@main.group()
def models() -> None:
    """List, promote and roll back model versions."""


@models.command("list")
@click.option("--model", "root", default="models", show_default=True, help="Model registry.")
def models_list(root: str) -> None:
    """List the versions in a registry, marking the current one."""
    from spamguard import registry

    path = _registry(root)
    try:
        current = registry.current_version(path)
    except registry.ModelError as exc:  # the versions are still worth listing: one of them mends it
        click.echo(f"warning: {exc}", err=True)
        current = None
    versions = registry.list_versions(path)
    if not versions:
        click.echo(f"{root} holds no model versions yet: run `spamguard train data/`", err=True)
    for m in versions:
        mark = "*" if m.get("version") == current else " "
        auc = m.get("metrics", {}).get("oof_roc_auc")
        click.echo(f"{mark} {m.get('version')}  rows={m.get('data', {}).get('rows')}  oof_auc={auc}")


@models.command()
@click.argument("version")
@click.option("--model", "root", default="models", show_default=True, help="Model registry.")
def promote(version: str, root: str) -> None:
    """Make VERSION current (running services switch within seconds)."""
    from spamguard import registry

    path = _registry(root)
    try:
        registry.verify(registry.version_dir(path, version))
        registry.promote(path, version)
    except registry.ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{version} is now current")


@models.command()
@click.option("--model", "root", default="models", show_default=True, help="Model registry.")
def rollback(root: str) -> None:
    """Make the previously current version current again."""
    from spamguard import registry

    path = _registry(root)
    try:
        version = registry.rollback(path)
    except registry.ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"rolled back to {version}")
