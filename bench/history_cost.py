"""Time `screening.screen` (history reads and write, lists, policy) alone, over a store with a large history.

    python bench/history_cost.py [--rows 50000] [--runs 2000]

Fills one site's history with --rows comments (YouTube and TubeSpam texts with made-up IPs, e-mails and
link domains spread over the last day), then screens --runs more, and prints the time per call
(p50/p90/p99, ms). SQLite under a temporary directory, without the background checkpoints of `serve`: a
request that fills the WAL checkpoints it (the p99 here).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    """Fill, time, print."""
    from bench.common import pilot_videos, youtube_videos
    from spamguard import history, screening
    from spamguard.comment import parse_record
    from spamguard.policy import Verdict
    from spamguard.store import Store

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    texts = [r["content"] for rows in (*youtube_videos().values(), *pilot_videos().values()) for r in rows]
    rng = random.Random(0)

    def record(i: int) -> dict[str, str]:
        return {
            "content": f"{rng.choice(texts)} http://site{rng.randrange(500)}.example/{i}",
            "author_ip": f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(256)}",
            "author_email": f"user{rng.randrange(20_000)}@example.org",
        }

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/sg.db")
        store.upgrade()
        now = time.time()
        started = time.perf_counter()
        for i in range(args.rows):
            found = history.facts(parse_record(record(i)))
            history.record(store, "blog", f"h{i}", found, rng.choice(["approve", "reject", "hold"]),
                           now - 86400 * (1 - i / args.rows))  # fmt: skip
        print(f"filled {args.rows} history rows in {time.perf_counter() - started:.1f} s")  # noqa: T201
        verdict = Verdict("approve", 0.1, [], "bench")
        times = []
        for i in range(args.runs):
            comment = parse_record(record(args.rows + i))
            t = time.perf_counter()
            screening.screen(store, "blog", f"n{i}", comment, verdict, now)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p = {q: times[min(len(times) - 1, int(len(times) * q))] for q in (0.5, 0.9, 0.99)}
        print(  # noqa: T201
            f"screen() over {args.runs} comments: p50 {p[0.5]:.3f} ms, p90 {p[0.9]:.3f} ms,"
            f" p99 {p[0.99]:.3f} ms"
        )


if __name__ == "__main__":
    main()
