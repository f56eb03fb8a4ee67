"""Two `spamguard serve` replicas on one PostgreSQL database: the queue, verdicts and conflicts across them.

    python bench/replicas.py [--comments 10000] [--clients 8] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

On loopback only (127.0.0.1). Creates a throw-away database sg_bench_<random> on the server (dropped at
the end), trains a small model from data/demo.jsonl, and starts replicas A and B (separate gunicorn
processes, 2 workers each, on two ports, one database). Then it shows:
1. a comment held through A appears in B's queue;
2. a verdict given on B is visible through A at once (GET /comments/<id> and A's queue);
3. conflicting verdicts, A and B deciding the same comment at the same moment, 50 times: one 200 and
   one 409 carrying the winner's verdict each time;
4. N comments (YouTube and TubeSpam pilot texts with fresh ids) scored through A and B alternately by
   concurrent clients: every held one appears in the queue (paged through B) exactly once.
Every server it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import serve_load  # noqa: E402
from bench.common import flatten, pilot_videos, youtube_videos  # noqa: E402


class Replica:
    """A `spamguard serve` process and keep-alive connections to it (one per thread)."""

    def __init__(self, name: str, home: Path, env: dict[str, str]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.name = name
        home.mkdir(parents=True)
        environ = {**os.environ, **env, "SPAMGUARD_HOME": str(home), "SPAMGUARD_PORT": str(self.port)}
        environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log = open(home / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from spamguard.cli import main; main()", "serve"],
            env=environ,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._local = threading.local()

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        """Send one request on this thread's connection; return (status, parsed JSON)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for retry in (True, False):
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection before reading this request: resend.
                conn.close()
                conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if not retry:
                    raise
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                raise
        return response.status, json.loads(raw) if raw else None

    def wait_ready(self, timeout: float = 90, path: str = "/readyz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"replica {self.name} exited: see {self.log.name}")
            try:
                if self.request("GET", path)[0] == 200:
                    return
            except OSError:
                self._local.conn = None
            time.sleep(0.2)
        raise SystemExit(f"replica {self.name} not ready after {timeout} s")

    def stop(self) -> None:
        serve_load.stop(self.proc)
        self.log.close()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def train_model(root: Path) -> None:
    from training.loaders import load_file
    from training.pipeline import train

    train(load_file(ROOT / "data" / "demo.jsonl"), [ROOT / "data" / "demo.jsonl"], root)


def texts() -> list[dict[str, Any]]:
    rows = flatten(youtube_videos().values()) + flatten(pilot_videos().values())
    out = []
    for r in rows:
        record = {"content": r["content"]}
        if r.get("author_name"):
            record["author_name"] = r["author_name"]
        out.append(record)
    return out


def queue_ids(replica: Replica, token: str, page: int = 500) -> list[str]:
    """Page through the whole held queue; return the ids in the order served."""
    ids, cursor = [], None
    while True:
        path = f"/moderation/queue?limit={page}" + (f"&cursor={cursor}" if cursor else "")
        status, body = replica.request("GET", path, token=token)
        assert status == 200, (status, body)
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


def hold_one(replica: Replica, key: str, pool: list[dict[str, Any]], tag: str) -> str:
    """Score texts through `replica` until one is held; return its id."""
    for n, record in enumerate(pool):
        cid = f"{tag}-{n}"
        status, body = replica.request("POST", "/score", {**record, "id": cid}, key)
        assert status == 200, (status, body)
        if body["decision"] == "hold":
            return cid
    raise SystemExit("no comment was held: the model decides everything")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--comments", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument(
        "--no-model",
        action="store_true",
        help="serve without a model: every comment is held (the queue's hardest case)",
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("SPAMGUARD_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()

    import psycopg

    from spamguard import moderation_store as ms
    from spamguard.keys import create_key
    from spamguard.moderators import add_moderator, create_token
    from spamguard.store import Store

    name = f"sg_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(args.pg, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.pg, name)
    replicas: list[Replica] = []
    try:
        with tempfile.TemporaryDirectory(prefix="sg-replicas-") as tmp:
            work = Path(tmp)
            if not args.no_model:
                train_model(work / "models")
            store = Store(url)
            store.upgrade()
            key, _ = create_key(store, ["blog"])
            add_moderator(store, "ann", "password-ann")
            add_moderator(store, "bo", "password-bo")
            ann, bo = create_token(store, "ann"), create_token(store, "bo")
            env = {
                "SPAMGUARD_DATABASE_URL": url,
                "SPAMGUARD_MODEL": str(work / "models"),
                "SPAMGUARD_HOST": "127.0.0.1",
                "SPAMGUARD_WORKERS": "2",
                "SPAMGUARD_THREADS": "4",
                "SPAMGUARD_RATE_LIMIT": "0",
                "SPAMGUARD_LOG_LEVEL": "WARNING",
                "SPAMGUARD_SECRET_KEY": secrets.token_urlsafe(32),
            }
            a, b = Replica("A", work / "a", env), Replica("B", work / "b", env)
            replicas += [a, b]
            a.wait_ready(path="/healthz" if args.no_model else "/readyz")
            b.wait_ready(path="/healthz" if args.no_model else "/readyz")
            pool = texts()
            model = "no model: all held" if args.no_model else "a model trained on data/demo.jsonl"
            print(
                f"replicas A :{a.port} and B :{b.port} (2 gunicorn workers each) on {store.safe_url()},"
                f" {model}"
            )

            # 1. Held through A, in B's queue.
            held = hold_one(a, key, pool, "one")
            in_b = held in queue_ids(b, bo)
            print(f"1. comment {held} held through A appears in B's queue: {in_b}")

            # 2. A verdict on B, visible through A at once.
            pk = ms.get_by_id(store, "blog", held).pk
            t = time.perf_counter()
            status, _ = b.request("POST", f"/moderation/{pk}", {"verdict": "spam"}, bo)
            status_a, seen = a.request("GET", f"/comments/{held}", token=key)
            lag = (time.perf_counter() - t) * 1000
            gone = held not in queue_ids(a, ann)
            print(
                f"2. verdict spam on B ({status}); A answers status={seen['status']}"
                f" verdict={seen['verdict']} "
                f"{lag:.1f} ms after the POST was sent; gone from A's queue: {gone}"
            )

            # 3. Conflicts: A and B decide the same held comment at the same moment.
            rounds, outcomes = 50, []
            for n in range(rounds):
                cid = hold_one(a if n % 2 else b, key, pool[(n * 37) % len(pool) :], f"race{n}")
                pk = ms.get_by_id(store, "blog", cid).pk
                barrier, answers = threading.Barrier(2), {}

                def decide(
                    replica: Replica,
                    token: str,
                    verdict: str,
                    pk: int = pk,
                    barrier: threading.Barrier = barrier,
                    answers: dict = answers,
                ) -> None:
                    barrier.wait()
                    answers[replica.name] = replica.request(
                        "POST", f"/moderation/{pk}", {"verdict": verdict}, token
                    )

                threads = [
                    threading.Thread(target=decide, args=(a, ann, "ham")),
                    threading.Thread(target=decide, args=(b, bo, "spam")),
                ]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                codes = sorted(s for s, _ in answers.values())
                winner = next(body for s, body in answers.values() if s == 200) if 200 in codes else None
                loser = next((body for s, body in answers.values() if s == 409), None)
                stored = ms.get_by_pk(store, pk)
                consistent = (
                    codes == [200, 409]
                    and loser["error"]["verdict"] == winner["verdict"] == stored.verdict
                    and loser["error"]["decided_by"] == stored.decided_by
                )
                outcomes.append((codes == [200, 409], consistent, winner["decided_by"] if winner else None))
            ok = sum(o[0] for o in outcomes)
            consistent = sum(o[1] for o in outcomes)
            wins = {w: sum(1 for o in outcomes if o[2] == w) for w in ("ann", "bo")}
            print(
                f"3. {rounds} simultaneous A/B verdicts: {ok} ended one 200 + one 409, {consistent} with the "
                f"409 naming the stored winner's verdict and moderator; wins {wins}"
            )

            # 4. N comments through A and B alternately, concurrently; every held one queued exactly once.
            before = set(queue_ids(b, bo))
            answers: dict[str, str] = {}
            errors: list[str] = []
            lock = threading.Lock()
            counter = iter(range(args.comments))

            def client() -> None:
                while True:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    replica = a if n % 2 == 0 else b
                    cid = f"load-{n}"
                    try:
                        status, body = replica.request(
                            "POST", "/score", {**pool[n % len(pool)], "id": cid}, key
                        )
                    except (OSError, http.client.HTTPException) as exc:
                        errors.append(f"{cid}: {exc}")
                        continue
                    if status != 200:
                        errors.append(f"{cid}: {status} {body}")
                        continue
                    answers[cid] = body["decision"]

            t = time.perf_counter()
            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            elapsed = time.perf_counter() - t
            held_ids = {cid for cid, d in answers.items() if d == "hold"}
            t = time.perf_counter()
            listed = [i for i in queue_ids(b, bo) if i not in before]
            page_time = time.perf_counter() - t
            listed_a = [i for i in queue_ids(a, ann) if i not in before]
            counts = {d: sum(1 for v in answers.values() if v == d) for d in ("approve", "hold", "reject")}
            print(
                f"4. {len(answers)} of {args.comments} comments scored through A and B alternately by "
                f"{args.clients} clients in {elapsed:.1f} s ({len(answers) / elapsed:.0f}/s),"
                f" errors: {len(errors)}; "
                f"decisions {counts}"
            )
            print(
                f"   held answers: {len(held_ids)}; B's queue lists {len(listed)} of them "
                f"({len(set(listed))} distinct, paged in {page_time:.2f} s);"
                f" equal sets: {set(listed) == held_ids}; "
                f"A's queue the same: {listed_a == listed}"
            )
            in_db = ms.held_count(store) - len(before)
            print(f"   held rows in the database for these: {in_db}")
            for e in errors[:5]:
                print("   error:", e)
            store.close()
    finally:
        for r in replicas:
            r.stop()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
