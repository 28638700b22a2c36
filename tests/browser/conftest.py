"""Browser tier: the bundled test page in a real headless Chromium, driven by Playwright.

One real web node (`run.py web`, DEV_MODE on, so the page signs in through the dev token route) and one
real worker (`run.py worker`) are started for the tier, on the run's Postgres and Redis under a key prefix
of its own. Chromium is Debian's (`CHROMIUM_PATH`, default /usr/bin/chromium), launched by Playwright
without any browser download; when it is missing the tier fails, saying how to install it. Each test gets
fresh browser contexts (their own storage), and fails on any uncaught page error or console error, CSP
violations included. Screenshots go to TEST_ARTIFACTS_DIR (default `test-artifacts/`). Every wait is
bounded (WAIT_MS).
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from tests.services import TestServices
from tests.system.conftest import Processes, free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000  # the longest any single wait of the tier may take
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a clear message rather than a collection error
        pytest.fail("Playwright is not installed: .venv/bin/pip install -r requirements-dev.txt", pytrace=False)
    return sync_playwright


@pytest.fixture(scope="package")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's package "
            "(`apt-get install -y chromium chromium-driver`; .ci/run installs it), or CHROMIUM_PATH set to a "
            "Chromium binary. Playwright never downloads a browser here.",
            pytrace=False,
        )
    return CHROMIUM


@dataclass
class Node:
    url: str

    def mint(self, user_id: str, name: str | None = None) -> str:
        """A token from the node's own development route."""
        return self.post("/api/v1/dev/token", {"user_id": user_id, "name": name})["token"]

    def post(self, path: str, body: dict, token: str | None = None) -> dict:
        return self._call("POST", path, body, token)

    def get(self, path: str, token: str | None = None) -> dict:
        return self._call("GET", path, None, token)

    def _call(self, method: str, path: str, body: dict | None, token: str | None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = orjson.dumps({k: v for k, v in body.items() if v is not None}) if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=WAIT_MS / 1000) as response:
            return orjson.loads(response.read())


@pytest.fixture(scope="package")
def browser_node(services: TestServices, tmp_path_factory) -> Iterator[Node]:
    """A real web node (DEV_MODE on) and a real worker, for the whole tier."""
    procs = Processes(tmp_path_factory.mktemp("browser-logs"))
    env = services.env(
        REDIS_PREFIX=f"{services.prefix}browser:",
        DEV_MODE="1",
        TYPING_TIMEOUT="4",  # long enough for a test to see the indicator before it clears
    )
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    port = free_port()
    web = procs.start("web", ["web", "--port", str(port)], env, port=port)
    procs.start("worker", ["worker"], env)
    try:
        wait_healthy(web)
        yield Node(web.url)
    finally:
        procs.stop_all()


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[object]:
    playwright = _playwright()().start()
    try:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@dataclass
class Opened:
    """Pages a test opened, and what went wrong in them."""

    contexts: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@pytest.fixture
def open_page(browser, browser_node: Node) -> Iterator[Callable[..., object]]:
    """open_page(viewport=LAPTOP, mobile=False, hash="") -> a page showing the test page, in a fresh context."""
    opened = Opened()

    def open_one(viewport: dict = LAPTOP, mobile: bool = False, hash: str = ""):
        context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile, device_scale_factor=1)
        context.set_default_timeout(WAIT_MS)
        opened.contexts.append(context)
        page = context.new_page()
        label = f"page {len(opened.contexts)}"
        page.on("pageerror", lambda error: opened.problems.append(f"{label}: uncaught {error}"))
        page.on(
            "console",
            lambda message: (
                opened.problems.append(f"{label}: console {message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        page.goto(browser_node.url + "/" + hash, timeout=WAIT_MS)
        page.locator(".pane[data-pane=a]").wait_for(timeout=WAIT_MS)
        return page

    yield open_one
    problems = list(opened.problems)
    for context in opened.contexts:
        context.close()
    assert not problems, "the page reported errors:\n" + "\n".join(problems)


@pytest.fixture(scope="package")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
