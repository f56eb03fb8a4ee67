"""Server time of the moderation queue page with 500 held comments (issue 4: at most 300 ms).

Fills a fresh store with held comments from data/demo.jsonl, scored by a small model fitted on the
rest of that file (so each carries real reasons and links), logs a moderator in through Flask's test
client and times GET /moderate/ (the whole request: session, queries, 500 items rendered). Prints
the median of several runs, for the default page (100 items) and for all 500 on one page.

    .venv/bin/python -m bench.queue_page                     # SQLite in a temporary directory
    .venv/bin/python -m bench.queue_page --database-url postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python -m bench.queue_page --screenshot docs/moderation-queue.png   # needs chromium

`--screenshot` also serves the app on a loopback port and saves a PNG of the queue page as Debian's
headless Chromium draws it (a dozen demo comments, not the 500).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEMO = ROOT / "data" / "demo.jsonl"
PASSWORD = "bench password 1"


def fit_registry(root: Path, records: list[dict[str, Any]]) -> Path:
    """Fit a small model on labelled demo records into a registry under `root`; return it."""
    from spamguard.comment import parse_record
    from spamguard.features import FeatureSpace
    from training.artifacts import write_version
    from training.fit import TrainConfig, fit_model

    comments = [parse_record(r) for r in records]
    config = TrainConfig(space=FeatureSpace(word_bits=14, char_bits=15), C=1.0, folds=3)
    registry = root / "models"
    write_version(registry, fit_model(comments, config), {})
    return registry


def fill(store: Any, model: Any, records: list[dict[str, Any]], n: int) -> None:
    """Hold `n` records (cycling through them) with the model's score and reasons."""
    from dataclasses import replace

    from spamguard.policy import HOLD

    for i in range(n):
        record = dict(records[i % len(records)])
        record.pop("label", None)
        record["id"] = f"q-{i}"
        verdict = replace(model.score(record), decision=HOLD)
        store.insert_comment(record.get("site") or "blog.example.org", record["id"], record, verdict)


def time_page(app: Any, path: str, runs: int) -> list[float]:
    """Return the server time (ms) of `runs` GETs of `path` by a logged-in moderator."""
    import re

    client = app.test_client()
    token = re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/moderate/login").data)
    assert token is not None
    r = client.post("/moderate/login", data={"name": "bench", "password": PASSWORD,
                                             "csrf_token": token.group(1).decode()})  # fmt: skip
    assert r.status_code == 302, r.status_code
    client.get(path)  # warm the template cache and the connection
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return times


def screenshot(app: Any, out: Path) -> None:
    """Serve `app` on loopback and save a PNG of its queue page from headless Chromium."""
    import io
    import shutil
    import socket
    import threading

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from werkzeug.serving import make_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="spamguard-shot-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1000", "--hide-scrollbars",
                f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    try:
        base = f"http://127.0.0.1:{port}"
        driver.get(base + "/moderate/")
        driver.find_element(By.NAME, "name").send_keys("bench")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("j")
        body.send_keys("x")
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    try:  # a palette PNG is a third of the size; Pillow is optional
        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128).save(buf, "PNG", optimize=True)
        png = buf.getvalue()
    except ImportError:
        pass
    out.write_bytes(png)
    print(f"screenshot: {out} ({len(png) // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held", type=int, default=500, help="held comments in the store")
    parser.add_argument("--runs", type=int, default=15, help="timed requests per page")
    parser.add_argument("--database-url", default="", help="store URL (default: SQLite in a temp dir)")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the queue page here instead")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from spamguard.app import create_app
    from spamguard.model import load_model
    from spamguard.moderators import add_moderator
    from spamguard.settings import Settings

    records = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines() if line.strip()]
    train, shown = records[:1500], records[1500:]
    with tempfile.TemporaryDirectory(prefix="spamguard-bench-") as tmp:
        home = Path(tmp)
        registry = fit_registry(home, train)
        settings = Settings(home=home / "var", model=registry, database_url=args.database_url)
        app = create_app(settings, background=False)
        store = app.extensions["spamguard"].store
        add_moderator(store, "bench", PASSWORD)
        model = load_model(registry)
        if args.screenshot:
            # Plausible moderation work: the comments the model was least sure of, not all spam.
            candidates = [r for r in shown if not r.get("honeypot")]  # those the model rejects outright
            unsure = sorted(candidates, key=lambda r: abs(model.score(r).score - 0.5))[:12]
            fill(store, model, unsure, len(unsure))
            screenshot(app, args.screenshot)
            return
        fill(store, model, shown, args.held)
        figures = {"held": args.held, "database": store.dialect, "runs": args.runs}
        pages = (("default page (100)", "/moderate/"), ("all on one page", f"/moderate/?limit={args.held}"))
        for name, path in pages:
            times = time_page(app, path, args.runs)
            median, low, high = statistics.median(times), min(times), max(times)
            figures[name] = {"median_ms": round(median, 1), "min_ms": round(low, 1), "max_ms": round(high, 1)}
            print(f"GET {path:<22} {args.held} held: median {median:6.1f} ms  min {low:6.1f}  max {high:6.1f}"
                  f"  ({args.runs} runs, {store.dialect})")  # fmt: skip
        store.close()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
