"""The real server: `spamguard serve` under gunicorn, scoring over a socket, metrics across workers."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

from spamguard import server
from spamguard.keys import create_key
from spamguard.store import Store


def make_key(home: Path, *sites: str) -> str:
    store = Store(f"sqlite:///{home / 'spamguard.db'}")
    store.upgrade()
    key, _ = create_key(store, sites or ["blog"])
    store.close()
    return key


def test_gunicorn_scores_over_a_socket(live_server, trained_registry: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = live_server(trained_registry, workers=2)
    key = make_key(server.home)
    server.wait_ready()
    auth = {"Authorization": f"Bearer {key}"}

    status, _, body = server.request(
        "POST", "/score", {"id": "c1", "content": "Buy cheap pills at http://bit.ly/x"}, auth
    )
    answer = json.loads(body)
    assert status == 200 and answer["id"] == "c1" and answer["decision"] in ("hold", "reject")
    assert answer["model_version"] and answer["elapsed_ms"] > 0

    for i in range(30):
        status, _, _ = server.request(
            "POST", "/score", {"id": f"n{i}", "content": f"Nice post number {i}"}, auth
        )
        assert status == 200
    again = json.loads(server.request("POST", "/score", {"id": "c1", "content": "something else"}, auth)[2])
    assert again["decision"] == answer["decision"] and again["score"] == answer["score"]

    status, _, body = server.request("POST", "/score", {"content": 5}, auth)
    assert status == 400 and json.loads(body)["error"]["field"] == "content"
    assert server.request("POST", "/score", {"content": "x"})[0] == 401
    status, headers, body = server.request(
        "POST", "/score", None, {**auth, "Content-Type": "application/json"}
    )
    assert status == 400

    store = Store(f"sqlite:///{server.home / 'spamguard.db'}")
    assert store.count_comments("blog") == 31
    store.close()

    # Every worker's counts are in /metrics, whichever worker answers the scrape.
    status, headers, body = server.request("GET", "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    scored = sum(
        float(v)
        for v in re.findall(
            r'spamguard_requests_total\{[^}]*endpoint="/score"[^}]*status="200"[^}]*\} (\S+)', text
        )
    )
    assert scored == 32
    # Each worker loads its own model; under load the second may still be booting: give it time.
    deadline = time.monotonic() + 30
    while len(set(re.findall(r'spamguard_model_version_info\{pid="(\d+)"', text))) < 2:
        assert time.monotonic() < deadline, "one model per worker"
        time.sleep(0.2)
        text = server.request("GET", "/metrics")[2].decode()
    assert re.search(r"spamguard_store_write_seconds_count \S+", text)

    assert server.request("GET", "/healthz")[0] == 200
    assert server.request("GET", "/openapi.json")[0] == 200
    assert server.stop() == 0


def test_serve_without_a_model_holds(live_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = live_server(tmp_path / "no-models", workers=1)
    key = make_key(server.home)
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _, body = server.request("GET", "/readyz", timeout=1.0)
            break
        except OSError:
            assert time.monotonic() < deadline and server.proc.poll() is None, server.log.read_text()
            time.sleep(0.1)
    assert status == 503 and "model" in json.loads(body)["error"]["message"]
    status, _, body = server.request(
        "POST", "/score", {"content": "hello"}, {"Authorization": f"Bearer {key}"}
    )
    assert status == 200 and json.loads(body)["decision"] == "hold"


def test_serve_dev_runs_flasks_reloader(runner, monkeypatch, trained_registry: Path) -> None:  # type: ignore[no-untyped-def]
    from flask import Flask

    from spamguard.cli import main

    calls = {}

    def fake_run(self, host, port, **kwargs):  # type: ignore[no-untyped-def]
        calls.update(host=host, port=port, **kwargs)
        self.extensions["spamguard"].stop()

    monkeypatch.setattr(Flask, "run", fake_run)
    result = runner.invoke(main, ["serve", "--dev", "--model", str(trained_registry), "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert calls == {"host": "127.0.0.1", "port": 8123, "debug": True, "use_reloader": True}


def test_serve_refuses_bad_settings(runner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard.cli import main

    monkeypatch.setenv("SPAMGUARD_WORKERS", "none")
    result = runner.invoke(main, ["serve"])
    assert result.exit_code != 0 and "SPAMGUARD_WORKERS" in result.output
    assert "--workers" in runner.invoke(main, ["serve", "--help"]).output


def _listener(family: int, address: object, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as gunicorn's listeners
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(128)  # all of the test's connections wait in it
    return sock


def test_each_worker_listens_on_a_socket_of_its_own(tmp_path: Path) -> None:
    """With the master's socket open to SO_REUSEPORT, a worker binds its own on the same address."""
    shared = _listener(socket.AF_INET, ("127.0.0.1", 0), reuse_port=True)
    unix = _listener(socket.AF_UNIX, str(tmp_path / "s.sock"), reuse_port=False)
    (own,) = server._own_listeners([shared, unix], backlog=128)  # none for the Unix socket
    try:
        assert own is not shared and own.getsockname() == shared.getsockname()
        assert own.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        assert own.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # else Nagle delays answers 40 ms
        # It really takes connections to that port: the kernel spreads them over both sockets.
        clients = [socket.create_connection(shared.getsockname()) for _ in range(64)]
        accepted: dict[socket.socket, list[socket.socket]] = {shared: [], own: []}
        for sock, taken in accepted.items():
            sock.setblocking(False)
            while True:
                try:
                    taken.append(sock.accept()[0])
                except BlockingIOError:
                    break
        # Every connection is accepted, spread over both (all 64 on one by chance: odds 2 in 2**64).
        assert sum(map(len, accepted.values())) == 64 and all(accepted.values())
        for c in clients + accepted[shared] + accepted[own]:
            c.close()
    finally:
        for sock in (shared, unix, own):
            sock.close()


def test_a_port_not_open_to_sharing_keeps_the_shared_socket_alone() -> None:
    shared = _listener(socket.AF_INET, ("127.0.0.1", 0), reuse_port=False)
    try:
        assert server._own_listeners([shared], backlog=8) == []
    finally:
        shared.close()
