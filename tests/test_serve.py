"""The real server: `spamguard serve` under gunicorn, scoring over a socket, metrics across workers."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import time
from pathlib import Path

from spamguard.keys import create_key
from spamguard.server import metrics_root
from spamguard.settings import load_settings
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
    metrics = metrics_root(load_settings({"SPAMGUARD_HOME": str(server.home)})) / f"127.0.0.1-{server.port}"
    assert metrics.is_dir()
    assert server.stop() == 0
    assert not metrics.exists()  # removed at exit: in /dev/shm it would hold memory
    # gunicorn's own "Listening at:" names no address when each worker binds its own socket.
    log = server.log.read_text()
    assert f"spamguard listening on http://127.0.0.1:{server.port} (2 workers" in log
    assert "Control socket" not in log


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


def socket_fds(pid: int) -> int:
    return sum(
        os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:") for fd in os.listdir(f"/proc/{pid}/fd")
    )


def test_connections_are_spread_over_the_workers(live_server, trained_registry: Path) -> None:  # type: ignore[no-untyped-def]
    """Each worker listens on its own SO_REUSEPORT socket: kept-alive connections land on every worker.

    On one shared socket the worker quickest to wake could take them all, the other idle (this test failed
    one run in three with `reuse_port` off).
    """
    server = live_server(trained_registry, workers=2)
    server.wait_ready()
    pids = server.workers()
    assert len(pids) == 2
    before = {pid: socket_fds(pid) for pid in pids}
    clients = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=10) for _ in range(32)]
    try:
        for conn in clients:  # all connected at once, as a client's pool or wrk does
            conn.connect()
        for conn in clients:  # one request each, answered, and the connection kept alive
            conn.request("GET", "/healthz")
            assert conn.getresponse().read()
        held = {pid: socket_fds(pid) - before[pid] for pid in pids}
        # all 32 on one worker by the kernel's hash: odds 2 in 2**32
        assert sum(held.values()) == 32 and all(held.values()), held
    finally:
        for conn in clients:
            conn.close()


def test_serve_refuses_a_port_in_use(runner, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A second server would join the first's SO_REUSEPORT group and take half its traffic: refused."""
    from spamguard.cli import main

    with socket.socket() as other:  # what a running server's worker holds
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen(8)
        port = other.getsockname()[1]
        monkeypatch.setenv("SPAMGUARD_HOME", str(tmp_path / "home"))
        result = runner.invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "another spamguard serve" in result.output


def test_gunicorns_control_socket_stays_closed() -> None:
    """gunicorn >= 25.1 opens one control socket per user: a second server on the machine would take it."""
    from gunicorn.config import KNOWN_SETTINGS

    from spamguard.server import gunicorn_options

    options = gunicorn_options(load_settings({}))
    if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS):
        assert options["control_socket_disable"] is True
    else:  # an older gunicorn has no such setting, and would refuse an unknown one
        assert "control_socket_disable" not in options


def test_gunicorn_binds_ipv4_names_and_bracketed_ipv6() -> None:
    from spamguard.server import gunicorn_options

    binds = {
        "127.0.0.1": "127.0.0.1:8123",
        "localhost": "localhost:8123",
        "::1": "[::1]:8123",
        "::": "[::]:8123",
    }
    for host, bind in binds.items():
        settings = load_settings({"SPAMGUARD_HOST": host, "SPAMGUARD_PORT": "8123"})
        assert gunicorn_options(settings)["bind"] == bind


def test_stalled_clients_cannot_hold_the_workers(live_server, trained_registry: Path) -> None:  # type: ignore[no-untyped-def]
    """Clients that send half a request and stop are cut off after SPAMGUARD_READ_TIMEOUT_S.

    Without the timeout each held a worker thread for good: four of them took both threads and /healthz
    was never answered.
    """
    server = live_server(trained_registry, workers=1, SPAMGUARD_THREADS="2", SPAMGUARD_READ_TIMEOUT_S="1")
    server.wait_ready()
    key = make_key(server.home)
    halves = [
        b"POST /score HTTP/1.1\r\nHost: x\r\n",  # headers never finished
        b"POST /score HTTP/1.1\r\nHost: x\r\n",
        b"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" + b'{"content":',  # body stops
        b"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode()
        + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"con",
    ]  # fmt: skip
    stalled = []
    for half in halves:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(half)
        stalled.append(sock)
    try:
        time.sleep(0.5)  # every thread is now waiting on one of them
        started = time.monotonic()
        status, _, _ = server.request("GET", "/healthz", timeout=30)
        assert status == 200 and time.monotonic() - started < 15
        answers = []
        for sock in stalled:
            answer = b""
            while chunk := sock.recv(65536):  # the server closes each of them (recv waits up to 30 s)
                answer += chunk
            answers.append(answer)
        # Stopped in the headers: closed without an answer. Stopped in the body: a JSON 408.
        assert answers[:2] == [b"", b""]
        for answer in answers[2:]:
            assert answer.startswith(b"HTTP/1.1 408 ") and b'"request_timeout"' in answer, answer[:300]
    finally:
        for sock in stalled:
            sock.close()
    log = server.log.read_text()
    assert "closed a stalled connection" in log and "Traceback" not in log, log


def test_what_gunicorn_cannot_parse_gets_the_contracts_json_error(
    live_server, trained_registry: Path
) -> None:  # type: ignore[no-untyped-def]
    """gunicorn refuses malformed HTTP before the app sees it; its HTML page is replaced by the JSON error."""
    server = live_server(trained_registry, workers=1)
    server.wait_ready()
    for head in [
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: <script>\r\n\r\n",
    ]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(head)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        headers, _, body = rest.partition(b"\r\n\r\n")
        assert status_line.startswith(b"HTTP/1.1 400 "), answer[:300]
        assert b"Content-Type: application/json" in headers
        error = json.loads(body)["error"]
        assert error["code"] == "bad_request" and error["message"] and error["field"] is None


def test_metric_files_live_in_shared_memory_one_directory_per_home(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Sparse mmaps under SPAMGUARD_HOME took SIGBUS on a full disk: the workers crash-looped."""
    from spamguard import server

    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(server, "SHARED_MEMORY", shm)
    one = load_settings({"SPAMGUARD_HOME": str(tmp_path / "one")})
    two = load_settings({"SPAMGUARD_HOME": str(tmp_path / "two")})
    assert server.metrics_root(one).parent == shm / f"spamguard-{os.getuid()}"
    assert server.metrics_root(one) == server.metrics_root(one) != server.metrics_root(two)
    assert (shm / f"spamguard-{os.getuid()}").stat().st_mode & 0o777 == 0o700
    monkeypatch.setattr(server, "SHARED_MEMORY", tmp_path / "none")  # no /dev/shm: under the home
    assert server.metrics_root(one) == one.metrics_dir
