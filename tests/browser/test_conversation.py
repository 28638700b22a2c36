"""Two users talk through the test page in a real browser: in two pages (a laptop and a phone), and in the
side-by-side mode of one page. Each step is checked on the other user's screen, live."""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import expect

from tests.browser.chat_page import ChatPane, png
from tests.browser.conftest import LAPTOP, PHONE, WAIT_MS

FIRST = "Hello Bob! Ready for the launch?"
EDITED = "Hello Bob! Ready for the launch today?"
REPLY = "Yes, all set."
MISTAKE = "Oops, wrong room"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def converse(alice: ChatPane, bob: ChatPane, bob_name: str, alice_name: str) -> None:
    """Both have the same room open: send, typing, reply, reaction, edit, read receipts, delete."""
    alice.send(FIRST)
    bob.expect_message(FIRST)

    bob.type_slowly("Almost")
    alice.expect_typing(bob_name)
    bob.composer.fill("", timeout=WAIT_MS)

    bob.reply(FIRST, REPLY)
    alice.expect_reply(REPLY, FIRST)

    bob.react(FIRST, "👍")
    alice.expect_reaction(FIRST, "👍", 1)

    alice.edit(FIRST, EDITED)
    bob.expect_message(EDITED).locator(".edited").wait_for(timeout=WAIT_MS)
    bob.expect_reaction(EDITED, "👍", 1)  # the edit kept the reaction
    bob.expect_reply(REPLY, EDITED)  # and the reply quotes the edited text

    # Each reads the room as messages arrive: each sees the other's receipt under the last message the other
    # read and did not write (never under one's own message: sending is not being seen).
    alice.expect_seen(EDITED, bob_name)
    bob.expect_seen(REPLY, alice_name)
    expect(alice.message(REPLY).locator(".seen")).to_have_count(0, timeout=WAIT_MS)

    alice.send(MISTAKE)
    bob.expect_message(MISTAKE)
    alice.delete(MISTAKE)
    bob.expect_deleted()
    expect(bob.message(MISTAKE)).to_have_count(0, timeout=WAIT_MS)


