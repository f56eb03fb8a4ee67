"""Fuzz the API from its own OpenAPI document (schemathesis): no 5xx, every answer as documented.

Each operation of /openapi.json gets records generated from its schema, valid ones (positive) and
invalid ones (negative: wrong types, missing `content`, …), sent through Flask's test client.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from spamguard.keys import create_key
from spamguard.moderators import add_moderator, create_token
from spamguard.openapi import document
from spamguard.settings import Settings

# Negative cases need something to break: only operations that take a body or parameters get them,
# and not the Akismet ones, whose form fields are all optional text (any form is a valid request).
CASES = [
    (path, method, mode)
    for path, ops in document()["paths"].items()
    for method, op in ops.items()
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE
    or ("requestBody" in op or "parameters" in op)
    and not path.startswith("/1.1/")
]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path):  # type: ignore[no-untyped-def]
    from spamguard.app import create_app

    home = tmp_path_factory.mktemp("fuzz")
    settings = Settings(home=home, model=trained_registry, rate_limit=0, key_cache_s=60)
    app = create_app(settings, background=False)
    store = app.extensions["spamguard"].store
    key, _ = create_key(store, ["blog"])
    app.config["FUZZ_KEY"] = key
    # Moderation operations run as a moderator, over a queue with a campaign in it.
    add_moderator(store, "fuzz", "fuzz password 1")
    app.config["FUZZ_MODERATOR"] = create_token(store, "fuzz")
    client = app.test_client()
    for i in range(4):
        text = "Make five thousand dollars a week from home with this one trick, see my profile" + "!" * i
        client.post(
            "/score", json={"id": f"c{i}", "content": text}, headers={"Authorization": f"Bearer {key}"}
        )
    yield app
    app.extensions["spamguard"].store.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


@pytest.mark.parametrize(("path", "method", "mode"), CASES, ids=lambda v: getattr(v, "value", v))
def test_api_never_fails_and_answers_as_documented(api_schema, fuzz_app, path, method, mode) -> None:  # type: ignore[no-untyped-def]
    operation = api_schema[path][method]
    # Moderation runs as a moderator; but not the negative GETs, whose only "invalid" requests are
    # unknown query parameters, which the API ignores as it ignores unknown fields.
    moderating = path.startswith("/moderation") and (method != "get" or mode is GenerationMode.POSITIVE)
    token = fuzz_app.config["FUZZ_MODERATOR" if moderating else "FUZZ_KEY"]
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=200 if path == "/score" else 10, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(headers=headers)

    check()
