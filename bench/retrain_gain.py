"""The learning loop on an unseen source: 200 verdicts on held TubeSpam pilot comments, then a retrain.

    python bench/retrain_gain.py [--verdicts 200] [--order queue|random] [--fill] [--seeds 3] [--pg URL]

1. Train on the YouTube Spam Collection (read in place from ../shared/datasets).
2. Score the five TubeSpam pilot videos (1,000 comments, another source and year) into a fresh store
   (SQLite in a temporary directory, or a throw-away PostgreSQL database with --pg), as the service does.
3. A moderator takes held comments from the queue (oldest first; or a random sample with
   --order random) and gives verdicts with the pilot files' labels, through `moderation_store.decide`.
4. Retrain with `training.pipeline.train` on the same YouTube files plus the store's human labels.
   With --fill, when fewer comments are held than --verdicts, the most recent decided ones are
   reviewed too (confirmed or corrected), as a moderator does on the "recent" page.
5. Print pilot error before and after on the pilot comments NOT used as verdicts (nor sharing their
   text): ROC AUC, the decision error rates (ham rejected, spam approved), held share, MCC at 0.5.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import PILOT_DIR, YOUTUBE_DIR  # noqa: E402


def norm(text: str) -> str:
    return " ".join(text.split())


def row(name: str, m: dict[str, Any]) -> str:
    d = m["decisions"]
    return (
        f"{name:<8} rows {m['rows']:>4} (spam {m['spam']:>3})  AUC {m['roc_auc']:.4f}"
        f"  MCC@0.5 {m['mcc_at_0.5']:.3f}"
        f"  ham rejected {d['ham_rejected']:6.2%}  spam approved {d['spam_approved']:6.2%}"
        f"  held {d['held']:6.2%}"
    )


def run(args: argparse.Namespace, seed: int, work: Path, url: str) -> dict[str, Any]:
    from spamguard import moderation_store as ms
    from spamguard.model import load_model
    from spamguard.store import Store
    from training.evaluate import evaluate
    from training.loaders import load_paths
    from training.pipeline import store_labels, train

    youtube = load_paths([YOUTUBE_DIR])
    pilot = [c for c in load_paths([PILOT_DIR]) if c.label is not None]
    models = work / f"models-{seed}"
    train(youtube, [YOUTUBE_DIR], models)
    before_model = load_model(models)

    store = Store(url)
    store.upgrade()
    by_id = {}
    for n, comment in enumerate(pilot):
        cid = f"{comment.source}:{n}"
        record = comment.to_record()
        record.pop("label", None)
        record["id"], record["site"] = cid, "pilot"
        store.insert_comment("pilot", cid, record, before_model.score(comment))
        by_id[cid] = comment
    held: list[ms.ModeratedComment] = []
    cursor = None
    while True:
        page, cursor = ms.queue(store, site="pilot", limit=500, cursor=cursor)
        held += page
        if cursor is None:
            break
    chosen = (
        held[: args.verdicts]
        if args.order == "queue"
        else random.Random(seed).sample(held, min(args.verdicts, len(held)))
    )
    for item in chosen:
        label = by_id[item.comment_id].label
        ms.decide(store, item.pk, "spam" if label else "ham", "bench")
    if args.fill and len(chosen) < args.verdicts:
        # Fewer held than verdicts wanted: review the most recent decided ones too (the UI's
        # "recent" page), confirming or correcting each with the file's label.
        seen = {item.pk for item in chosen}
        for item in ms.decided(store, limit=args.verdicts * 2, site="pilot"):
            if item.pk in seen or len(chosen) >= args.verdicts:
                continue
            label = by_id[item.comment_id].label
            ms.decide(store, item.pk, "spam" if label else "ham", "bench", expected_status=item.status)
            chosen.append(item)
    labels = store_labels(ms.labelled_records(store))
    train(youtube, [YOUTUBE_DIR], models, labels=labels)
    after_model = load_model(models)
    store.close()

    used = {norm(by_id[i.comment_id].content) for i in chosen}
    rest = [c for cid, c in by_id.items() if norm(c.content) not in used]
    before, _ = evaluate(before_model, rest)
    after, _ = evaluate(after_model, rest)
    everything, _ = evaluate(before_model, pilot)
    return {
        "held": len(held),
        "verdicts": len(chosen),
        "labels": len(labels),
        "spam_verdicts": sum(1 for i in chosen if by_id[i.comment_id].label),
        "before": before,
        "after": after,
        "all_before": everything,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verdicts", type=int, default=200)
    parser.add_argument(
        "--order",
        choices=["queue", "random"],
        default="queue",
        help="held comments oldest first (as the queue serves them) or a random sample",
    )
    parser.add_argument(
        "--fill",
        action="store_true",
        help="if fewer are held, review recent decided comments up to --verdicts",
    )
    parser.add_argument("--seeds", type=int, default=1, help="repeats (with --order random: other samples)")
    parser.add_argument("--pg", help="a PostgreSQL server URL to put the store on (a throw-away database)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sg-retrain-") as tmp:
        work = Path(tmp)
        results = []
        for seed in range(args.seeds):
            if args.pg:
                import psycopg

                from bench.replicas import with_database

                name = f"sg_bench_{secrets.token_hex(4)}"
                with psycopg.connect(args.pg, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                try:
                    results.append(run(args, seed, work, with_database(args.pg, name)))
                finally:
                    with psycopg.connect(args.pg, autocommit=True) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                results.append(run(args, seed, work, f"sqlite:///{work / f'store-{seed}.db'}"))
        for seed, r in enumerate(results):
            print(
                f"run {seed}: pilot scored by the YouTube-trained model:"
                f" {r['all_before']['rows']} comments, "
                f"{r['held']} held; {r['verdicts']} verdicts ({args.order} order,"
                f" {r['spam_verdicts']} spam), "
                f"{r['labels']} store labels used in the retrain"
            )
            print("  on the pilot comments not used as verdicts:")
            print("  " + row("before", r["before"]))
            print("  " + row("after", r["after"]))


if __name__ == "__main__":
    main()
