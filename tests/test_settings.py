"""Settings: defaults, environment, TOML file, validation naming the variable, documentation."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from spamguard.settings import Settings, SettingsError, describe, env_name, load_settings, markdown_table

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_defaults() -> None:
    s = load_settings({})
    assert s.home == Path("var")
    assert s.database_url == "sqlite:///var/spamguard.db"
    assert s.model == Path("models")
    assert (s.latency_budget_ms, s.max_body_bytes, s.rate_limit, s.reload_interval_s) == (
        50.0,
        1_048_576,
        600,
        2.0,
    )
    assert s.log_level == "INFO"


def test_environment_overrides(tmp_path: Path) -> None:
    s = load_settings(
        {
            "SPAMGUARD_HOME": str(tmp_path),
            "SPAMGUARD_LATENCY_BUDGET_MS": "20",
            "SPAMGUARD_RATE_LIMIT": "0",
            "SPAMGUARD_LOG_LEVEL": "debug",
            "OTHER": "x",
        }
    )
    assert s.home == tmp_path
    assert s.database_url == f"sqlite:///{tmp_path}/spamguard.db"
    assert s.latency_budget_ms == 20.0 and s.rate_limit == 0 and s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("SPAMGUARD_LATENCY_BUDGET_MS", "fast"),
        ("SPAMGUARD_LATENCY_BUDGET_MS", "0"),
        ("SPAMGUARD_LATENCY_BUDGET_MS", "nan"),
        ("SPAMGUARD_MAX_BODY_BYTES", "1.5"),
        ("SPAMGUARD_MAX_BODY_BYTES", "10"),
        ("SPAMGUARD_RATE_LIMIT", "-1"),
        ("SPAMGUARD_RELOAD_INTERVAL_S", "inf"),
        ("SPAMGUARD_LOG_LEVEL", "LOUD"),
        ("SPAMGUARD_DATABASE_URL", "mysql://x"),
        ("SPAMGUARD_HOME", ""),
        ("SPAMGUARD_WORKERS", "0"),
        ("SPAMGUARD_PORT", "70000"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError, match=var):
        load_settings({var: value})


NUMBERS = [f for f in fields(Settings) if f.metadata.get("maximum") is not None]


def test_every_numeric_setting_has_an_upper_bound() -> None:
    numeric = {f.name for f in fields(Settings) if type(f.default) in (int, float)}
    assert {f.name for f in NUMBERS} == numeric - {"port"}  # the port has its own limit, 65535


@pytest.mark.parametrize("f", NUMBERS, ids=lambda f: f.name)
def test_numbers_over_the_bound_name_the_variable_and_the_range(f) -> None:  # type: ignore[no-untyped-def]
    var, maximum = env_name(f.name), f.metadata["maximum"]
    assert load_settings({var: str(maximum)}) == Settings(**{f.name: maximum})
    for value in ("1" + "0" * 300, str(maximum + 1)):
        with pytest.raises(
            SettingsError, match=rf"^{var}: expected an? \w+ from \S+ to {maximum}, got '{value[:40]}"
        ):
            load_settings({var: value})
    assert "; from " in f.metadata["help"] and f.metadata["help"].endswith(f" to {maximum}")


@pytest.mark.parametrize(
    ("var", "value"),
    [("SPAMGUARD_READ_TIMEOUT_S", "1e300"), ("SPAMGUARD_SESSION_LIFETIME_S", "1e300"),
     ("SPAMGUARD_RATE_LIMIT", "1" + "0" * 400), ("SPAMGUARD_WEBHOOK_MAX_ATTEMPTS", "2000")],
)  # fmt: skip
def test_values_that_crashed_the_workers_are_refused_at_start(var: str, value: str, tmp_path: Path) -> None:
    config = tmp_path / "spamguard.toml"
    config.write_text(f"{var.removeprefix('SPAMGUARD_').lower()} = {value}\n")
    with pytest.raises(SettingsError, match=f"^{var}: expected"):
        load_settings({var: value})
    with pytest.raises(SettingsError, match=" in .*spamguard.toml: expected"):
        load_settings({"SPAMGUARD_CONFIG": str(config)})


@pytest.mark.parametrize("var", ["SPAMGUARD_READ_TIMEOUT_S", "SPAMGUARD_SESSION_LIFETIME_S"])
def test_serve_refuses_them_before_starting(var: str, runner, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from spamguard import server
    from spamguard.cli import main

    monkeypatch.setattr(
        server, "serve", lambda settings: pytest.fail("serve started with a value it cannot use")
    )
    monkeypatch.setenv(var, "1e300")
    result = runner.invoke(main, ["serve"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert (
        result.stderr.startswith(f"Error: {var}: expected a number from ") and result.stderr.count("\n") == 1
    )


def test_a_huge_value_is_shortened_in_the_message() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"SPAMGUARD_WORKERS": "9" * 5000})
    assert str(info.value) == f"SPAMGUARD_WORKERS: expected an integer from 1 to 256, got '{'9' * 40}…'"


def test_every_number_at_its_bound_builds_a_worker(tmp_path: Path, trained_registry: Path) -> None:
    """The app a gunicorn worker builds, and its post_worker_init hook, take every maximum."""
    from spamguard.app import create_app
    from spamguard.server import _post_worker_init

    environ = {env_name(f.name): str(f.metadata["maximum"]) for f in NUMBERS}
    settings = load_settings(
        {**environ, "SPAMGUARD_HOME": str(tmp_path), "SPAMGUARD_MODEL": str(trained_registry)}
    )
    _post_worker_init(settings)  # packs SPAMGUARD_READ_TIMEOUT_S into a struct timeval
    app = create_app(settings, background=False)  # SPAMGUARD_SESSION_LIFETIME_S as a timedelta
    try:
        assert app.permanent_session_lifetime.total_seconds() == settings.session_lifetime_s
    finally:
        app.extensions["spamguard"].store.close()


def test_unknown_variable_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    load_settings({"SPAMGUARD_RATELIMIT": "5"})
    assert "SPAMGUARD_RATELIMIT" in caplog.text


def test_toml_file_and_environment_precedence(tmp_path: Path) -> None:
    config = tmp_path / "spamguard.toml"
    config.write_text('[spamguard]\nrate_limit = 30\nmodel = "/srv/models"\nlatency_budget_ms = 25\n')
    s = load_settings({"SPAMGUARD_CONFIG": str(config), "SPAMGUARD_RATE_LIMIT": "60"})
    assert s.rate_limit == 60
    assert s.model == Path("/srv/models") and s.latency_budget_ms == 25.0


@pytest.mark.parametrize(
    ("text", "match"),
    [("rate_limt = 3\n", "unknown setting 'rate_limt'"), ("rate_limit = \n", "not valid TOML"),
     ("rate_limit = -4\n", "rate_limit in")],
)  # fmt: skip
def test_bad_toml(tmp_path: Path, text: str, match: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=match):
        load_settings({"SPAMGUARD_CONFIG": str(config)})


def test_missing_toml_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SPAMGUARD_CONFIG"):
        load_settings({"SPAMGUARD_CONFIG": str(tmp_path / "nope.toml")})


def test_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.rate_limit = 5  # type: ignore[misc]
    assert s.replace(rate_limit=5).rate_limit == 5


def test_every_setting_has_help_and_is_documented() -> None:
    documented = DOCS.read_text(encoding="utf-8")
    assert len(describe()) == len(fields(Settings))
    for f in fields(Settings):
        assert f.metadata["help"], f.name
        assert f"`{env_name(f.name)}`" in documented, f"{env_name(f.name)} is missing from docs/settings.md"
    assert markdown_table() in documented, (
        "docs/settings.md is stale: regenerate with `spamguard settings --markdown`"
    )


def test_nothing_read_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("SPAMGUARD_RATE_LIMIT", "not-a-number")
    modules = "spamguard.settings, spamguard.app, spamguard.api, spamguard.server, spamguard.store"
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
