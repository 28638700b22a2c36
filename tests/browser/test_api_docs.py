"""The API document pages in a real browser: Swagger UI renders every operation offline, under the page's CSP.

Headless Chromium from the system's packages (CHROMIUM_PATH, default /usr/bin/chromium), driven by
Playwright from PyPI; no browser is ever downloaded. Fails with how to install them when either is missing
(the package conftest's `chromium_path`). Every request the
page makes to another origin is refused and reported; so is every console error and CSP violation.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright import async_api

from app.rest.docs_pages import DOCS_PATH, EVENTS_PATH
from app.rest.system import DOCUMENTS
from tests.browser.conftest import ARTIFACTS, LAUNCH_ARGS

TIMEOUT_MS = 15_000

# Collects CSP violations in the page (an init script runs outside the page's CSP).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@dataclass
class Watched:
    """A page and what it did wrong: console errors, uncaught errors, requests to another origin."""

    page: object
    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    async def csp_violations(self) -> list[str]:
        return await self.page.evaluate("window.__cspViolations")


@pytest.fixture
async def docs_browser(chromium_path: str) -> AsyncIterator[object]:
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def watched_page(docs_browser, server) -> AsyncIterator[Watched]:
    origin = str(server.make_url("/")).rstrip("/")
    context = await docs_browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    watched = Watched(page, origin)
    await page.add_init_script(WATCH_CSP)
    page.on("console", lambda message: watched.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))

    async def only_this_origin(route) -> None:
        url = route.request.url
        if url == origin or url.startswith(origin + "/"):
            await route.continue_()
        else:
            watched.foreign.append(url)
            await route.abort()

    await page.route("**/*", only_this_origin)
    try:
        yield watched
    finally:
        await context.close()


async def test_swagger_ui_renders_every_operation_offline_under_the_csp(watched_page, server):
    page = watched_page.page
    response = await page.goto(watched_page.origin + DOCS_PATH, wait_until="networkidle")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]

    document = server.app[DOCUMENTS]["openapi"]
    operations = [(m, p) for p, item in document["paths"].items() for m in item if m != "parameters"]
    rooms = page.locator(".opblock.opblock-get", has=page.locator('[data-path="/api/v1/rooms"]'))
    await async_api.expect(rooms).to_be_visible()
    await async_api.expect(page.locator(".opblock")).to_have_count(len(operations))
    await async_api.expect(page.locator(".info .title")).to_contain_text(document["info"]["title"])

    # Try it out on /health: the request goes to this origin (connect-src 'self') and its answer is shown.
    health = page.locator(".opblock.opblock-get", has=page.locator('[data-path="/health"]'))
    await health.locator(".opblock-summary-control").click()
    await health.locator("button.try-out__btn").click()
    await health.locator("button.execute").click()
    status = health.locator(".live-responses-table tbody .response-col_status")
    await async_api.expect(status).to_contain_text("200")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=True)
    assert watched_page.errors == []
    assert await watched_page.csp_violations() == []
    assert watched_page.foreign == []


async def test_the_events_page_shows_every_event_with_no_script(watched_page, server):
    page = watched_page.page
    favicons: list[int] = []
    page.on("response", lambda r: favicons.append(r.status) if "favicon" in r.url else None)
    response = await page.goto(watched_page.origin + EVENTS_PATH, wait_until="networkidle")
    assert response.status == 200
    operations = server.app[DOCUMENTS]["asyncapi"]["operations"]
    await async_api.expect(page.locator("section.event")).to_have_count(len(operations))
    await async_api.expect(page.locator(".aa-sidebar a[href^='#op-']")).to_have_count(len(operations))
    await async_api.expect(page.locator("section.event", has_text="message:send").first).to_be_visible()
    for channel in server.app[DOCUMENTS]["asyncapi"]["channels"]:  # one section per channel (socket)
        await async_api.expect(
            page.locator(f'section.channel[id="channel-{channel}"] section.event').first
        ).to_be_visible()
    fastapi = page.locator('section.channel[id="channel-fastapi"]')
    await async_api.expect(fastapi.locator("section.event", has_text="new_message")).to_be_visible()
    # The introduction reads as text: Markdown rendered (no backtick shown), not a preformatted block.
    intro = page.locator("#introduction")
    assert "`" not in await intro.inner_text()
    await async_api.expect(intro.locator("pre")).to_have_count(0)
    await async_api.expect(intro.locator("li code", has_text="invalid_payload")).to_be_visible()
    # Payloads are folded trees of properties: the page is a fraction of its former 66,000 px.
    height = await page.evaluate("document.documentElement.scrollHeight")
    assert height < 25_000, height
    send = page.locator("section.event#op-message_send")
    await send.locator("details.payload > summary").first.click()
    payload = send.locator("details.payload").first
    room_id = payload.locator(".prop", has=page.locator(".prop-name", has_text="room_id")).first
    await async_api.expect(room_id.locator(".required")).to_be_visible()
    await async_api.expect(payload.locator("details.raw pre")).to_be_hidden()  # the raw JSON only on demand
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "api-events.png"))
    await send.scroll_into_view_if_needed()
    await page.screenshot(path=str(ARTIFACTS / "api-events-message-send.png"))
    assert favicons and all(status == 200 for status in favicons), favicons
    assert watched_page.errors == []
    assert await watched_page.csp_violations() == []
    assert watched_page.foreign == []
