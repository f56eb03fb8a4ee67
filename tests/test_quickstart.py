"""Tests for `spamguard quickstart --no-serve` (spamguard/cli_quickstart.py), run in a fresh directory.

Each test works in tmp_path as a fresh clone would: `./data` (a small labelled file instead of the
2,000-comment demo set, which takes ~9 s to fit), the default `./models` and `./var`. The printed curl
line is parsed and sent through the Flask test client of an app built from the same settings.
"""

from __future__ import annotations

import json
import shlex
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result
from curl_lines import run_curl

import spamguard
from spamguard import registry, server
from spamguard.app import create_app
from spamguard.cli import main
from spamguard.policy import DECISIONS
from spamguard.settings import load_settings


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in an empty tmp_path with every setting at its default (./models, ./var)."""
    monkeypatch.delenv("SPAMGUARD_MODEL")
    monkeypatch.delenv("SPAMGUARD_HOME")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def with_data(fresh: Path, demo_comments: list) -> Path:
    """Give the fresh directory a ./data of 80 labelled demo comments (40 of each class)."""
    spam = [c for c in demo_comments if c.label == 1][:40]
    ham = [c for c in demo_comments if c.label == 0][:40]
    (fresh / "data").mkdir()
    lines = "".join(json.dumps(c.to_record()) + "\n" for c in spam + ham)
    (fresh / "data" / "demo.jsonl").write_text(lines, encoding="utf-8")
    return fresh


@pytest.fixture
def quickstart(runner: CliRunner) -> Callable[..., Result]:
    """Run `spamguard quickstart --no-serve [args]`."""

    def run(*args: str) -> Result:
        return runner.invoke(main, ["quickstart", "--no-serve", *args])

    return run


@pytest.fixture
def app_client() -> Iterator[Callable[[], object]]:
    """Build (once asked) the scoring app from the environment's settings, as `serve` would."""
    apps = []

    def make() -> object:
        app = create_app(load_settings(), background=False)
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["spamguard"].store.close()


def curl_line(result: Result) -> str:
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("curl ")]
    assert len(lines) == 1, result.output
    return lines[0]


def assert_curl_scores(result: Result, client) -> dict:  # type: ignore[no-untyped-def]
    r = run_curl(client, curl_line(result))
    assert r.status_code == 200, r.data[:300]
    body = r.get_json()
    assert body["decision"] in DECISIONS and 0.0 <= body["score"] <= 1.0 and body["id"] == "demo-1"
    return body  # type: ignore[no-any-return]


def test_trains_a_model_when_there_is_none_and_the_curl_line_works(with_data, quickstart, app_client):
    result = quickstart()
    assert result.exit_code == 0, result.output
    assert "no model in models: training one from data/" in result.stderr
    models = with_data / "models"
    version = registry.current_version(models)
    assert version is not None and f"trained {version} on 80 comments" in result.stdout
    assert spamguard.load_model(models).version == version
    client = app_client()
    body = assert_curl_scores(result, client)
    assert body["model_version"] == version
    store = client.application.extensions["spamguard"].store
    assert store.get_comment("demo", "demo-1") is not None, "the key serves site 'demo'"
    assert (with_data / "var" / "spamguard.db").is_file(), "state went to the working directory's ./var"


def test_a_second_run_keeps_the_model_and_makes_another_working_key(with_data, quickstart, app_client):
    first = quickstart()
    assert first.exit_code == 0, first.output
    version = registry.current_version(with_data / "models")
    second = quickstart()
    assert second.exit_code == 0, second.output
    assert "no model in" not in second.stderr and "trained" not in second.stdout
    assert [m["version"] for m in registry.list_versions(with_data / "models")] == [version]
    assert curl_line(first) != curl_line(second)
    client = app_client()
    for result in (first, second):
        assert assert_curl_scores(result, client)["model_version"] == version


