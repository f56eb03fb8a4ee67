"""Run a documented `curl` command line through a Flask test client (the options the docs use)."""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import quote, urlsplit


def run_curl(client: Any, line: str, env: dict[str, str] | None = None) -> Any:
    """Send `curl -s [-X METHOD] URL [-H ...] [-d ...] [--data-urlencode ...]` ($NAME from `env`)."""
    for name, value in (env or {}).items():
        line = line.replace(f"${name}", value)
    args, method, headers, data, url = iter(shlex.split(line)[1:]), None, {}, [], None
    for arg in args:
        if arg == "-s":
            continue
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(": ")
            headers[name] = value
        elif arg == "-d":
            data.append(next(args))
        elif arg == "--data-urlencode":
            name, _, value = next(args).partition("=")
            data.append(f"{name}={quote(value, safe='')}")
        else:
            assert url is None and arg.startswith("http://"), f"unexpected curl argument {arg!r}"
            url = arg
    assert url is not None
    parts = urlsplit(url)
    assert parts.hostname and parts.port, url
    if not data:
        return client.open(parts.path, method=method or "GET", query_string=parts.query, headers=headers)
    content_type = headers.pop("Content-Type", "application/x-www-form-urlencoded")  # curl's default
    return client.open(parts.path, method=method or "POST", query_string=parts.query, headers=headers,
                       data="&".join(data), content_type=content_type)  # fmt: skip
