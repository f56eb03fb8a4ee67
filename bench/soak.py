"""Soak and burst of `spamguard serve` on 127.0.0.1: capacity, a long run at 70 % of it, a burst at 3x.

    python bench/soak.py [--duration 600] [--burst 20] [--model DIR] [--workers 2] [--threads 4]

1. capacity: wrk at --connections (closed loop) for --capacity-s seconds: the requests/s the service holds;
2. soak: --duration seconds (default 10 minutes) at 70 % of that rate, open loop (bench/soak.lua sends on a
   fixed schedule, as wrk2 does, over --soak-connections), as --segment-s runs of wrk to show the trend
   as the store grows: errors (non-2xx, socket errors), p50/p99, and the resident memory (VmRSS) of
   each worker at the start and the end;
3. burst: 3x the capacity run's rate, open loop (paced like the soak, over --burst-connections, so the
   clients keep sending whatever the latency), for --burst seconds; then the 70 % rate again for --burst
   seconds to show the service recovers by itself;
4. capacity again, on the store the soak grew (a service that slows as its store grows shows there);
5. nothing lost: every /score answered 200 (counted by the service's own /metrics) is in the store.
Uses bench/serve_load.py's helpers; every server it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_load import (  # noqa: E402
    HOST,
    ROOT,
    free_port,
    parse_wrk,
    prepare_models,
    scrape,
    serve_cmd,
    service_env,
    start,
    stop,
    wait_ready,
    write_bodies,
)

WRK_THREADS = 2


def workers(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True)
    return sorted(int(p) for p in out.stdout.split())


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        m = re.search(r"^VmRSS:\s+(\d+) kB", fh.read(), re.M)
    return int(m.group(1)) if m else -1


def wrk(
    port: int, connections: int, seconds: float, bodies: Path, key: str, rate: float = 0
) -> dict[str, Any]:
    """Run wrk with bench/soak.lua: closed-loop, or paced to `rate` requests/s in all."""
    interval_ms = 1000 * WRK_THREADS / rate if rate else 0
    cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "--timeout", "5s",
           "-s", str(ROOT / "bench" / "soak.lua"), f"http://{HOST}:{port}", "--", str(bodies), key,
           uuid.uuid4().hex[:8], f"{interval_ms:.4f}"]  # fmt: skip
    return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def paced(port: int, args: argparse.Namespace, bodies: Path, key: str, rate: float) -> dict[str, Any]:
    """Run the soak at `rate` requests/s as --segment-s runs of wrk (latency as the store grows).

    Returns the whole soak: requests, errors, p50 the median of the runs', p99 the worst run's (an upper
    bound of the whole soak's) and the median of the runs' p99.
    """
    runs = []
    count = max(1, round(args.duration / args.segment_s))
    for _ in range(count):
        runs.append(wrk(port, args.soak_connections, args.duration / count, bodies, key, rate))
    errors = sum(r["socket_errors"] for r in runs)
    p99s = sorted(r["p99_ms"] for r in runs)
    print("  requests/s per run: " + ", ".join(f"{r['rps']:.0f}" for r in runs)
          + "; p99 per run (ms): " + ", ".join(f"{r['p99_ms']:.1f}" for r in runs))  # fmt: skip
    return {
        "rps": sum(r["requests"] for r in runs) / args.duration,
        "requests": sum(r["requests"] for r in runs),
        "p50_ms": sorted(r["p50_ms"] for r in runs)[len(runs) // 2],
        "p99_ms": p99s[-1],
        "p99_median_ms": p99s[len(p99s) // 2],
        "non2xx": sum(r["non2xx"] for r in runs),
        "socket_errors": errors,
        "socket_detail": f"socket errors {errors}",
    }


def scored_200(text: str) -> float:
    pattern = r'spamguard_requests_total\{[^}]*endpoint="/score"[^}]*status="200"[^}]*\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, text))


def statuses(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for status, v in re.findall(
        r'spamguard_requests_total\{[^}]*endpoint="/score"[^}]*status="(\d+)"[^}]*\} (\S+)', text
    ):
        out[status] = out.get(status, 0) + float(v)
    return out


def server_side(text: str) -> str:
    """Summarise the service's own view of the slow answers: over budget, over 1 s, store writes, spool."""

    def total(name: str, labels: str = "") -> float:
        pattern = "^" + re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)$"
        return sum(float(v) for v in re.findall(pattern, text, re.M))

    def over(name: str, labels: str, le: str) -> float:
        return total(name, labels + 'le="+Inf"') - total(name, labels + f'le="{le}"')

    over_1s = over("spamguard_request_seconds_bucket", 'endpoint="/score",', "1.0")
    slow_writes = over("spamguard_store_write_seconds_bucket", "", "0.25")
    spooled = total("spamguard_spooled_total", 'outcome="spooled"')
    return (f"{total('spamguard_over_budget_total'):.0f} /score answers over the latency budget,"
            f" {over_1s:.0f} over 1 s; {slow_writes:.0f} store writes over 0.25 s;"
            f" {spooled:.0f} comments spooled")  # fmt: skip


