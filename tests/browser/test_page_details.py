"""What a new user tripped on in the test page (issue 15, items 7 to 11), each checked as they would see it, in
side-by-side mode on a laptop (each pane is then of the medium width, where the side panel floats over the chat).
Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import Locator, Page, expect

from tests.browser.chat_page import ChatPane
from tests.browser.conftest import LAPTOP, PHONE, WAIT_MS

# Is the point at the middle of the element shown, or covered by something else (a panel, a popup)?
UNCOVERED = """el => {
  const r = el.getBoundingClientRect();
  const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return !!top && (top === el || el.contains(top));
}"""


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def side_by_side(open_page) -> tuple[Page, ChatPane, ChatPane, str, str]:
    page = open_page(LAPTOP)
    page.get_by_role("button", name="Side by side").click(timeout=WAIT_MS)
    alice, bob = ChatPane(page, "a"), ChatPane(page, "b")
    alice_id, bob_id = unique("alice"), unique("bob")
    alice.sign_in(alice_id, "Alice")
    bob.sign_in(bob_id, "Bob")
    return page, alice, bob, alice_id, bob_id


def box(locator: Locator) -> dict:
    found = locator.bounding_box(timeout=WAIT_MS)
    assert found, locator
    return found


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"] - 0.5
        and b["x"] < a["x"] + a["width"] - 0.5
        and a["y"] < b["y"] + b["height"] - 0.5
        and b["y"] < a["y"] + a["height"] - 0.5
    )


def search(pane: ChatPane, words: str, expected: str) -> Locator:
    """Search until the hit is found (messages are searchable once persisted, a moment after sending)."""
    pane.show("search")
    box_ = pane.root.get_by_label("Search words")
    hit = pane.root.locator(".hits .hit", has_text=expected)
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        box_.fill(words, timeout=WAIT_MS)
        box_.press("Enter", timeout=WAIT_MS)
        expect(pane.root.locator(".search-results")).not_to_contain_text("Searching", timeout=WAIT_MS)
        if hit.count():
            return hit.first
        assert time.monotonic() < deadline, f"no search hit for {words!r}"
        pane.page.wait_for_timeout(200)


def test_a_search_hit_shows_the_message_in_the_chat_not_under_the_panel(open_page, artifacts):
    page, alice, bob, _alice_id, bob_id = side_by_side(open_page)
    alice.start_direct(bob_id, "Bob")
    needle = f"needle{uuid.uuid4().hex[:6]}"
    alice.send(f"The {needle} is here")
    for n in range(25):  # enough for the hit to be scrolled out of view
        alice.send(f"Filler {n}")

    hit = search(alice, needle, needle)
    # Alice's own message in the direct room with Bob: not "Alice in Bob".
    expect(hit.locator(".row-title")).to_contain_text("You, to Bob")
    hit.get_by_role("button").click(timeout=WAIT_MS)
    message = alice.message(f"The {needle} is here")
    expect(message).to_be_in_viewport(timeout=WAIT_MS)
    expect(alice.root.locator(".drawer")).to_be_hidden(timeout=WAIT_MS)
    assert message.locator(".bubble").evaluate(UNCOVERED), "the message the search jumped to is covered"

    # Bob finds Alice's message: hers, in the direct room (named after her): not "Alice in Alice".
    bob.open_room("Alice")
    hit = search(bob, needle, needle)
    expect(hit.locator(".row-title")).to_contain_text("Alice · direct message")
    expect(hit.locator(".row-title")).not_to_contain_text("in Alice")
    bob.root.locator(".drawer-close").click(timeout=WAIT_MS)
    page.wait_for_timeout(1500)  # the flash fades
    page.screenshot(path=str(artifacts / "side-by-side-search-jump.png"))


def test_alerts_clear_when_the_room_is_read_and_show_edited_text_and_where(open_page, browser_node, artifacts):
    page, alice, bob, _alice_id, bob_id = side_by_side(open_page)
    alice.start_direct(bob_id, "Bob")
    alice.send("First draft")
    alice.send("Second thought")
    # Bob follows no room: both arrive as live alerts.
    alerts = bob.root.locator(".nav-alerts .badge")
    expect(alerts).to_have_text("2", timeout=WAIT_MS)
    bob.show("alerts")
    live = bob.root.locator(".live-list")
    expect(live.locator(".alert-item")).to_have_count(2, timeout=WAIT_MS)
    title = live.locator(".alert-item").first.locator(".row-title")
    expect(title).to_have_text("Alice · direct message")

    # Alice edits: the alert shows the text as it is now, marked edited.
    alice.edit("First draft", "First draft, edited")
    bob.root.locator(".drawer-close").click(timeout=WAIT_MS)
    bob.show("alerts")  # opening the panel reads the alerts' messages as they are now
    edited = live.locator(".alert-item", has_text="First draft, edited")
    expect(edited).to_have_count(1, timeout=WAIT_MS)
    expect(edited.locator(".edited")).to_have_text("edited")
    page.screenshot(path=str(artifacts / "side-by-side-alerts.png"))

    # Bob opens the room from an alert: it is read, and its alerts are gone.
    live.locator(".alert-item").first.get_by_role("button", name="Open").click(timeout=WAIT_MS)
    bob.expect_message("Second thought")
    expect(alerts).to_be_hidden(timeout=WAIT_MS)
    bob.show("alerts")
    expect(live).to_contain_text("No new messages elsewhere.", timeout=WAIT_MS)

    # Stored (pending) alerts of a room are acknowledged when the room is read, too.
    bob.root.get_by_role("button", name="Sign out").click(timeout=WAIT_MS)
    alice.send("While you were away")
    token = browser_node.mint(bob_id, "Bob")
    deadline = time.monotonic() + WAIT_MS / 1000
    while browser_node.get("/api/v1/notifications", token)["total"] < 1:
        assert time.monotonic() < deadline, "the worker stored no notification in time"
        time.sleep(0.1)
    bob.sign_in(bob_id, "Bob")
    expect(bob.root.locator(".pending-list")).to_contain_text("While you were away", timeout=WAIT_MS)
    bob.open_room("Alice")
    bob.expect_message("While you were away")
    expect(alerts).to_be_hidden(timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    while browser_node.get("/api/v1/notifications", token)["total"]:
        assert time.monotonic() < deadline, "reading the room did not acknowledge its pending notification"
        time.sleep(0.1)


def test_the_address_switches_the_mode_in_an_open_tab(open_page):
    page = open_page(LAPTOP)
    second = page.locator(".pane[data-pane=b]")
    expect(second).to_have_count(0)
    page.evaluate("() => { location.hash = '#split'; }")
    expect(second).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Side by side")).to_have_attribute("aria-pressed", "true")
    page.evaluate("() => { location.hash = ''; }")
    expect(second).to_be_hidden(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="One user")).to_have_attribute("aria-pressed", "true")
    page.go_back(timeout=WAIT_MS)  # history: back to #split
    expect(second).to_be_visible(timeout=WAIT_MS)


def test_receipts_and_unread_counts_leave_out_ones_own_and_system_messages(open_page):
    page, alice, bob, _alice_id, bob_id = side_by_side(open_page)
    alice.start_direct(bob_id, "Bob")
    expect(alice.root.locator(".msg.system")).to_contain_text("You started this conversation", timeout=WAIT_MS)
    room = bob.room_item("Alice")
    expect(room).to_have_count(1, timeout=WAIT_MS)
    expect(room.locator(".badge.unread")).to_have_count(0)  # "Alice started this conversation" is not unread
    alice.send("Hello Bob")
    expect(room.locator(".badge.unread")).to_have_text("1", timeout=WAIT_MS)
    bob.open_room("Alice")
    expect(room.locator(".badge.unread")).to_have_count(0, timeout=WAIT_MS)
    bob.send("Hi Alice")
    alice.expect_message("Hi Alice")
    # Bob read Alice's message, and Alice read his: each receipt goes under the other's message.
    alice.expect_seen("Hello Bob", "Bob")
    bob.expect_seen("Hi Alice", "Alice")
    for pane in (alice, bob):
        expect(pane.root.locator(".msg.system .seen")).to_have_count(0)
        expect(pane.root.locator(".seen")).to_have_count(1)
    expect(alice.message("Hi Alice").locator(".seen")).to_have_count(0)  # not "Seen by Bob" under his own
    expect(bob.message("Hello Bob").locator(".seen")).to_have_count(0)  # not "Seen by Alice" under hers
    expect(bob.root.locator(".seen", has_text="Bob")).to_have_count(0)  # never oneself
    assert page


def test_the_message_actions_and_the_reaction_picker_cover_no_text(open_page, artifacts):
    page, alice, bob, _alice_id, bob_id = side_by_side(open_page)
    alice.start_direct(bob_id, "Bob")
    bob.open_room("Alice")
    for text in ("One", "Two, a longer message that takes a good part of the row's width to say anything at all"):
        alice.send(text)
        bob.expect_message(text)
    bob.send("Three")
    alice.expect_message("Three")

    for pane, text in (
        (bob, "Two, a longer message that takes a good part of the row's width to say anything at all"),
        (alice, "Three"),
        (bob, "Three"),
    ):
        message = pane.message(text)
        message.hover(timeout=WAIT_MS)
        toolbar = message.locator(".msg-actions")
        expect(toolbar).to_be_visible(timeout=WAIT_MS)
        page.wait_for_timeout(200)  # the fade-in
        assert not overlap(box(toolbar), box(message.locator(".bubble"))), f"the toolbar covers {text!r}"
        for other in pane.root.locator(".msg .bubble").all():
            assert not overlap(box(toolbar), box(other)), f"the toolbar of {text!r} covers a message"
    page.screenshot(path=str(artifacts / "side-by-side-toolbar.png"))

    message = bob.message("Three")
    message.hover(timeout=WAIT_MS)
    message.get_by_role("button", name="React", exact=True).click(timeout=WAIT_MS)
    picker = message.locator(".picker-box")
    expect(picker).to_be_visible(timeout=WAIT_MS)
    for bubble in bob.root.locator(".msg .bubble").all():
        assert not overlap(box(picker), box(bubble)), "the reaction picker covers a message"
    page.screenshot(path=str(artifacts / "side-by-side-picker.png"))
    message.get_by_role("button", name="React 🎉").click(timeout=WAIT_MS)
    bob.expect_reaction("Three", "🎉", 1)
    expect(picker).to_be_hidden(timeout=WAIT_MS)


def test_on_a_phone_the_actions_open_under_the_message(open_page, artifacts):
    alice = ChatPane(open_page(LAPTOP))
    alice_id, bob_id = unique("alice"), unique("bob")
    alice.sign_in(alice_id, "Alice")
    alice.start_direct(bob_id, bob_id)
    alice.send("Before")
    alice.send("Tap me")
    phone = ChatPane(open_page(PHONE, mobile=True))
    phone.sign_in(bob_id, "Bob")
    phone.open_room("Alice")
    phone.show("chat")
    message = phone.message("Tap me")
    message.locator(".bubble").click(position={"x": 4, "y": 4}, timeout=WAIT_MS)
    toolbar = message.locator(".msg-actions")
    expect(toolbar).to_be_visible(timeout=WAIT_MS)
    for bubble in phone.root.locator(".msg .bubble").all():
        assert not overlap(box(toolbar.get_by_role("button", name="Reply")), box(bubble))
    phone.page.screenshot(path=str(artifacts / "phone-toolbar.png"))