@pytest.mark.parametrize("as_version_dir", [False, True])
def test_an_existing_model_is_used_without_training(fresh, registry_dir, quickstart, app_client, monkeypatch,
                                                    as_version_dir):  # fmt: skip
    """No ./data here: a training run would fail, so exit 0 means it was not attempted."""
    version = registry.current_version(registry_dir)
    model = registry.resolve(registry_dir) if as_version_dir else registry_dir
    monkeypatch.setenv("SPAMGUARD_MODEL", str(model))
    result = quickstart()
    assert result.exit_code == 0, result.output
    assert "no model in" not in result.stderr
    assert [m["version"] for m in registry.list_versions(registry_dir)] == [version]
    assert assert_curl_scores(result, app_client())["model_version"] == version


def test_no_model_and_no_data_is_an_error(fresh, quickstart):
    result = quickstart()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Error: no model in models and no data/ to train one from" in result.stderr
    assert "curl" not in result.output


@pytest.mark.parametrize(
    "env, args, shown",
    [({}, [], "http://127.0.0.1:8000/score"), ({"SPAMGUARD_PORT": "8123"}, [], "http://127.0.0.1:8123/score"),
     ({"SPAMGUARD_PORT": "8123"}, ["--port", "9001"], "http://127.0.0.1:9001/score"),
     ({"SPAMGUARD_HOST": "0.0.0.0"}, [], "http://127.0.0.1:8000/score"),
     ({"SPAMGUARD_HOST": "localhost"}, [], "http://localhost:8000/score")],
)  # fmt: skip
def test_the_curl_line_names_where_serve_listens(fresh, trained_registry, quickstart, monkeypatch, env, args,
                                                 shown):  # fmt: skip
    monkeypatch.setenv("SPAMGUARD_MODEL", str(trained_registry))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = quickstart(*args)
    assert result.exit_code == 0, result.output
    assert shlex.split(curl_line(result))[4] == shown


def test_the_curl_line_brackets_an_ipv6_host(fresh, trained_registry, quickstart, monkeypatch):
    monkeypatch.setenv("SPAMGUARD_MODEL", str(trained_registry))
    monkeypatch.setenv("SPAMGUARD_HOST", "::1")
    result = quickstart()
    assert result.exit_code == 0, result.output
    url = urlsplit(shlex.split(curl_line(result))[4])
    assert (url.hostname, url.port) == ("::1", 8000)


def test_a_broken_current_pointer_is_a_clean_error(fresh, registry_dir, quickstart, monkeypatch):
    (registry_dir / registry.CURRENT).write_text("../../etc\n", encoding="utf-8")
    monkeypatch.setenv("SPAMGUARD_MODEL", str(registry_dir))
    result = quickstart()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Error:" in result.stderr and "spamguard models promote" in result.stderr


def test_a_dangling_current_pointer_is_not_a_model(with_data, registry_dir, quickstart, monkeypatch):
    shutil.rmtree(registry_dir / registry.VERSIONS / registry.current_version(registry_dir))
    monkeypatch.setenv("SPAMGUARD_MODEL", str(registry_dir))
    result = quickstart()
    if result.exit_code == 0:  # then it must have left a model that loads
        spamguard.load_model(registry_dir)
    else:
        assert isinstance(result.exception, SystemExit) and "Error:" in result.stderr


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port of 127.0.0.1 that something else already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_an_error_before_any_key_or_curl_line(fresh, trained_registry, runner, held_port,
                                                                 monkeypatch):  # fmt: skip
    monkeypatch.setenv("SPAMGUARD_MODEL", str(trained_registry))
    monkeypatch.setattr(server, "serve", lambda settings: pytest.fail("serve was reached"))
    result = runner.invoke(main, ["quickstart", "--port", str(held_port)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{held_port}: Address already in use.")
    assert "--port" in result.stderr and result.stdout == ""
    assert "curl" not in result.stderr and "starting" not in result.stderr
    assert not (fresh / "var" / "spamguard.db").exists(), "no key was created"


def test_no_serve_does_not_need_the_port(fresh, trained_registry, quickstart, held_port, monkeypatch):
    monkeypatch.setenv("SPAMGUARD_MODEL", str(trained_registry))
    result = quickstart("--port", str(held_port))
    assert result.exit_code == 0, result.output
    assert shlex.split(curl_line(result))[4] == f"http://127.0.0.1:{held_port}/score"