def line(name: str, r: dict[str, Any]) -> str:
    return (f"{name:<10} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
            f"requests {r['requests']:7d}  non-2xx {r['non2xx']}  {r['socket_detail']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=600, help="seconds of the 70%% soak (default 10 min)"
    )
    parser.add_argument(
        "--segment-s",
        type=float,
        default=60,
        help="the soak runs wrk this long at a time and prints each run's rate and p99",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="soak at this many requests/s instead of 70%% of the capacity run's",
    )
    parser.add_argument("--capacity-s", type=float, default=15, help="seconds of the capacity run")
    parser.add_argument("--burst", type=float, default=20, help="seconds of the 3x burst and of the recovery")
    parser.add_argument("--connections", type=int, default=16, help="connections of the capacity run")
    parser.add_argument(
        "--soak-connections",
        type=int,
        default=64,
        help="connections of the paced soak and recovery: enough that the schedule, not the connections, "
        "sets the rate",
    )
    parser.add_argument(
        "--burst-connections",
        type=int,
        default=256,
        help="connections of the paced 3x burst: enough that the clients keep up the rate while answers slow",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--model", help="registry or version to serve (default: train one from data/)")
    parser.add_argument("--bodies", type=int, default=3000)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the service under test (SPAMGUARD_NAME), e.g. --set max_queued=32; repeatable",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    from spamguard.keys import create_key
    from spamguard.store import Store

    work = Path(tempfile.mkdtemp(prefix="spamguard-soak-"))
    proc = None
    try:
        bodies = work / "bodies.jsonl"
        write_bodies(bodies, args.bodies)
        models, _ = prepare_models(args, work)
        store = Store(f"sqlite:///{work / 'home' / 'spamguard.db'}")
        store.upgrade()
        key, _ = create_key(store, ["bench"])
        port = free_port()
        env = service_env(work / "home", models, port, args.workers)
        for setting in args.set:
            name, _, value = setting.partition("=")
            env[f"SPAMGUARD_{name.upper()}"] = value
        proc = start(serve_cmd(args), env, work / "serve.log")
        wait_ready(port, "/readyz", proc)
        print(f"{args.workers} workers x {args.threads} threads, {args.connections} connections, "
              f"settings {' '.join(args.set) or 'default'}, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)  # fmt: skip
        wrk(port, args.connections, 3, bodies, key)  # warm-up
        cap = wrk(port, args.connections, args.capacity_s, bodies, key)
        print(line("capacity", cap), flush=True)
        target = args.rate or 0.7 * cap["rps"]
        pids = workers(proc.pid)
        rss_start = {pid: rss_kib(pid) for pid in pids}
        soak = paced(port, args, bodies, key, target)
        rss_end = {pid: rss_kib(pid) if os.path.exists(f"/proc/{pid}") else -1 for pid in pids}
        aim = (
            f"  (target {target:.0f} req/s, {args.soak_connections} connections, {args.duration:.0f} s;"
            f" p99: the worst run's, median of the runs' {soak['p99_median_ms']:.2f} ms)"
        )
        print(line("soak", soak) + aim, flush=True)
        for pid in pids:
            print(
                f"  worker {pid}: VmRSS {rss_start[pid] / 1024:.1f} MiB at start, "
                f"{rss_end[pid] / 1024:.1f} MiB at end"
            )
        print(f"  workers restarted during the soak: {sorted(set(workers(proc.pid)) - set(pids)) or 'none'}")
        print("  server side so far: " + server_side(scrape(port)), flush=True)
        before = statuses(scrape(port))
        burst = wrk(port, args.burst_connections, args.burst, bodies, key, 3 * cap["rps"])
        after = statuses(scrape(port))
        print(line("burst 3x", burst) + f"  (target {3 * cap['rps']:.0f} req/s, {args.burst_connections} "
              "connections)", flush=True)  # fmt: skip
        counts = ", ".join(f"{s}: {after.get(s, 0) - before.get(s, 0):.0f}" for s in sorted(after))
        print("  /score statuses during the burst: " + counts)
        recovery = wrk(port, args.soak_connections, args.burst, bodies, key, target)
        print(line("recovered", recovery), flush=True)
        # Closed loop again, on the store the soak grew: a service that slows as its store grows shows
        # here; a machine that slowed during the run (shared hosts) shows in both.
        again = wrk(port, args.connections, args.capacity_s, bodies, key)
        print(
            line("after", again)
            + f"  (capacity again; the store holds {store.count_comments('bench')} comments)"
        )
        time.sleep(1.0)
        answered = scored_200(scrape(port))
        stored = store.count_comments("bench")
        print(f"nothing lost: {answered:.0f} answered 200 by /score, {stored} stored"
              f" ({'OK' if stored >= answered else 'LOST ' + str(answered - stored)})")  # fmt: skip
        store.close()
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
