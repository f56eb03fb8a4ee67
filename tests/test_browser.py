"""The moderation UI in a real headless Chromium: a queue full of XSS payloads runs no script from the data.

Needs Debian's `chromium` and `chromium-driver` (`apt-get install -y chromium chromium-driver`) and
the `selenium` package. Without them the test is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spamguard.policy import HOLD, Reason, Verdict

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery"
CHROME_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1280,900",
)  # fmt: skip

# Each would set window.__xss (or open a dialog) if the page let it run.
PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '"><svg onload="window.__xss=1">',
    "'><script>alert(1)</script>",
    "javascript:window.__xss=1//",
    '<a href="javascript:window.__xss=1">click</a>',
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    '<body onload="window.__xss=1">',
    '<details open ontoggle="window.__xss=1">',
    "</textarea></title></style><script>window.__xss=1</script>",
    '<style>body{background:url("https://evil.example/leak")}</style>',
    '<div style="background-image:url(javascript:window.__xss=1)">css</div>',
    "<link rel=stylesheet href=https://evil.example/x.css>",
    '<meta http-equiv=refresh content="0;url=javascript:window.__xss=1">',
    "<base href=https://evil.example/>",
    '<form action="https://evil.example/"><button>go</button></form>',
    "{{7*7}}{% raw %}${alert(1)}",
    "\u202e<script>window.__xss=1</script>",
]


def _chromium_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing: apt-get install -y chromium chromium-driver"
    return None


@pytest.fixture(scope="module")
def chromium_ready() -> None:
    missing = _chromium_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: {missing}")
        pytest.skip(missing)


@pytest.fixture
def driver(chromium_ready: None) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="spamguard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # "ignore": a dialog stays open for the test to find, instead of being dismissed with an error.
    options.set_capability("unhandledPromptBehavior", "ignore")
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


class _Server:
    """The real app on werkzeug's threaded server, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live_ui(make_app: Any) -> Iterator[tuple[str, Any]]:
    from spamguard.moderators import add_moderator

    app = make_app()
    store = app.extensions["spamguard"].store
    add_moderator(store, "alice", PASSWORD)
    server = _Server(app)
    try:
        yield server.url, store
    finally:
        server.stop()


def fill_with_payloads(store: Any) -> int:
    """Hold one comment per payload with the payload in every field; return how many."""
    for i, p in enumerate(PAYLOADS):
        record = {
            "content": f"payload {i}: {p} see http://evil.example.com/{p}", "author_name": p,
            "author_email": p, "author_url": p if p.startswith("javascript:") else f"javascript:{p}",
            "author_ip": p, "user_agent": p, "comment_type": p, "site": p,
        }  # fmt: skip
        reasons = [Reason(p, 1.5, p), Reason(f"ham:{p}", -0.5, p)]
        store.insert_comment(f"site {p}", f"id-{i}-{p}", record, Verdict(HOLD, 0.6, reasons, p, str(i)))
    return len(PAYLOADS)


def login(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    # Cookies are per host, not per port: a session from an earlier test's server on 127.0.0.1 would
    # otherwise come along. Start every login from none.
    driver.get(url + "/moderate/login")
    driver.delete_all_cookies()
    driver.get(url + "/moderate/")
    assert "/moderate/login" in driver.current_url
    driver.find_element(By.NAME, "name").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    # The click returns before the next page has loaded on a busy machine: wait for it.
    _wait_for(lambda: driver.current_url.rstrip("/").endswith("/moderate"))


def assert_nothing_ran(driver: Any, base: str) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        pass
    else:
        raise AssertionError(f"a dialog opened: {text!r}")
    assert driver.execute_script("return typeof window.__xss") == "undefined"
    assert (
        driver.execute_script(
            "return document.querySelectorAll('iframe, svg, img, style, base, meta[http-equiv]').length"
        )
        == 0
    )
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(name.startswith(base) for name in loaded), loaded
    for entry in driver.get_log("browser"):
        message = entry["message"]
        # A CSP report would mean something tried to run and was blocked; the escaping should mean
        # nothing even tries. Either way no message may say a script was executed.
        assert "Refused to execute inline" not in message, message
        assert "Refused to load" not in message, message
        assert entry["level"] != "SEVERE" or "favicon.ico" in message, message


def test_queue_of_xss_payloads_runs_no_script(driver: Any, live_ui: tuple[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    url, store = live_ui
    n = fill_with_payloads(store)
    login(driver, url)
    items = driver.find_elements(By.CSS_SELECTOR, ".item[data-id]")
    assert len(items) == n
    assert_nothing_ran(driver, url)
    # The payloads are on the page as text.
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "<script>window.__xss=1</script>" in body and "javascript[:]" in body

    # Our own script runs under the CSP: j/k move the current item, x ticks it.
    page = driver.find_element(By.TAG_NAME, "body")
    current = lambda: driver.find_element(By.CSS_SELECTOR, ".item.current").get_attribute("data-id")  # noqa: E731
    first = current()
    page.send_keys("j")
    page.send_keys("j")
    assert current() == items[2].get_attribute("data-id")
    page.send_keys("k")
    assert current() == items[1].get_attribute("data-id") != first
    page.send_keys("x")
    assert items[1].find_element(By.CSS_SELECTOR, "input[name=ids]").is_selected()
    assert_nothing_ran(driver, url)

    # a approves the current item; the page comes back on the next one, still inert.
    decided = current()
    driver.find_element(By.TAG_NAME, "body").send_keys("a")
    _wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".item[data-id]")) == n - 1)
    assert decided not in [e.get_attribute("data-id") for e in driver.find_elements(By.CSS_SELECTOR, ".item")]
    assert "Approved 1 comment." in driver.find_element(By.CSS_SELECTOR, ".flash").text
    assert_nothing_ran(driver, url)
    driver.find_element(By.TAG_NAME, "body").send_keys("s")
    _wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".item[data-id]")) == n - 2)
    assert_nothing_ran(driver, url)

    # The other pages show the same payloads, inert too.
    for path in ("/moderate/recent", "/moderate/audit", "/moderate/?q=script"):
        driver.get(url + path)
        assert_nothing_ran(driver, url)