def wait_pending(node, token: str, count: int) -> None:
    """Until the worker has stored `count` notifications for the token's user (bounded)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while node.get("/api/v1/notifications", token)["total"] < count:
        assert time.monotonic() < deadline, "the worker stored no notification in time"
        time.sleep(0.1)


def test_two_users_chat_in_two_pages(open_page, browser_node, artifacts):
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = ChatPane(open_page(LAPTOP))
    alice.sign_in(alice_id, "Alice")
    alice.start_direct(bob_id, bob_id)  # Bob never connected: the room is named by his id for now

    # Bob is offline: what Alice writes now waits for him as a pending notification.
    alice.send("Are you there, Bob?")
    wait_pending(browser_node, browser_node.mint(bob_id, "Bob"), 1)

    bob = ChatPane(open_page(PHONE, mobile=True))
    bob.sign_in(bob_id, "Bob")
    bob.show("alerts")
    pending = bob.root.locator(".pending-list")
    expect(pending).to_contain_text("Are you there, Bob?", timeout=WAIT_MS)
    expect(pending).to_contain_text("Alice", timeout=WAIT_MS)
    bob.root.get_by_role("button", name="Acknowledge all").click(timeout=WAIT_MS)
    expect(pending).to_contain_text("Nothing pending.", timeout=WAIT_MS)
    wait_acknowledged = time.monotonic() + WAIT_MS / 1000
    while browser_node.get("/api/v1/notifications", browser_node.mint(bob_id, "Bob"))["total"]:
        assert time.monotonic() < wait_acknowledged, "the pending notification was never acknowledged"
        time.sleep(0.1)

    # Bob opens the direct room from his list: the history is there, and Alice sees that he read it.
    bob.open_room("Alice")
    bob.expect_message("Are you there, Bob?")
    alice.expect_seen("Are you there, Bob?", "Bob")
    expect(alice.root.locator(".chat-title h2")).to_have_text("Bob", timeout=WAIT_MS)  # his name arrived

    converse(alice, bob, "Bob", "Alice")

    # An image: uploaded over REST, sent with its attachment_id, previewed on the other side.
    alice.attach("chart.png", png(), "image/png")
    alice.send("The chart")
    bob.expect_message("The chart")
    assert bob.image_loaded("The chart"), "the image preview did not load"

    # Presence: Bob sees Alice online, then the status she chooses.
    bob.expect_person("Alice", "Online")
    alice.set_status("away")
    bob.expect_person("Alice", "Away")
    alice.set_status("online")

    # The raw event log shows the frames, filterable.
    alice.page.wait_for_timeout(200)
    alice.page.screenshot(path=str(artifacts / "normal-laptop-alice.png"))
    bob.show("chat")
    bob.page.screenshot(path=str(artifacts / "normal-phone-bob.png"))
    alice.show("log")
    alice.root.get_by_label("Filter the event log").fill("reaction:update", timeout=WAIT_MS)
    rows = alice.root.locator(".log-rows > li")
    expect(rows.first).to_contain_text("reaction:update", timeout=WAIT_MS)
    assert all("reaction:update" in text for text in rows.all_inner_texts())
    alice.root.get_by_label("Filter the event log").fill("message:send", timeout=WAIT_MS)
    expect(rows.filter(has_text="ack message:send")).not_to_have_count(0, timeout=WAIT_MS)
    alice.page.screenshot(path=str(artifacts / "normal-laptop-alice-log.png"))


def test_two_users_chat_side_by_side_in_one_page(open_page, artifacts):
    page = open_page(LAPTOP)
    page.get_by_role("button", name="Side by side").click(timeout=WAIT_MS)
    alice, bob = ChatPane(page, "a"), ChatPane(page, "b")
    alice_id, bob_id = unique("alice"), unique("bob")
    alice.sign_in(alice_id, "Alice")
    bob.sign_in(bob_id, "Bob")
    # Two sessions: each pane its own token and its own Socket.IO connection.
    sockets = page.evaluate("() => [...window.chatTestPage.panes.values()].map((p) => p.session.connection.socket.id)")
    assert len(sockets) == 2 and sockets[0] != sockets[1] and all(sockets), sockets
    expect(alice.root.locator(".me-id")).to_have_text(alice_id, timeout=WAIT_MS)
    expect(bob.root.locator(".me-id")).to_have_text(bob_id, timeout=WAIT_MS)

    alice.create_group("Launch plan", [bob_id])
    expect(bob.room_item("Launch plan")).to_have_count(1, timeout=WAIT_MS)  # room:added, live
    bob.open_room("Launch plan")

    converse(alice, bob, "Bob", "Alice")
    bob.expect_person("Alice", "Online")

    # Reconnect by hand: a new connection, session:ready again, the open room followed again.
    bob.root.get_by_role("button", name="Reconnect").click(timeout=WAIT_MS)
    bob.wait_connected()
    alice.send("Still there after the reconnect?")
    bob.expect_message("Still there after the reconnect?")

    page.wait_for_timeout(200)
    page.screenshot(path=str(artifacts / "side-by-side-laptop.png"))
    page.set_viewport_size(PHONE)
    # On a phone the panes stack, each a screen high, each showing its conversation.
    expect(alice.root.locator(".chat")).to_be_visible(timeout=WAIT_MS)
    expect(bob.root.locator(".chat")).to_be_visible(timeout=WAIT_MS)
    a_box, b_box = alice.root.bounding_box(), bob.root.bounding_box()
    assert a_box and b_box and b_box["y"] >= a_box["y"] + a_box["height"] - 1, (a_box, b_box)
    assert a_box["width"] <= PHONE["width"] and b_box["width"] <= PHONE["width"]
    page.wait_for_timeout(200)
    page.screenshot(path=str(artifacts / "side-by-side-phone.png"), full_page=True)
