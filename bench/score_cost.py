"""In-process CPU cost of one POST /score, split by stage: where the time goes outside the model.

    python bench/score_cost.py --model DIR [--n 2000] [--repeats 5] [--identities] [--database-url URL]
    python bench/score_cost.py --model DIR --profile 30      # cProfile: the 30 costliest functions

Calls the real app as WSGI in this process (no network, no gunicorn), like the in-process figure of
bench/serve_load.py: real comment bodies from ../shared/datasets (YouTube and TubeSpam), each with a
fresh id, over an SQLite store under a temporary SPAMGUARD_HOME (or --database-url). CPU time
(`time.thread_time`, this thread only), so other load on the shared machine counts less; each stage is
timed by wrapping the function that does it. Prints the median over --repeats runs of --n requests, per
request, in µs. `--identities` adds a made-up IP and e-mail (from a small pool, so keys repeat) to each
record, as a blog platform sends them; the wrk bodies of bench/serve_load.py have none.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATASETS = ROOT.parent / "shared" / "datasets"
BODY_SOURCES = [DATASETS / "youtube-spam-collection", DATASETS / "tubespam-pilot-2014"]
# (module, attribute, stage name): each is timed where the request path calls it.
STAGES = [
    ("spamguard.api", "authenticate", "auth"),
    ("spamguard.api", "read_json", "read json"),
    ("spamguard.api", "parse_record", "parse record"),
    ("spamguard.api", "score_comment", "model"),
    ("spamguard.screening", "normalize", "screen: normalize (cached)"),
    ("spamguard.history", "facts", "screen: facts (sketch, keys)"),
    ("spamguard.site_policy", "config", "screen: site config"),
    ("spamguard.history", "lookup", "screen: history reads"),
    ("spamguard.history", "record", "screen: history write"),
    ("spamguard.screening", "screen", "screen (all)"),
    ("spamguard.spool", "Spool.insert_comment", "store write"),
]


def bodies(limit: int) -> list[dict[str, Any]]:
    from training.loaders import load_paths

    out = []
    for c in load_paths([p for p in BODY_SOURCES if p.exists()])[:limit]:
        record = c.to_record()
        for name in ("id", "label", "site"):
            record.pop(name, None)
        out.append(record)
    if not out:
        raise SystemExit(f"no comments under {DATASETS}: the shared datasets are needed")
    return out


def wrap(stages: list[tuple[str, str, str]], totals: dict[str, float]) -> list[Callable[[], None]]:
    """Time each stage's function into `totals`; return the functions that undo it."""
    import importlib

    undo = []
    for module_name, attr, name in stages:
        owner: Any = importlib.import_module(module_name)
        *path, leaf = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, leaf)

        def timed(*args: Any, _f: Any = original, _n: str = name, **kwargs: Any) -> Any:
            t = time.thread_time()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_n] += time.thread_time() - t

        setattr(owner, leaf, timed)
        undo.append(lambda o=owner, a=leaf, f=original: setattr(o, a, f))
    return undo


def main() -> None:
    from werkzeug.test import EnvironBuilder

    from spamguard.app import create_app
    from spamguard.keys import create_key
    from spamguard.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model registry or version directory")
    parser.add_argument("--n", type=int, default=2000, help="requests per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--identities", action="store_true", help="add an IP and an e-mail to each record")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite under a temporary home)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's N costliest")
    args = parser.parse_args()
    records = bodies(1000)
    rng = random.Random(0)
    if args.identities:
        for r in records:
            r["author_ip"] = f"10.0.{rng.randrange(4)}.{rng.randrange(64)}"
            r["author_email"] = f"user{rng.randrange(300)}@example.org"
    home = Path(tempfile.mkdtemp(prefix="spamguard-cost-"))
    try:
        extra = {"database_url": args.database_url} if args.database_url else {}
        app = create_app(Settings(home=home, model=args.model, rate_limit=0, log_level="WARNING", **extra))
        site = f"cost-{time.time_ns()}"
        key, _ = create_key(app.extensions["spamguard"].store, [site])
        headers = {"Authorization": f"Bearer {key}"}
        counter = iter(range(10**9))

        def environs(n: int) -> list[dict[str, Any]]:
            out = []
            for _ in range(n):
                i = next(counter)
                data = json.dumps({"id": f"c{i}", **records[i % len(records)]}, ensure_ascii=False)
                out.append(
                    EnvironBuilder(
                        path="/score", method="POST", headers=headers, content_type="application/json",
                        data=data.encode(),
                    ).get_environ()
                )  # fmt: skip
            return out

        def call(environ: dict[str, Any]) -> None:
            status = []
            for _ in app(environ, lambda s, h, exc_info=None: status.append(s)):
                pass
            if not status[0].startswith("200"):
                raise SystemExit(f"/score answered {status[0]}")

        for environ in environs(min(args.n, 500)):  # warm up: caches, first connection, history rows
            call(environ)
        if args.profile:
            batch = environs(args.n)
            prof = cProfile.Profile(time.thread_time)
            prof.enable()
            for environ in batch:
                call(environ)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
            return
        runs: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.repeats):
            totals: dict[str, float] = defaultdict(float)
            batch = environs(args.n)
            undo = wrap(STAGES, totals)
            try:
                started = time.thread_time()
                for environ in batch:
                    call(environ)
                totals["request (all)"] = time.thread_time() - started
            finally:
                for f in undo:
                    f()
            for name, total in totals.items():
                runs[name].append(total / args.n * 1e6)
        med = {name: statistics.median(values) for name, values in runs.items()}
        names = [name for _, _, name in STAGES] + ["request (all)"]
        print(f"µs of CPU per /score, median of {args.repeats} runs of {args.n} (spread min-max):")  # noqa: T201
        for name in names:
            if name in runs:
                line = f"  {name:32s} {med[name]:8.1f}   ({min(runs[name]):.0f}-{max(runs[name]):.0f})"
                print(line)  # noqa: T201
        outside = med["request (all)"] - med.get("model", 0.0)
        print(f"  {'everything but the model':32s} {outside:8.1f}")  # noqa: T201
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
