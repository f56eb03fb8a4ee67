"""Load benchmark of `spamguard serve` against a bare Flask endpoint, and a model promotion under load.

    python bench/serve_load.py [--duration 15] [--connections 16] [--model DIR] [--threads 4] [--rounds 3]

In one run, on loopback only (127.0.0.1), with wrk (Debian package `wrk`) at 16 connections posting real
comment bodies from ../shared/datasets with fresh ids (bench/score.lua):
1. bench/bare_app.py (parses the same JSON, answers a constant) under the same gunicorn settings;
2. `spamguard serve --workers 2` with a model trained from data/ (or --model), rate limit off;
3. the same service again while a second model version is promoted a third of the way in: every
   answer must be 2xx, and the new version must answer (on every worker) within 5 s.
Prints requests/s side by side, the ratio (target >= 60%), p99 (target <= 15 ms), the server's CPU time
per answered request (all its processes, from /proc: less swayed by other load on the machine than
requests/s), non-2xx and socket errors, and the promotion figures. Every server it starts is stopped
before it exits.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATASETS = ROOT.parent / "shared" / "datasets"
BODY_SOURCES = [DATASETS / "youtube-spam-collection", DATASETS / "tubespam-pilot-2014"]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        try:
            if request(port, "GET", path, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server on port {port} not ready after {timeout:.0f} s")


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # gunicorn's master stops its workers gracefully
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group of the master we started, nothing else
        proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"raw": text}
    out["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    out["requests"] = int(re.search(r"(\d+) requests in", text).group(1))
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        out[f"p{pct}_ms"] = _ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(map(int, m.groups())) if m else 0
    out["socket_detail"] = m.group(0) if m else "Socket errors: none"
    return out


def wrk_cmd(port: int, args: argparse.Namespace, duration: float, bodies: Path, key: str) -> list[str]:
    return [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{duration:.0f}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(ROOT / "bench" / "score.lua"),
        f"http://{HOST}:{port}",
        "--",
        str(bodies),
        key,
        uuid.uuid4().hex[:8],
    ]


def tree_cpu_s(pid: int) -> float:
    """Return the CPU seconds (user + system) used so far by a process and its live descendants."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


def run_wrk(port: int, args: argparse.Namespace, bodies: Path, key: str, pid: int) -> dict[str, Any]:
    """Warm up, then run wrk; with the server's CPU per answered request (all its processes, `cpu_us`)."""
    subprocess.run(wrk_cmd(port, args, args.warmup, bodies, key), capture_output=True, check=True)
    before = tree_cpu_s(pid)
    done = subprocess.run(
        wrk_cmd(port, args, args.duration, bodies, key), capture_output=True, text=True, check=True
    )
    out = parse_wrk(done.stdout)
    out["cpu_us"] = (tree_cpu_s(pid) - before) / max(1, out["requests"]) * 1e6
    return out


def write_bodies(path: Path, limit: int) -> int:
    from training.loaders import load_paths

    comments = load_paths([p for p in BODY_SOURCES if p.exists()])
    if not comments:
        raise SystemExit(f"no comments under {DATASETS}: the shared datasets are needed")
    with open(path, "w", encoding="utf-8") as out:
        for c in comments[:limit]:
            record = c.to_record()
            for field in ("id", "label", "site"):
                record.pop(field, None)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return min(limit, len(comments))


