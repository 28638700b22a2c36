"""Markup a user sends stays text on everyone else's page: as message content, a room name and a display name,
in the room list, the people list, the conversation, the notification panel, search results and the event
log. Nothing runs: `window.__xss` stays undefined and no element the payloads describe ever exists."""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import expect

from tests.browser.chat_page import ChatPane
from tests.browser.conftest import LAPTOP, WAIT_MS

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=2</script>"
NAME = f"Mallory {IMG}"
# Postgres text search leaves markup tags out of its index, so the searchable message has a plain word too.
SEARCHABLE = f"payload {SCRIPT} {IMG}"


def assert_inert(page) -> None:
    assert page.evaluate("() => window.__xss") is None, "a payload ran"
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("() => document.scripts.length") == 2  # the Socket.IO client and main.js only
    handlers = (
        "() => [...document.querySelectorAll('*')].filter((e) => e.getAttributeNames().some((a) => /^on/i.test(a)))"
    )
    assert page.evaluate(f"{handlers}.length") == 0


def test_markup_sent_by_a_user_is_shown_as_text_and_never_runs(open_page, artifacts):
    mallory_id, victim_id = f"mallory-{uuid.uuid4().hex[:8]}", f"victim-{uuid.uuid4().hex[:8]}"
    mallory = ChatPane(open_page(LAPTOP))
    victim = ChatPane(open_page(LAPTOP))
    mallory.sign_in(mallory_id, NAME)
    victim.sign_in(victim_id, SCRIPT)

    mallory.create_group(SCRIPT, [victim_id])
    expect(victim.room_item(SCRIPT)).to_have_count(1, timeout=WAIT_MS)

    # The victim is not looking at the room yet: the first message reaches the notification panel.
    mallory.send(IMG)
    victim.show("alerts")
    live = victim.root.locator(".live-list")
    expect(live).to_contain_text(IMG, timeout=WAIT_MS)
    expect(live).to_contain_text(NAME, timeout=WAIT_MS)
    expect(victim.room_item(SCRIPT).locator(".row-sub")).to_contain_text(IMG, timeout=WAIT_MS)

    victim.open_room(SCRIPT)
    mallory.send(SCRIPT)
    mallory.send(SEARCHABLE)
    for payload in (IMG, SCRIPT, SEARCHABLE):
        victim.expect_message(payload)
    expect(victim.message(IMG).locator(".sender")).to_have_text(NAME, timeout=WAIT_MS)
    expect(victim.root.locator(".chat-title h2")).to_have_text(SCRIPT, timeout=WAIT_MS)
    victim.expect_person(NAME, "Online")
    mallory.expect_person(SCRIPT, "Online")
    mallory.expect_seen(SEARCHABLE, SCRIPT)  # "Seen by <script>…": the victim's name, as text

    # Search finds the persisted payload and shows its excerpt as text (a moment after sending).
    victim.show("search")
    victim.root.get_by_label("Search words").fill("payload", timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    hits = victim.root.locator(".hits .excerpt")
    while True:
        victim.root.locator(".search-form").get_by_role("button", name="Search").click(timeout=WAIT_MS)
        victim.root.locator(".search-results p, .search-results ul").first.wait_for(timeout=WAIT_MS)
        if hits.count() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    expect(hits).to_have_count(1, timeout=WAIT_MS)
    expect(hits).to_have_text(SEARCHABLE, timeout=WAIT_MS)
    expect(hits.locator("mark")).to_have_text("payload", timeout=WAIT_MS)

    # The event log shows the frames' JSON as text too.
    victim.show("log")
    victim.root.get_by_label("Filter the event log").fill("message:new", timeout=WAIT_MS)
    entry = victim.root.locator(".log-rows > li").first
    entry.locator("summary").click(timeout=WAIT_MS)
    expect(entry.locator(".log-json")).to_contain_text("window.__xss", timeout=WAIT_MS)

    victim.page.wait_for_timeout(300)  # time for anything that would run to run
    victim.page.screenshot(path=str(artifacts / "xss-victim-laptop.png"))
    for pane in (victim, mallory):
        assert_inert(pane.page)
