"""Shared fixtures: isolated SPAMGUARD_* state, a small trained model registry, the app and its store."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spamguard.comment import parse_record
from spamguard.settings import Settings

_SPAM = [
    "Buy cheap {drug} online now at {url} best price!!!",
    "Make $5000 a week from home, click {url} to start today",
    "Check out my channel {url} and subscribe please, free {drug}",
    "FREE iPhone giveaway!!! visit {url} now, limited offer",
    "Hot singles in your area {url} click here",
    "Earn money fast with crypto, guaranteed returns {url}",
]
_HAM = [
    "Thanks for the {topic} write-up, it helped me fix my setup.",
    "I disagree about the {topic} part, the second approach seems cleaner to me.",
    "Great post! Could you say more about how {topic} behaves under load?",
    "We tried this {topic} recipe last weekend and the kids loved it.",
    "Small typo in the third paragraph about {topic}, otherwise very clear.",
    "Has anyone compared this with the older {topic} release?",
]
_DRUGS = ["viagra", "pills", "cialis", "meds", "supplements"]
_URLS = [
    "http://bit.ly/x9z",
    "https://cheap-deals.xyz/win",
    "http://tinyurl.com/a1b2",
    "http://198.51.100.7/go",
]
_TOPICS = ["sourdough", "postgres", "garden", "bicycle", "python", "vacation", "camera"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the numba kernels once, before any test: servers and CLI runs started by tests then
    load them from the cache instead of each compiling them inside its own timeout."""
    from spamguard import kernels

    kernels.warm_up()


