"""Soak and burst of `spamguard serve` on 127.0.0.1: capacity, a long run at 70 % of it, a burst at 3x.

    python bench/soak.py [--duration 600] [--burst 20] [--model DIR] [--workers 2] [--threads 4]

1. capacity: wrk at --connections (closed loop) for --capacity-s seconds: the requests/s the service holds;
2. soak: --duration seconds (default 10 minutes) paced to 70 % of that (bench/soak.lua adds a delay per
   request on each connection): errors (non-2xx, socket errors), p50/p99, and the resident memory
   (VmRSS) of each worker at the start and the end;
3. burst: 3x the connections, unpaced, for --burst seconds; then the paced rate again for --burst seconds
   to show the service recovers by itself;
4. nothing lost: every /score answered 200 (counted by the service's own /metrics) is in the store.
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


def workers(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True)
    return sorted(int(p) for p in out.stdout.split())


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        m = re.search(r"^VmRSS:\s+(\d+) kB", fh.read(), re.M)
    return int(m.group(1)) if m else -1


def wrk(
    port: int, connections: int, seconds: float, bodies: Path, key: str, delay_ms: float = 0
) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "--timeout", "5s",
           "-s", str(ROOT / "bench" / "soak.lua"), f"http://{HOST}:{port}", "--", str(bodies), key,
           uuid.uuid4().hex[:8], f"{delay_ms:.2f}"]  # fmt: skip
    return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


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
    parser.add_argument("--capacity-s", type=float, default=15, help="seconds of the capacity run")
    parser.add_argument("--burst", type=float, default=20, help="seconds of the 3x burst and of the recovery")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--model", help="registry or version to serve (default: train one from data/)")
    parser.add_argument("--bodies", type=int, default=3000)
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
        proc = start(
            serve_cmd(args), service_env(work / "home", models, port, args.workers), work / "serve.log"
        )
        wait_ready(port, "/readyz", proc)
        print(f"{args.workers} workers x {args.threads} threads, {args.connections} connections, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)  # fmt: skip
        wrk(port, args.connections, 3, bodies, key)  # warm-up
        cap = wrk(port, args.connections, args.capacity_s, bodies, key)
        print(line("capacity", cap), flush=True)
        target = 0.7 * cap["rps"]
        # Each connection: one request per (latency + delay); latency at 70 % is about p50 at capacity
        # scaled down, so aim with the unloaded service time and correct once from a short run.
        delay = max(0.0, 1000 * args.connections / target - cap["p50_ms"] * 0.5)
        probe = wrk(port, args.connections, 5, bodies, key, delay)
        delay = max(0.0, delay * probe["rps"] / target) if probe["rps"] else delay
        pids = workers(proc.pid)
        rss_start = {pid: rss_kib(pid) for pid in pids}
        soak = wrk(port, args.connections, args.duration, bodies, key, delay)
        rss_end = {pid: rss_kib(pid) if os.path.exists(f"/proc/{pid}") else -1 for pid in pids}
        print(line("soak", soak) + f"  (target {target:.0f} req/s, {args.duration:.0f} s)", flush=True)
        for pid in pids:
            print(
                f"  worker {pid}: VmRSS {rss_start[pid] / 1024:.1f} MiB at start, "
                f"{rss_end[pid] / 1024:.1f} MiB at end"
            )
        print(f"  workers restarted during the soak: {sorted(set(workers(proc.pid)) - set(pids)) or 'none'}")
        print("  server side so far: " + server_side(scrape(port)), flush=True)
        before = statuses(scrape(port))
        burst = wrk(port, 3 * args.connections, args.burst, bodies, key)
        after = statuses(scrape(port))
        print(line("burst 3x", burst), flush=True)
        counts = ", ".join(f"{s}: {after.get(s, 0) - before.get(s, 0):.0f}" for s in sorted(after))
        print("  /score statuses during the burst: " + counts)
        recovery = wrk(port, args.connections, args.burst, bodies, key, delay)
        print(line("recovered", recovery), flush=True)
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
