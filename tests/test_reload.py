"""Live model reload: a promoted version takes over within seconds; a broken one (11 faults) is refused."""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import train_version

from spamguard import registry
from spamguard.metrics import Metrics
from spamguard.model import Model, load_model
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


# --- every fault of a promoted version is refused at reload; the served model stays --------------------
#
# The reliability issue: a truncated, tampered or wrong-version model file is refused at load and at
# reload with a clear error, and the previous model keeps serving. Each fault below is made current
# while a holder serves version A (or before a worker starts), then a good version B is promoted.

SAMPLES = [
    {"content": "Buy cheap pills online now at http://bit.ly/x9z best price!!!"},
    {"content": "Thanks for the sourdough write-up, it helped me fix my setup.", "author_name": "Ann"},
    {"content": "Has anyone compared this with the older postgres release?"},
]


@dataclass(frozen=True)
class Fault:
    """A broken version made current: `make(root, good)` breaks a copy of `good` (or CURRENT itself)
    and makes it current; it returns the name the refusal must mention. `says` is what the refusal
    must say about the fault."""

    id: str
    make: Callable[[Path, Path], str]
    says: str


def broken_copy(root: Path, good: Path, name: str = "broken", **manifest: Any) -> Path:
    """Copy a good version under another name, with manifest fields replaced; return its directory."""
    target = root / registry.VERSIONS / name
    shutil.copytree(good, target)
    edit_manifest(target, version=name, **manifest)
    return target


def edit_manifest(version_dir: Path, **fields: Any) -> None:
    path = version_dir / registry.MANIFEST
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def promote_broken(version_dir: Path) -> str:
    registry.promote(version_dir.parent.parent, version_dir.name)
    return version_dir.name


def point_current(root: Path, raw: bytes) -> None:
    """Write CURRENT as a hand edit or a bad deploy would (promote refuses such names)."""
    registry.write_atomic(root / registry.CURRENT, raw)


