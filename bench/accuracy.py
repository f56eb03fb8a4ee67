"""Accuracy of spamguard against the naive baseline of issue 2, on the same rows and splits.

Run from the repo root:  .venv/bin/python -m bench.accuracy [--only NAME] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python bench/accuracy.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

PROTOCOLS = ("youtube-lovo", "pilot", "sms", "instagram", "decisions")
# Decisions are measured on the predictions of these two protocols, not by separate fits.
DECISION_SOURCES = ("youtube-lovo", "sms")

# (protocol, metric key, label, comparison, target, the baseline's figure as the issue quotes it)
TARGETS = [
    ("youtube-lovo", "auc_mean", "AUC, mean of 5 folds", ">=", 0.994, 0.988),
    ("youtube-lovo", "mcc_mean", "MCC@0.5, mean of 5 folds", ">=", 0.92, 0.877),
    ("pilot", "auc", "AUC", ">=", 0.98, 0.961),
    ("sms", "mcc", "MCC@0.5, pooled out-of-fold", ">=", 0.96, 0.938),
    ("sms", "mcc_fold_mean", "MCC@0.5, mean of 5 folds", None, None, None),
    ("sms", "auc", "AUC, pooled out-of-fold", None, None, None),
    ("instagram", "f1", "spam F1@0.5", ">=", 0.93, 0.906),
    ("instagram", "auc", "AUC", None, None, None),
]
DECISION_TARGETS = [
    ("legit_rejected", "legit rejected", 0.005),
    ("spam_approved", "spam approved", 0.03),
    ("held", "held, of all", 0.12),
]


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


# --- metrics -----------------------------------------------------------------------------------------


def auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def mcc(y, p) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(y, np.asarray(p) >= 0.5))


def f1(y, p) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, np.asarray(p) >= 0.5, pos_label=1))


def decision_rates(y, decisions: list[str]) -> dict:
    """Share of ham rejected, of spam approved, of everything held; with the counts."""
    y = np.asarray(y)
    d = np.asarray(decisions)
    ham, spam = y == 0, y == 1
    return {
        "legit_rejected": float(np.mean(d[ham] == "reject")),
        "spam_approved": float(np.mean(d[spam] == "approve")),
        "held": float(np.mean(d == "hold")),
        "n_ham": int(ham.sum()),
        "n_spam": int(spam.sum()),
        "counts": {k: int(np.sum(d == k)) for k in ("approve", "hold", "reject")},
    }


# --- protocols ---------------------------------------------------------------------------------------
# Each takes a side (common.Baseline or common.Spamguard) and returns its figures; the splits are
# built from the rows alone, so both sides get the same ones.


def fit_and_score(side, train: list, test: list) -> tuple[np.ndarray, list[str]]:
    model = side.fit(train)
    return side.proba(model, test), side.decisions(model, test)


def youtube_lovo(side, quick: bool) -> dict:
    """Train on four YouTube videos, test on the fifth; mean AUC and MCC@0.5 of the folds."""
    videos = common.youtube_videos()
    names = list(videos)[:2] if quick else list(videos)
    folds, y_all, d_all = [], [], []
    for held_out in names:
        train = common.flatten(rows for name, rows in videos.items() if name != held_out)
        test = videos[held_out]
        y = [r["label"] for r in test]
        p, decisions = fit_and_score(side, train, test)
        folds.append({"test": held_out, "n": len(test), "auc": auc(y, p), "mcc": mcc(y, p)})
        y_all += y
        d_all += decisions
        log(f"  {side.name} lovo {held_out}: AUC {folds[-1]['auc']:.4f} MCC {folds[-1]['mcc']:.4f}")
    return {
        "folds": folds,
        "auc_mean": float(np.mean([f["auc"] for f in folds])),
        "mcc_mean": float(np.mean([f["mcc"] for f in folds])),
        "decisions": decision_rates(y_all, d_all),
    }


def pilot(side, quick: bool) -> dict:
    """Train on all of YouTube, test on the TubeSpam pilot videos (other videos, another year)."""
    train = common.flatten(common.youtube_videos().values())
    test = common.flatten(common.pilot_videos().values())
    y = [r["label"] for r in test]
    p, _ = fit_and_score(side, train, test)
    return {"auc": auc(y, p), "mcc": mcc(y, p), "n_train": len(train), "n_test": len(test)}


def sms(side, quick: bool) -> dict:
    """SMS, exact duplicates removed, StratifiedKFold(5, shuffle, random_state=0)."""
    from sklearn.model_selection import StratifiedKFold

    rows = common.read_sms()
    y = np.array([r["label"] for r in rows])
    oof = np.full(len(rows), np.nan)
    decisions = np.empty(len(rows), dtype=object)
    folds = []
    splits = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y))
    for k, (tr, te) in enumerate(splits[:2] if quick else splits):
        p, d = fit_and_score(side, [rows[i] for i in tr], [rows[i] for i in te])
        oof[te], decisions[te] = p, d
        folds.append({"fold": k, "n": len(te), "auc": auc(y[te], p), "mcc": mcc(y[te], p)})
        log(f"  {side.name} sms fold {k}: AUC {folds[-1]['auc']:.4f} MCC {folds[-1]['mcc']:.4f}")
    done = ~np.isnan(oof)
    return {
        "n": int(done.sum()),
        "mcc": mcc(y[done], oof[done]),
        "auc": auc(y[done], oof[done]),
        "mcc_fold_mean": float(np.mean([f["mcc"] for f in folds])),
        "folds": folds,
        "decisions": decision_rates(y[done], list(decisions[done])),
    }


def instagram(side, quick: bool) -> dict:
    """Instagram ScamSpot, random stratified 80/20 (random_state=0): spam F1@0.5 and AUC."""
    from sklearn.model_selection import train_test_split

    rows = common.read_instagram()
    y = [r["label"] for r in rows]
    train, test = train_test_split(rows, test_size=0.2, stratify=y, random_state=0)
    y_test = [r["label"] for r in test]
    p, _ = fit_and_score(side, train, test)
    return {"f1": f1(y_test, p), "auc": auc(y_test, p), "n_train": len(train), "n_test": len(test)}


RUNNERS = {"youtube-lovo": youtube_lovo, "pilot": pilot, "sms": sms, "instagram": instagram}


# --- report ------------------------------------------------------------------------------------------


def fmt(value, pct: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{100 * value:.2f}%" if pct else f"{value:.3f}"


def met(value, op, target) -> str:
    if op is None or not isinstance(value, float):
        return ""
    ok = value >= target if op == ">=" else value <= target
    return "yes" if ok else "NO"


def table(results: dict, sides: list[str]) -> str:
    """Render one table: target, the issue's baseline figure, then each side's measured figure."""
    head = ["protocol", "metric", "target", "baseline (issue)", *sides, "spamguard meets target"]
    lines = []

    def get(protocol, side, key):
        r = results.get(protocol, {}).get(side)
        if r is None:
            return None
        if "error" in r:
            return "n/a"
        return r.get(key)

    for protocol, key, label, op, target, issue in TARGETS:
        if protocol not in results:
            continue
        values = [get(protocol, s, key) for s in sides]
        target_s = f"{op} {target}" if op else ""
        verdict = met(get(protocol, "spamguard", key), op, target) if "spamguard" in sides else ""
        lines.append([protocol, label, target_s, fmt(issue), *map(fmt, values), verdict])
        if key == "mcc_mean":  # the per-fold figures under the means
            folds = {s: (get(protocol, s, "folds") or []) for s in sides}
            n = max((len(f) for f in folds.values() if isinstance(f, list)), default=0)
            for i in range(n):
                for metric in ("auc", "mcc"):
                    cells = []
                    name = ""
                    for s in sides:
                        f = folds[s]
                        if isinstance(f, list) and i < len(f):
                            cells.append(fmt(f[i][metric]))
                            name = f[i]["test"]
                        else:
                            cells.append(fmt(get(protocol, s, "folds")))
                    label = "AUC" if metric == "auc" else "MCC@0.5"
                    lines.append(["", f"  test {name}: {label}", "", "", *cells, ""])
    for protocol in DECISION_SOURCES:
        if "decisions" not in results or protocol not in results:
            continue
        for key, label, target in DECISION_TARGETS:
            cells = []
            for s in sides:
                r = results[protocol].get(s)
                if r is None or "error" in r:
                    cells.append("n/a")
                elif s == "baseline":
                    cells.append(f"{fmt(r['decisions'][key], pct=True)} (at 0.5)")
                else:
                    cells.append(fmt(r["decisions"][key], pct=True))
            sg = results[protocol].get("spamguard")
            sg_value = sg["decisions"][key] if sg and "decisions" in sg else None
            lines.append(
                [
                    f"decisions: {protocol}",
                    label,
                    f"<= {100 * target:g}%",
                    "",
                    *cells,
                    met(sg_value, "<=", target),
                ]
            )
    widths = [max(len(str(row[i])) for row in [head, *lines]) for i in range(len(head))]
    rule = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths, strict=True)), rule]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=PROTOCOLS, help="run one protocol (decisions runs lovo and sms)")
    parser.add_argument("--quick", action="store_true", help="2 of the 5 folds in lovo and sms (development)")
    parser.add_argument(
        "--models", default="baseline,spamguard", help="comma-separated: baseline, spamguard (default both)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    sides = {}
    if "baseline" in wanted:
        sides["baseline"] = common.Baseline()
    spamguard_status = "not requested"
    if "spamguard" in wanted:
        sg, spamguard_status = common.load_spamguard()
        if sg is not None:
            sides["spamguard"] = sg
        else:
            print(f"spamguard: {spamguard_status}")
    if args.only == "decisions":
        protocols = list(DECISION_SOURCES)
    elif args.only:
        protocols = [args.only]
    else:
        protocols = list(RUNNERS)

    results: dict = {}
    for protocol in protocols:
        results[protocol] = {}
        for name, side in sides.items():
            t0 = time.perf_counter()
            results[protocol][name] = RUNNERS[protocol](side, args.quick)
            results[protocol][name]["seconds"] = round(time.perf_counter() - t0, 1)
            log(f"{protocol} {name}: {results[protocol][name]['seconds']} s")
    if args.only in (None, "decisions"):
        results["decisions"] = {}  # rendered from the lovo and sms results

    columns = [s for s in ("baseline", "spamguard") if s in wanted]
    if "spamguard" in wanted and "spamguard" not in sides:
        for protocol in protocols:
            results[protocol]["spamguard"] = {"error": spamguard_status}
    title = "spamguard vs the naive baseline" + (
        " (QUICK: 2 of 5 folds in lovo and sms)" if args.quick else ""
    )
    print(title)
    print(table(results, columns))
    print(
        "MCC and F1 at score >= 0.5. SMS: MCC/AUC pooled over out-of-fold predictions, fold mean shown too."
    )
    print("Decisions: pooled over every test fold; spamguard with the thresholds it chose in training.")
    print("The baseline has no thresholds: its decision rates are at score 0.5 (reject >= 0.5, never hold).")

    if args.json:
        meta = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "spamguard": spamguard_status,
            "python": platform.python_version(),
        }
        try:
            import sklearn

            meta["scikit-learn"] = sklearn.__version__
        except ImportError:
            pass
        results.pop("decisions", None)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