def test_csp_blocks_an_injected_inline_script(driver: Any, live_ui: tuple[str, Any]) -> None:
    """The control: were markup ever to slip through, the CSP would refuse to run it."""
    url, store = live_ui
    login(driver, url)
    driver.execute_script(
        "var s = document.createElement('script'); s.textContent = 'window.__xss = 1';"
        "document.body.appendChild(s);"
    )
    assert driver.execute_script("return typeof window.__xss") == "undefined"
    messages = [e["message"] for e in driver.get_log("browser")]
    assert any("Content Security Policy" in m for m in messages), messages


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the page is being replaced under us: try again
            pass
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the page")


def test_a_campaign_is_one_group_and_one_click_decides_it(driver: Any, live_ui: tuple[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    from spamguard import history
    from spamguard import moderation_store as ms
    from spamguard.comment import parse_record

    url, store = live_ui
    text = "payload: " + " ".join(PAYLOADS[:6]) + " win a prize at http://evil.example.com today"
    for i in range(4):
        record = {"id": f"g{i}", "content": text + "!" * i, "author_name": PAYLOADS[i]}
        verdict = Verdict(HOLD, 0.6, [Reason(PAYLOADS[i], 1.5, "x")], "v", f"g{i}")
        store.insert_comment("blog", f"g{i}", record, verdict)
        history.record(store, "blog", f"g{i}", history.facts(parse_record(record)), "hold")
    store.insert_comment(
        "blog", "lone", {"content": "a comment of its own"}, Verdict(HOLD, 0.5, [], "v", "l")
    )
    login(driver, url)
    groups = driver.find_elements(By.CSS_SELECTOR, ".campaign")
    assert len(groups) == 1 and "4 near-identical comments" in groups[0].text
    assert "<script>window.__xss=1</script>" in groups[0].text  # shown as text
    assert len(driver.find_elements(By.CSS_SELECTOR, ".item[data-id]")) == 1
    assert_nothing_ran(driver, url)
    groups[0].find_element(By.CSS_SELECTOR, "button.spam").click()
    _wait_for(lambda: not driver.find_elements(By.CSS_SELECTOR, ".campaign"))
    assert "Marked spam 4 comments of the campaign." in driver.find_element(By.CSS_SELECTOR, ".flash").text
    assert [ms.get_by_id(store, "blog", f"g{i}").verdict for i in range(4)] == ["spam"] * 4
    assert ms.get_by_id(store, "blog", "lone").status == "held"
    assert_nothing_ran(driver, url)


def test_list_entries_are_added_and_removed_in_the_browser(driver: Any, live_ui: tuple[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from spamguard import lists

    url, store = live_ui
    login(driver, url)
    driver.get(url + "/moderate/lists/?site=blog")
    Select(driver.find_element(By.NAME, "kind")).select_by_value("deny-keyword")
    driver.find_element(By.NAME, "value").send_keys(PAYLOADS[0])
    driver.find_element(By.CSS_SELECTOR, "form.add-entry button[type=submit]").click()
    _wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "table.lists td.value"))
    assert driver.find_element(By.CSS_SELECTOR, "table.lists td.value").text == PAYLOADS[0]
    assert [e.value for e in lists.entries(store, "blog")] == [PAYLOADS[0]]
    assert_nothing_ran(driver, url)
    # A value that is not an e-mail address: the reason, as a sentence, and the typed value kept.
    Select(driver.find_element(By.NAME, "kind")).select_by_value("deny-email")
    driver.find_element(By.NAME, "value").send_keys(PAYLOADS[1])
    driver.find_element(By.CSS_SELECTOR, "form.add-entry button[type=submit]").click()
    _wait_for(lambda: "Not an e-mail address" in driver.find_element(By.CSS_SELECTOR, ".flash").text)
    assert driver.find_element(By.NAME, "value").get_attribute("value") == PAYLOADS[1]
    # The form comes back with 400, which the browser logs; nothing else may be logged.
    logged = [e["message"] for e in driver.get_log("browser")]
    assert all("/moderate/lists/add" in m and "status of 400" in m for m in logged), logged
    assert_nothing_ran(driver, url)
    driver.find_element(By.CSS_SELECTOR, "table.lists button.remove").click()
    _wait_for(lambda: not driver.find_elements(By.CSS_SELECTOR, "table.lists"))
    assert lists.entries(store, "blog") == []
    assert_nothing_ran(driver, url)