def truncated(root: Path, good: Path) -> str:
    artifact = broken_copy(root, good) / registry.ARTIFACT
    data = artifact.read_bytes()
    artifact.write_bytes(data[: len(data) // 2])
    return promote_broken(artifact.parent)


def truncated_rehashed(root: Path, good: Path) -> str:
    """Truncated, and its manifest written after it (a crashed copy): only loading can tell."""
    truncated(root, good)
    version_dir = registry.resolve(root)
    edit_manifest(version_dir, sha256=registry.sha256_file(version_dir / registry.ARTIFACT))
    return version_dir.name


def tampered(root: Path, good: Path) -> str:
    artifact = broken_copy(root, good) / registry.ARTIFACT
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    return promote_broken(artifact.parent)


def other_scikit_learn(root: Path, good: Path) -> str:
    libraries = json.loads((good / registry.MANIFEST).read_text())["libraries"]
    version_dir = broken_copy(root, good, libraries={**libraries, "scikit-learn": "0.24.2"})
    manifest = json.loads((version_dir / registry.MANIFEST).read_text())
    assert manifest["sha256"] == registry.sha256_file(version_dir / registry.ARTIFACT), (
        "only the version differs"
    )
    return promote_broken(version_dir)


def manifest_not_json(root: Path, good: Path) -> str:
    version_dir = broken_copy(root, good)
    (version_dir / registry.MANIFEST).write_text('{"version": "broken", "sha')
    return promote_broken(version_dir)


def manifest_missing(root: Path, good: Path) -> str:
    version_dir = broken_copy(root, good)
    (version_dir / registry.MANIFEST).unlink()
    point_current(root, b"broken\n")
    return "broken"


def manifest_libraries_null(root: Path, good: Path) -> str:
    return promote_broken(broken_copy(root, good, libraries=None))


def current_names_no_version(root: Path, good: Path) -> str:
    point_current(root, b"gone\n")
    return "gone"


def current_escapes(root: Path, good: Path) -> str:
    point_current(root, b"../../etc\n")
    return "../../etc"


def current_escapes_to_a_version(root: Path, good: Path) -> str:
    """CURRENT leads out of the registry to a directory that is a valid version: not to be served."""
    outside = root.parent / "outside"
    shutil.copytree(good, outside)
    edit_manifest(outside, version="outside")
    point_current(root, b"../../outside\n")
    return "../../outside"


def current_not_utf8(root: Path, good: Path) -> str:
    point_current(root, b"\xff\xfe\n")
    return "CURRENT"


FAULTS = [
    Fault("truncated", truncated, r"altered or truncated"),
    Fault("truncated-rehashed", truncated_rehashed, r"cannot load .*model\.joblib: .*EOF"),
    Fault("sha256-mismatch", tampered, r"does not match its manifest .*altered or truncated"),
    Fault("other-scikit-learn", other_scikit_learn, r"trained with scikit-learn 0\.24\.2, this is "),
    Fault("manifest-not-json", manifest_not_json, r"cannot read .*manifest\.json"),
    Fault("manifest-missing", manifest_missing, r"'broken' has no manifest\.json"),
    Fault("manifest-libraries-null", manifest_libraries_null, r"does not say which libraries trained it"),
    Fault("current-names-no-version", current_names_no_version, r"'gone' is not in .*versions"),
    Fault("current-escapes", current_escapes, r"'\.\./\.\./etc', which is not a version name"),
    Fault(
        "current-escapes-to-a-version", current_escapes_to_a_version, r"'\.\./\.\./outside', which is not a"
    ),
    Fault("current-not-utf8", current_not_utf8, r"CURRENT is not a version name \(not UTF-8 text\)"),
]
FAULT_PARAMS = [pytest.param(fault, id=fault.id) for fault in FAULTS]


class TwoVersions(NamedTuple):
    root: Path
    a: str  # current
    b: str  # trained, not promoted


@pytest.fixture(scope="module")
def two_versions_template(trained_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> TwoVersions:
    root = tmp_path_factory.mktemp("two-versions") / "models"
    shutil.copytree(trained_registry, root)
    b = train_version(root, seed=1, promote=False)
    return TwoVersions(root, registry.current_version(root) or "", b)


@pytest.fixture
def two_versions(two_versions_template: TwoVersions, tmp_path: Path) -> TwoVersions:
    """A private registry serving A, with a good version B trained but not promoted."""
    root = tmp_path / "registry" / "models"
    shutil.copytree(two_versions_template.root, root)
    return TwoVersions(root, two_versions_template.a, two_versions_template.b)


def scores(model: Model) -> list[float]:
    return [model.score(record).score for record in SAMPLES]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "spamguard.reload" and r.levelno >= logging.ERROR
    ]


@pytest.mark.parametrize("worker", ["running", "starting"])
@pytest.mark.parametrize("fault", FAULT_PARAMS)
def test_a_broken_current_version_is_refused_and_the_served_one_stays(
    two_versions: TwoVersions, fault: Fault, worker: str, caplog: pytest.LogCaptureFixture
) -> None:
    root, a, b = two_versions
    expected = scores(load_model(root / registry.VERSIONS / a))
    metrics = Metrics()
    holder = ModelHolder(root, metrics)
    caplog.set_level(logging.INFO, logger="spamguard.reload")
    if worker == "running":
        assert holder.load() is True and holder.model.version == a
        served = holder.model
        fault.make(root, root / registry.VERSIONS / b)
        assert holder.load() is False, "the broken version is refused"
        assert holder.model is served
    else:  # a worker (re)started while CURRENT names the broken version falls back to A
        fault.make(root, root / registry.VERSIONS / b)
        assert holder.load() is True
    assert holder.model.version == a and holder.error is None
    assert scores(holder.model) == expected, "A keeps serving, unchanged"
    [refusal] = refusals(caplog)
    assert refusal.startswith("refused model ") and a in refusal
    assert holder.load() is False, "a refused version is not retried while unchanged"
    assert holder.model.version == a and len(refusals(caplog)) == 1
    text = metrics.render().decode()
    assert 'spamguard_model_reloads_total{outcome="refused"} 1.0' in text
    assert 'spamguard_model_reloads_total{outcome="loaded"} 1.0' in text
    assert f'spamguard_model_version_info{{version="{a}"}} 1.0' in text

    registry.promote(root, b)
    assert holder.load() is True and holder.model.version == b and holder.error is None
    assert scores(holder.model) == scores(load_model(root / registry.VERSIONS / b)) != expected
    text = metrics.render().decode()
    assert 'spamguard_model_reloads_total{outcome="loaded"} 2.0' in text
    assert 'spamguard_model_reloads_total{outcome="refused"} 1.0' in text
    assert f'spamguard_model_version_info{{version="{b}"}} 1.0' in text
    assert f'spamguard_model_version_info{{version="{a}"}} 0.0' in text


@pytest.mark.parametrize("fault", FAULT_PARAMS)
def test_a_refusal_names_the_version_and_the_fault(
    two_versions: TwoVersions, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    root, a, b = two_versions
    holder = ModelHolder(root, Metrics())
    assert holder.load() is True
    caplog.set_level(logging.ERROR, logger="spamguard.reload")
    name = fault.make(root, root / registry.VERSIONS / b)
    assert holder.load() is False
    [refusal] = refusals(caplog)
    assert name in refusal and re.search(fault.says, refusal), refusal
