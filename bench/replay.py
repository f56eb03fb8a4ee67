"""Replay the YouTube Spam Collection through the service: text-only scoring against scoring plus history.

    python bench/replay.py [--videos Youtube01-Psy.csv ...]

Each video is one site, replayed in time order (DATE; rows without a date, Eminem's spam, take the
time of the dated row before them in the file, so they stay where the file has them) through
`POST /score` of an in-process app (Flask test client; SQLite under a temporary directory). The model
replaying a video was trained on the other four (leave one video out), so it has never seen the
video's text. A moderator decides every held comment from its label right after it arrives, as the
queue would be worked; approved and rejected comments are not revisited. Two passes per video on the
same model: history signals off (screening replaced by the model's verdict) and on; then a shadow-mode
pass, which must answer approve to every comment while recording the decision it would have taken.

Prints, per pass: spam approved, comments held, ham rejected (of the automatic decisions), the
history reasons that fired (rules, and the second stage's `learned:*`), and the in-process /score
time per request (p50/p99, ms). The data are read in place, never copied.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

YOUTUBE = ROOT.parent / "shared" / "datasets" / "youtube-spam-collection"


def timeline(path: Path) -> list[tuple[float, Any]]:
    """Return (time, comment) in replay order: dated rows by date, undated ones after their predecessor."""
    from training.loaders import load_file

    comments = load_file(path)
    first = next(c.created_at for c in comments if c.created_at is not None)
    out, last = [], first.replace(tzinfo=first.tzinfo or UTC).timestamp()
    for n, c in enumerate(comments):
        if c.created_at is not None:
            last = c.created_at.replace(tzinfo=c.created_at.tzinfo or UTC).timestamp()
        out.append((last, n, c))
    out.sort(key=lambda t: (t[0], t[1]))
    return [(t, c) for t, _, c in out]


def train_without(video: str, root: Path) -> Path:
    """Fit a model on every video but one; return its registry."""
    from spamguard.comment import Comment
    from training.artifacts import write_version
    from training.fit import TrainConfig, fit_model
    from training.loaders import load_file

    train: list[Comment] = []
    for path in sorted(YOUTUBE.glob("*.csv")):
        if path.name != video:
            train += load_file(path)
    registry = root / f"models-{video}"
    write_version(registry, fit_model(train, TrainConfig()), {"data": {"rows": len(train)}})
    return registry


def replay(
    registry: Path, site: str, stream: list[tuple[float, Any]], mode: str, home: Path
) -> dict[str, Any]:
    """Post a video's comments to a fresh service; return the counts and timings of one pass."""
    from spamguard import history, moderation_store, screening, site_policy
    from spamguard.app import create_app
    from spamguard.keys import create_key
    from spamguard.settings import Settings

    settings = Settings(home=home, model=registry, rate_limit=0, key_cache_s=0)
    app = create_app(settings, background=False)
    st = app.extensions["spamguard"]
    key, _ = create_key(st.store, [site])
    headers = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    # /score screens through screening.plan (the history write goes in the comment's transaction).
    clock, plan = history.clock, screening.plan
    now = [0.0]
    history.clock = lambda: now[0]
    screen_ms: list[float] = []
    if mode == "text-only":
        screening.plan = lambda store, site, cid, comment, verdict, *args, **kwargs: (verdict, None)  # type: ignore[assignment]
    else:

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return plan(*args, **kwargs)
            finally:
                screen_ms.append((time.perf_counter() - started) * 1000)

        screening.plan = timed  # type: ignore[assignment]
    if mode == "shadow":
        site_policy.set_policy(st.store, site, mode="shadow")
    counts: Counter[str] = Counter()
    shadow: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    times = []
    try:
        for t, c in stream:
            now[0] = t
            record = c.to_record() | {"site": site}
            started = time.perf_counter()
            body = client.post("/score", json=record, headers=headers).get_json()
            times.append((time.perf_counter() - started) * 1000)
            decision, spam = body["decision"], c.label == 1
            counts["spam approved"] += decision == "approve" and spam
            counts["held"] += decision == "hold"
            counts["ham rejected"] += decision == "reject" and not spam
            counts["not approve"] += decision != "approve"
            if "shadow_decision" in body:
                shadow[body["shadow_decision"]] += 1
            for reason in body["reasons"]:
                if reason["signal"].split(":")[0] in ("history", "velocity", "reputation", "learned"):
                    fired[reason["signal"]] += 1
            found = moderation_store.get_by_id(st.store, site, body["id"])
            if found is not None and found.status == "held":  # an id seen before answers as stored
                moderation_store.decide(st.store, found.pk, "spam" if spam else "ham", "replay")
    finally:
        history.clock, screening.plan = clock, plan
        st.stop()
        st.store.close()
    times.sort()
    screen_ms.sort()
    return {
        **counts,
        "screen_ms": screen_ms,
        "shadow": dict(shadow),
        "fired": dict(fired),
        "p50_ms": times[len(times) // 2],
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
        "n": len(times),
    }


def main() -> None:
    """Replay, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", nargs="*", default=[p.name for p in sorted(YOUTUBE.glob("*.csv"))])
    args = parser.parse_args()
    modes = ("text-only", "signals", "shadow")
    totals: dict[str, Counter[str]] = {m: Counter() for m in modes}
    times: dict[str, list[float]] = {m: [] for m in modes}
    shadow: Counter[str] = Counter()
    screen_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for video in args.videos:
            stream = timeline(YOUTUBE / video)
            spam = sum(c.label == 1 for _, c in stream)
            registry = train_without(video, root)
            site = video.removesuffix(".csv").lower()
            line = [f"{video}: {len(stream)} comments, {spam} spam"]
            for mode in modes:
                got = replay(registry, site, stream, mode, root / f"home-{site}-{mode}")
                for k in ("spam approved", "held", "ham rejected", "not approve", "n"):
                    totals[mode][k] += got.get(k, 0)
                times[mode] += [got["p50_ms"], got["p99_ms"]]
                shadow.update(got["shadow"])
                if mode == "signals":
                    screen_ms += got["screen_ms"]
                line.append(
                    f"  {mode:9}  spam approved {got.get('spam approved', 0):4}"
                    f"  held {got.get('held', 0):4}  ham rejected {got.get('ham rejected', 0):3}"
                    f"  not approve {got.get('not approve', 0):4}"
                    f"  p50 {got['p50_ms']:.2f} ms  p99 {got['p99_ms']:.2f} ms"
                )
                if got["fired"]:
                    line.append(f"             signals fired: {got['fired']}")
            print("\n".join(line), flush=True)  # noqa: T201
    print("all videos:")  # noqa: T201
    for mode in modes:
        t = totals[mode]
        print(  # noqa: T201
            f"  {mode:9}  spam approved {t['spam approved']:4}  held {t['held']:4}"
            f"  ham rejected {t['ham rejected']:3}"
            f"  not approve {t['not approve']:4}  of {t['n']}"
        )
    screen_ms.sort()
    if screen_ms:
        p50, p99 = screen_ms[len(screen_ms) // 2], screen_ms[int(len(screen_ms) * 0.99)]
        print(f"  time added by the history, lists and policy per /score: p50 {p50:.2f} ms, p99 {p99:.2f} ms")  # noqa: T201
    print(f"  shadow decisions recorded: {dict(shadow)} (every shadow answer was approve: see 'not approve')")  # noqa: T201


if __name__ == "__main__":
    main()