def prepare_models(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    """Return a registry whose current version serves, and the name of a second version to promote."""
    from spamguard import registry
    from spamguard.model import Model, load_model
    from training.artifacts import write_version

    root = work / "models"
    if args.model:
        version_dir = registry.resolve(args.model)
        shutil.copytree(version_dir, root / registry.VERSIONS / version_dir.name)
        registry.promote(root, version_dir.name)
    else:
        print(f"training a model from {ROOT / 'data'} …", flush=True)
        from training.loaders import load_paths
        from training.pipeline import train

        train(load_paths([ROOT / "data"]), [ROOT / "data"], root)
    current = load_model(root)
    time.sleep(1.1)  # version names carry the second they were written in
    # The same weights written again as a new version: what matters here is the switch itself.
    second = write_version(
        root,
        Model(current.to_artifact(), {"derived_from": current.version}),
        {"note": "bench/serve_load.py promotion test"},
        make_current=False,
    )
    return root, second.name


def service_env(home: Path, models: Path, port: int, workers: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SPAMGUARD_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        SPAMGUARD_HOME=str(home),
        SPAMGUARD_MODEL=str(models),
        SPAMGUARD_PORT=str(port),
        SPAMGUARD_WORKERS=str(workers),
        SPAMGUARD_RATE_LIMIT="0",
        SPAMGUARD_LOG_LEVEL="WARNING",
    )
    return env


def serve_cmd(args: argparse.Namespace) -> list[str]:
    exe = Path(sys.executable).with_name("spamguard")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from spamguard.cli import main; main()"]
    return cmd + ["serve", "--threads", str(args.threads)]


def scrape(port: int) -> str:
    return request(port, "GET", "/metrics")[1].decode()


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([\d.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def promote_under_load(
    args: argparse.Namespace, work: Path, models: Path, second: str, bodies: Path, key: str
) -> dict[str, Any]:
    from spamguard import registry

    port = free_port()
    proc = start(
        serve_cmd(args), service_env(work / "home-promote", models, port, args.workers), work / "promote.log"
    )
    polled: list[tuple[float, int, str | None]] = []
    stop_flag = threading.Event()
    all_workers_at: list[float] = []

    def poll() -> None:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while not stop_flag.is_set():
            body = json.dumps({"id": "poll-" + uuid.uuid4().hex, "content": "poller comment"}).encode()
            try:
                status, data = request(port, "POST", "/score", body, headers)
                version = json.loads(data).get("model_version") if status == 200 else None
            except (OSError, ValueError):
                status, version = 0, None
            polled.append((time.monotonic(), status, version))
            time.sleep(0.05)

    def watch_metrics() -> None:
        pattern = re.compile(
            rf'spamguard_model_version_info{{pid="(\d+)",version="{re.escape(second)}"}} 1\.0'
        )
        while not stop_flag.is_set():
            try:
                if len(set(pattern.findall(scrape(port)))) >= args.workers:
                    all_workers_at.append(time.monotonic())
                    return
            except OSError:
                pass
            time.sleep(0.1)

    try:
        wait_ready(port, "/readyz", proc)
        subprocess.run(wrk_cmd(port, args, args.warmup, bodies, key), capture_output=True, check=True)
        load = subprocess.Popen(
            wrk_cmd(port, args, args.duration, bodies, key), stdout=subprocess.PIPE, text=True
        )
        threads = [threading.Thread(target=poll), threading.Thread(target=watch_metrics)]
        for t in threads:
            t.start()
        time.sleep(args.duration / 3)
        promoted_at = time.monotonic()
        registry.promote(models, second)
        out, _ = load.communicate(timeout=args.duration + 30)
        stop_flag.set()
        for t in threads:
            t.join()
        text = scrape(port)
    finally:
        stop_flag.set()
        stop(proc)
    result = parse_wrk(out)
    first_new = next((t for t, s, v in polled if v == second), None)
    after = [(t, s, v) for t, s, v in polled if first_new is not None and t >= first_new]
    result.update(
        poller_requests=len(polled),
        poller_failures=sum(1 for _, s, _ in polled if s != 200),
        first_new_s=None if first_new is None else first_new - promoted_at,
        all_workers_s=all_workers_at[0] - promoted_at if all_workers_at else None,
        old_after_first_new=sum(1 for _, _, v in after if v != second),
        reloads=metric(text, 'spamguard_model_reloads_total{outcome="loaded"}'),
    )
    return result


def inprocess_cost(models: Path, bodies: Path, n: int = 2000) -> tuple[float, float]:
    """Return the CPU µs per request of each app called as WSGI in this process (no network, no gunicorn).

    CPU time (process_time), not wall time, so that other load on the machine counts less.
    """
    from bare_app import create_bare_app
    from werkzeug.test import EnvironBuilder

    from spamguard.app import create_app
    from spamguard.keys import create_key
    from spamguard.settings import Settings

    records = [line for line in bodies.read_text(encoding="utf-8").splitlines()][:500]
    home = Path(tempfile.mkdtemp(prefix="spamguard-inprocess-"))
    try:
        app = create_app(Settings(home=home, model=models, rate_limit=0, log_level="WARNING"))
        key, _ = create_key(app.extensions["spamguard"].store, ["bench"])
        headers = {"Authorization": f"Bearer {key}"}

        def run(wsgi: Any, tag: str) -> float:
            environs = [
                EnvironBuilder(
                    path="/score",
                    method="POST",
                    headers=headers,
                    content_type="application/json",
                    data=f'{{"id":"{tag}-{i}",' + records[i % len(records)][1:],
                ).get_environ()
                for i in range(n)
            ]
            started = time.process_time()
            for environ in environs:
                for _ in wsgi(environ, lambda status, headers, exc_info=None: None):
                    pass
            return (time.process_time() - started) / n * 1e6

        bare = create_bare_app()
        run(bare, "warm-b"), run(app, "warm-s")
        return run(bare, "b"), run(app, "s")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path, models: Path, bodies: Path, key: str, round_: int) -> dict:
    """Run wrk against the bare app, then against spamguard, under the same gunicorn settings."""
    port = free_port()
    bare_cmd = [
        sys.executable,
        str(ROOT / "bench" / "bare_app.py"),
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
    ]
    proc = start(bare_cmd, dict(os.environ), work / "bare.log")
    try:
        wait_ready(port, "/healthz", proc)
        bare = run_wrk(port, args, bodies, key, proc.pid)
    finally:
        stop(proc)
    port = free_port()
    env = service_env(work / "home", models, port, args.workers)
    proc = start(serve_cmd(args), env, work / "serve.log")
    try:
        wait_ready(port, "/readyz", proc)
        served = run_wrk(port, args, bodies, key, proc.pid)
        served["metrics"] = scrape(port)
    finally:
        stop(proc)
    return {"round": round_, "bare": bare, "served": served}


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(rounds: list[dict]) -> None:
    for r in rounds:
        bare, served = r["bare"], r["served"]
        print(f"\nround {r['round']}{'':15}{'bare Flask':>14}{'spamguard':>14}")
        print(f"{'requests/s':24}{bare['rps']:>14.0f}{served['rps']:>14.0f}")
        for p in ("p50_ms", "p90_ms", "p99_ms"):
            print(f"{p.replace('_ms', ' (ms)'):24}{bare[p]:>14.2f}{served[p]:>14.2f}")
        print(f"{'server CPU µs/request':24}{bare['cpu_us']:>14.0f}{served['cpu_us']:>14.0f}")
        print(f"{'non-2xx':24}{bare['non2xx']:>14}{served['non2xx']:>14}")
        print(f"{'socket errors':24}{bare['socket_errors']:>14}{served['socket_errors']:>14}")
        text = served["metrics"]
        count = metric(text, "spamguard_store_write_seconds_count")
        writes = metric(text, "spamguard_store_write_seconds_sum") / count
        scores = metric(text, "spamguard_score_seconds_sum") / metric(text, "spamguard_score_seconds_count")
        fast = metric(text, 'spamguard_store_write_seconds_bucket{le="0.00025"}') / count
        over = metric(text, "spamguard_over_budget_total")
        print(
            f"server side: mean model score {scores * 1e3:.3f} ms; store write mean {writes * 1e3:.3f} ms, "
            f"{fast:.0%} under 0.25 ms; {over:.0f} over the latency budget"
        )
    ratios = sorted(r["served"]["rps"] / r["bare"]["rps"] for r in rounds)
    median = ratios[len(ratios) // 2]
    every = ", ".join(f"{x:.0%}" for x in ratios)
    print(
        f"\nthroughput ratio {median:.0%}, median of {len(ratios)} round(s) ({every}; target >= 60%): "
        f"{verdict(median >= 0.6)}"
    )
    p99 = sorted(r["served"]["p99_ms"] for r in rounds)[len(rounds) // 2]
    print(f"p99 {p99:.2f} ms median (target <= 15 ms): {verdict(p99 <= 15)}")
    non2xx = sum(r["served"]["non2xx"] for r in rounds)
    errors = sum(r["served"]["socket_errors"] for r in rounds)
    print(
        f"non-2xx {non2xx}, socket errors {errors} (target 0 and 0): {verdict(non2xx == 0 and errors == 0)}"
    )


def report_promotion(r: dict) -> None:
    print(
        f"\npromotion under load ({r['rps']:.0f} requests/s, p99 {r['p99_ms']:.2f} ms): "
        f"non-2xx {r['non2xx']}, {r['socket_detail']}, "
        f"poller {r['poller_failures']} failed of {r['poller_requests']}"
    )
    first = "never" if r["first_new_s"] is None else f"{r['first_new_s']:.2f} s"
    every = "never" if r["all_workers_s"] is None else f"{r['all_workers_s']:.2f} s"
    print(
        f"new version first answered after {first}, served by every worker after {every}; "
        f"old-version answers after the first new one: {r['old_after_first_new']}"
    )
    met = (
        r["non2xx"] == 0
        and r["socket_errors"] == 0
        and r["poller_failures"] == 0
        and r["all_workers_s"] is not None
        and r["all_workers_s"] <= 5
    )
    print(f"zero failed requests and new version on every worker within 5 s: {verdict(met)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds of each measured run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before each run")
    parser.add_argument(
        "--rounds", type=int, default=1, help="bare/spamguard pairs to run (the median counts)"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per worker (1: gunicorn's sync workers)"
    )
    parser.add_argument("--model", help="registry or version to serve (default: train one from data/)")
    parser.add_argument("--bodies", type=int, default=3000, help="distinct comment bodies to cycle through")
    parser.add_argument("--no-promote", action="store_true", help="skip the promotion-under-load run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    from spamguard.keys import create_key
    from spamguard.store import Store

    work = Path(tempfile.mkdtemp(prefix="spamguard-serve-load-"))
    try:
        bodies = work / "bodies.jsonl"
        n = write_bodies(bodies, args.bodies)
        models, second = prepare_models(args, work)
        keys = {}
        for home in ("home", "home-promote"):
            store = Store(f"sqlite:///{work / home / 'spamguard.db'}")
            store.upgrade()
            keys[home], _ = create_key(store, ["bench"])
            store.close()
        print(
            f"{n} comment bodies, {args.connections} connections, {args.duration:.0f} s per run, "
            f"{args.workers} workers, {args.threads} thread(s) each, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
            flush=True,
        )
        bare_us, app_us = inprocess_cost(models, bodies)
        print(
            f"in-process CPU per request (WSGI call, no network): bare {bare_us:.0f} µs, "
            f"spamguard {app_us:.0f} µs",
            flush=True,
        )
        report([measure(args, work, models, bodies, keys["home"], i + 1) for i in range(args.rounds)])
        if not args.no_promote:
            report_promotion(promote_under_load(args, work, models, second, bodies, keys["home-promote"]))
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