def demo_records(n: int = 160, seed: int = 0) -> list[dict[str, str]]:
    """Return labelled synthetic comment records (half spam), enough to fit a small model."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        spam = i % 2 == 0
        template = rng.choice(_SPAM if spam else _HAM)
        text = template.format(drug=rng.choice(_DRUGS), url=rng.choice(_URLS), topic=rng.choice(_TOPICS))
        record = {"id": f"demo-{i}", "content": text, "label": "spam" if spam else "ham"}
        if not spam:
            record["author_name"] = rng.choice(["Ann", "Bo", "Chen", "Dana"])
        out.append(record)
    return out


def assert_stored_as_answered(
    store: object, answers: dict[str, dict], n: int, site: str | None = None
) -> None:
    """Assert the store holds n comments (of `site`), each id once, and that every answered one holds
    the decision and score it was answered with."""
    where, params = (" WHERE site = :site", {"site": site}) if site else ("", {})
    rows = store.execute(f"SELECT comment_id, decision, score FROM comments{where}", params).fetchall()  # type: ignore[attr-defined]
    assert len(rows) == len({r[0] for r in rows}) == n
    for cid, decision, score in rows:
        if cid in answers:
            assert (decision, score) == (answers[cid]["decision"], answers[cid]["score"])


def train_version(root: Path, *, seed: int = 0, promote: bool = True) -> str:
    """Fit a small model into the registry `root` (as `spamguard train --out` does); return its version."""
    from spamguard.features import FeatureSpace
    from training.artifacts import write_version
    from training.fit import TrainConfig, fit_model

    comments = [parse_record(r) for r in demo_records(seed=seed)]
    config = TrainConfig(space=FeatureSpace(word_bits=12, char_bits=12), seed=seed, C=1.0 + seed)
    return write_version(root, fit_model(comments, config), {}, make_current=promote).name


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every SPAMGUARD_* setting at a temporary directory; tests never touch real state."""
    import os

    for var in list(os.environ):
        if var.startswith("SPAMGUARD_"):
            monkeypatch.delenv(var)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("SPAMGUARD_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("SPAMGUARD_MODEL", str(tmp_path / "no-models"))


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model registry with one small trained version, shared by the whole session (do not modify)."""
    root = tmp_path_factory.mktemp("registry")
    train_version(root)
    return root


@pytest.fixture
def registry_dir(trained_registry: Path, tmp_path: Path) -> Path:
    """A private copy of the trained registry, for tests that promote or tamper."""
    root = tmp_path / "models"
    shutil.copytree(trained_registry, root)
    return root


# --- databases: SQLite always; PostgreSQL too when SPAMGUARD_TEST_DATABASE_URL names a server ----------
#
# SPAMGUARD_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres (any database the user may
# connect to and CREATE DATABASE from): the session creates a throw-away database sg_test_<random>,
# each test gets a fresh schema in it, and the database is dropped at the end. Under CI=true the
# server at 127.0.0.1:5432 is the default, and an unreachable server fails the tests (never skips).
_PG_VAR = "SPAMGUARD_TEST_DATABASE_URL"
_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_PG_ADMIN_URL = os.environ.get(_PG_VAR) or ("postgresql://postgres@127.0.0.1:5432/postgres" if _CI else "")
DATABASES = ["sqlite", "postgresql"] if _PG_ADMIN_URL else ["sqlite"]


def _with_database(url: str, name: str, **query: str) -> str:
    from urllib.parse import urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, urlencode(query), ""))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a PostgreSQL database made for this test session (dropped at the end)."""
    import secrets

    import psycopg

    name = f"sg_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(_PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        message = f"PostgreSQL at {_PG_ADMIN_URL} is unreachable: {exc}"
        if _CI:
            pytest.fail(message + " (CI=true: the PostgreSQL tests must run)")
        pytest.skip(message)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(_PG_ADMIN_URL, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite under tmp_path, and (parametrised) a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'spamguard.db'}"
        return
    import secrets

    import psycopg

    base = request.getfixturevalue("pg_database")
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_database(base, base.rsplit("/", 1)[1], options=f"-csearch_path={schema}")
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def settings(tmp_path: Path, trained_registry: Path, database_url: str) -> Settings:
    """Service settings on tmp_path, serving the session's model, with no rate limit or key cache."""
    return Settings(
        home=tmp_path / "var", model=trained_registry, rate_limit=0, key_cache_s=0, reload_interval_s=0.1,
        database_url=database_url,
    )  # fmt: skip


@pytest.fixture
def make_app(settings: Settings) -> Iterator[Callable[..., object]]:
    """Build apps (closed at teardown); keyword arguments change settings."""
    from spamguard.app import create_app

    apps = []

    def make(background: bool = False, **changes: object) -> object:
        app = create_app(settings.replace(**changes), background=background)
        apps.append(app)
        return app

    yield make
    for app in apps:
        state = app.extensions["spamguard"]
        state.stop()
        state.store.close()


@pytest.fixture
def app(make_app: Callable[..., object]) -> object:
    """The scoring app on the session's model."""
    return make_app()


@pytest.fixture
def client(app: object) -> object:
    """A Flask test client of `app`."""
    return app.test_client()


@pytest.fixture
def store(app: object) -> object:
    """The app's store."""
    return app.extensions["spamguard"].store


@pytest.fixture
def api_key(store: object) -> str:
    """A key for site `blog`."""
    from spamguard.keys import create_key

    key, _ = create_key(store, ["blog"])
    return key


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    """Headers that authenticate as site `blog`."""
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash moderator passwords with scrypt N=2**10 instead of the slow production cost."""
    from spamguard import moderators

    monkeypatch.setattr(moderators, "SCRYPT_N", 2**10)


@pytest.fixture
def mod(store: object, cheap_scrypt: None) -> dict[str, str]:
    """Headers that authenticate as moderator `ann` (a token)."""
    from spamguard import moderators

    moderators.add_moderator(store, "ann", "password-ann")
    return {"Authorization": f"Bearer {moderators.create_token(store, 'ann')}"}


@pytest.fixture
def runner() -> CliRunner:
    """A click CliRunner."""
    return CliRunner()


@pytest.fixture
def cli(
    runner: CliRunner, settings: Settings, monkeypatch: pytest.MonkeyPatch, app: object
) -> Callable[..., Result]:
    """Run `spamguard` commands against the app's database, whose workers re-read config at once.

    `cli(*args)` asserts the command succeeded, `cli(*args, ok=False)` that it failed; it returns the result.
    """
    from spamguard import site_policy
    from spamguard.cli import main

    monkeypatch.setenv("SPAMGUARD_DATABASE_URL", settings.database_url)
    monkeypatch.setattr(site_policy, "CONFIG_CHECK_S", 0.0)

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(main, list(args))
        assert (result.exit_code == 0) == ok, result.output
        return result

    return run


# --- core fixtures: the demo corpus and a model trained on part of it -------------------------------

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "data" / "demo.jsonl"
# Tests read the shared datasets in place (never copied into the repo); marked `datasets`.
DATASETS = ROOT.parent / "shared" / "datasets"
# Enough rows per class for a model with a real hold band, few enough to fit in about a second.
DEMO_ROWS_PER_CLASS = 200


@pytest.fixture(scope="session")
def demo_comments() -> list:
    """Labelled comments from data/demo.jsonl: the first DEMO_ROWS_PER_CLASS of each class."""
    from training.loaders import load_file

    comments = load_file(DEMO_DATA)
    spam = [c for c in comments if c.label == 1][:DEMO_ROWS_PER_CLASS]
    ham = [c for c in comments if c.label == 0][:DEMO_ROWS_PER_CLASS]
    return spam + ham


@pytest.fixture(scope="session")
def demo_registry(tmp_path_factory: pytest.TempPathFactory, demo_comments: list) -> Path:
    """A registry whose current version was fitted on `demo_comments` (do not modify)."""
    from spamguard.features import FeatureSpace
    from training.artifacts import write_version
    from training.fit import TrainConfig, fit_model

    root = tmp_path_factory.mktemp("demo-registry")
    config = TrainConfig(space=FeatureSpace(word_bits=14, char_bits=15), C=1.0, folds=3)
    write_version(root, fit_model(demo_comments, config), {"data": {"rows": len(demo_comments)}})
    return root


@pytest.fixture(scope="session")
def demo_model(demo_registry: Path) -> object:
    """The model of `demo_registry`, loaded and verified."""
    from spamguard.model import load_model

    return load_model(demo_registry)


class LiveServer:
    """A `spamguard serve` process on a free loopback port, and a little HTTP client for it."""

    def __init__(self, home: Path, model: Path, workers: int = 2, **env: str) -> None:
        import os
        import socket
        import subprocess
        import sys

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.home = home
        environ = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        environ.update(
            SPAMGUARD_HOME=str(home), SPAMGUARD_MODEL=str(model), SPAMGUARD_PORT=str(self.port),
            SPAMGUARD_HOST="127.0.0.1", SPAMGUARD_WORKERS=str(workers), SPAMGUARD_RATE_LIMIT="0",
            SPAMGUARD_LOG_LEVEL="INFO", **env,
        )  # fmt: skip
        self.log = home / "serve.log"
        home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from spamguard.cli import main; main()", "serve"],
                env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def request(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None,
                timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        """Send one request over a fresh connection; return status, headers and body."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            hdrs = dict(headers or {})
            if data is not None:
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until /readyz answers 200."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited:\n{self.log.read_text()}"
            try:
                if self.request("GET", "/readyz", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout} s:\n{self.log.read_text()}")

    def workers(self) -> list[int]:
        """Return the pids of gunicorn's worker processes (the children of the server process)."""
        import subprocess

        cmd = ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self) -> int:
        """Stop gunicorn (SIGTERM, then SIGKILL to its own process group) and return its exit code."""
        import os
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start `spamguard serve` processes (stopped at teardown); call with model=registry path."""
    servers: list[LiveServer] = []

    def start(model: Path, **kwargs: object) -> LiveServer:
        server = LiveServer(tmp_path / f"home{len(servers)}", model, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
