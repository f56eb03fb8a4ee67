"""Live model reload: a promoted version takes over within seconds, a tampered one is refused."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

from conftest import train_version

from spamguard import registry
from spamguard.metrics import Metrics
from spamguard.reload import ModelHolder


def tamper(root: Path, version: str) -> None:
    with open(root / registry.VERSIONS / version / registry.ARTIFACT, "ab") as fh:
        fh.write(b"\0")


def test_holder_follows_current_and_refuses_tampered(registry_dir: Path) -> None:
    metrics = Metrics()
    holder = ModelHolder(registry_dir, metrics)
    assert holder.load() is True
    first = holder.model.version
    assert holder.load() is False, "nothing changed"

    second = train_version(registry_dir, seed=1, promote=False)
    assert holder.load() is False, "not promoted yet"
    registry.promote(registry_dir, second)
    assert holder.load() is True and holder.model.version == second

    third = train_version(registry_dir, seed=2, promote=False)
    tamper(registry_dir, third)
    registry.promote(registry_dir, third)
    assert holder.load() is False
    assert holder.model.version == second, "the old version keeps serving"
    assert holder.load() is False, "a refused version is not retried while unchanged"
    text = metrics.render().decode()
    assert 'spamguard_model_reloads_total{outcome="refused"} 1.0' in text
    assert 'spamguard_model_reloads_total{outcome="loaded"} 2.0' in text
    assert f'spamguard_model_version_info{{version="{second}"}} 1.0' in text
    assert f'spamguard_model_version_info{{version="{first}"}} 0.0' in text

    assert registry.rollback(registry_dir) == second
    assert holder.load() is False and holder.model.version == second, "already serving it"


def test_holder_without_model_then_trained(tmp_path: Path) -> None:
    holder = ModelHolder(tmp_path / "models", Metrics())
    assert holder.load() is False and holder.model is None and "spamguard train" in holder.error
    train_version(tmp_path / "models")
    assert holder.load() is True and holder.error is None


def test_new_worker_falls_back_when_current_is_refused(registry_dir: Path) -> None:
    first = registry.current_version(registry_dir)
    bad = train_version(registry_dir, seed=2, promote=False)
    tamper(registry_dir, bad)
    registry.promote(registry_dir, bad)
    metrics = Metrics()
    holder = ModelHolder(registry_dir, metrics)  # a worker (re)started now
    assert holder.load() is True
    assert holder.model.version == first and holder.error is None
    assert holder.load() is False, "the refused version is not retried while unchanged"
    assert 'spamguard_model_reloads_total{outcome="refused"} 1.0' in metrics.render().decode()


def test_pinned_version_never_moves(registry_dir: Path) -> None:
    pinned = registry.resolve(registry_dir)
    holder = ModelHolder(pinned, Metrics())
    assert not holder.follows_registry
    assert holder.load() is True
    registry.promote(registry_dir, train_version(registry_dir, seed=1, promote=False))
    assert holder.load() is False and holder.model.version == pinned.name


def test_reloader_thread_switches_while_requests_run(make_app, registry_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from spamguard.keys import create_key

    app = make_app(background=True, model=registry_dir, reload_interval_s=0.1)
    key, _ = create_key(app.extensions["spamguard"].store, ["blog"])
    second = train_version(registry_dir, seed=1, promote=False)
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def post() -> None:
        client = app.test_client()
        n = 0
        while not stop.is_set():
            n += 1
            r = client.post(
                "/score", json={"content": f"hello {n}"}, headers={"Authorization": f"Bearer {key}"}
            )
            seen.append((r.status_code, (r.get_json() or {}).get("model_version")))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    registry.promote(registry_dir, second)
    deadline = time.monotonic() + 5
    while app.extensions["spamguard"].holder.model.version != second and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    assert app.extensions["spamguard"].holder.model.version == second
    assert {status for status, _ in seen} == {200}
    assert seen[-1][1] == second


def versions_served(text: str) -> dict[str, str]:
    """Return {worker pid: version} from the live gauges of /metrics."""
    return {
        pid: v
        for pid, v in re.findall(r'spamguard_model_version_info\{pid="(\d+)",version="([^"]+)"\} 1\.0', text)
    }


def test_live_reload_under_gunicorn(live_server, registry_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from test_serve import make_key

    server = live_server(registry_dir, workers=2, SPAMGUARD_RELOAD_INTERVAL_S="0.2")
    key = make_key(server.home)
    server.wait_ready()
    first = registry.current_version(registry_dir)
    deadline = time.monotonic() + 30
    while len(versions_served(server.request("GET", "/metrics")[2].decode())) < 2:
        assert time.monotonic() < deadline, "both workers load the model"
        time.sleep(0.2)
    second = train_version(registry_dir, seed=1, promote=False)
    third = train_version(registry_dir, seed=2, promote=False)
    tamper(registry_dir, third)

    answers: list[tuple[float, int, str | None]] = []
    stop = threading.Event()

    def post() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                status, _, body = server.request("POST", "/score", {"content": f"comment {n}"},
                                                 {"Authorization": f"Bearer {key}"})  # fmt: skip
                version = json.loads(body).get("model_version")
            except OSError:
                status, version = 0, None
            answers.append((time.monotonic(), status, version))

    threads = [threading.Thread(target=post) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        promoted = time.monotonic()
        registry.promote(registry_dir, second)
        deadline = promoted + 5
        while time.monotonic() < deadline:
            if set(versions_served(server.request("GET", "/metrics")[2].decode()).values()) == {second}:
                break
            time.sleep(0.1)
        switched = time.monotonic() - promoted
        assert switched < 5, "every worker serves the promoted version within 5 s"

        registry.promote(registry_dir, third)  # tampered: refused by every worker
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    text = server.request("GET", "/metrics")[2].decode()
    assert set(versions_served(text).values()) == {second}
    refused = sum(
        float(v) for v in re.findall(r'spamguard_model_reloads_total\{outcome="refused"\} (\S+)', text)
    )
    assert refused == 2, "each worker refused the tampered version once"
    assert answers and {status for _, status, _ in answers} == {200}, "no request failed"
    assert {v for _, _, v in answers} <= {first, second}
    assert answers[-1][2] == second
    assert "refused model" in server.log.read_text()
