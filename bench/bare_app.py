"""A bare Flask endpoint for comparison with `spamguard serve`: parses the same JSON, answers a constant.

Served by the same gunicorn settings as the real service (spamguard.server.gunicorn_options):

    python bench/bare_app.py --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flask import Flask, Response, jsonify, request

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ANSWER = {"decision": "approve", "score": 0.0, "reasons": [], "model_version": "bare", "elapsed_ms": 0.0}


def create_bare_app() -> Flask:
    """Return an app whose POST /score parses the JSON body and answers a constant."""
    app = Flask(__name__)

    @app.post("/score")
    def score() -> Response:
        record = json.loads(request.get_data())
        return jsonify({"id": record.get("id"), **ANSWER})

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app


def main() -> None:
    from spamguard.server import GunicornApp, gunicorn_options
    from spamguard.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=Settings().threads, help="1: sync workers, more: gthread"
    )
    args = parser.parse_args()
    settings = Settings(
        host=args.host, port=args.port, workers=args.workers, threads=args.threads, log_level="WARNING"
    )
    GunicornApp(create_bare_app, gunicorn_options(settings)).run()


if __name__ == "__main__":
    main()
