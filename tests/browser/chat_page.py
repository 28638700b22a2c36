"""What a QA person does on the test page, as methods: one `ChatPane` per signed-in user (a whole page in the
normal mode, one pane of the page in side-by-side mode). Everything goes through what the page shows
(roles, labels, texts); every wait is bounded by WAIT_MS."""

from __future__ import annotations

import re
import struct
import time
import zlib

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import WAIT_MS


class ChatPane:
    def __init__(self, page: Page, label: str = "a") -> None:
        self.page = page
        self.root: Locator = page.locator(f".pane[data-pane={label}]")

    # -- signing in -----------------------------------------------------------------------------------

    def sign_in(self, user_id: str, name: str) -> None:
        form = self.root.locator(".dev-signin")
        form.get_by_label("User id", exact=True).fill(user_id, timeout=WAIT_MS)
        form.get_by_label("Display name").fill(name, timeout=WAIT_MS)
        form.get_by_role("button", name="Sign in").click(timeout=WAIT_MS)
        self.wait_connected()

    def wait_connected(self) -> None:
        self.root.locator(".conn[data-state=connected]").wait_for(timeout=WAIT_MS)
        expect(self.root.locator(".conn-text")).not_to_contain_text("waiting", timeout=WAIT_MS)

    # -- layout: a narrow pane shows one part at a time -------------------------------------------------

    def show(self, part: str) -> None:
        """Bring `part` (rooms, chat, members, alerts, search, log) into view, through the tabs."""
        tab = self.root.locator(f".pane-nav .nav-{part}")
        if tab.is_visible() and tab.get_attribute("aria-selected") != "true":
            tab.click(timeout=WAIT_MS)

    # -- rooms ----------------------------------------------------------------------------------------

    def create_group(self, name: str, members: list[str]) -> None:
        self.show("rooms")
        self.root.get_by_role("button", name="+ Group").click(timeout=WAIT_MS)
        self.root.get_by_label("New group name").fill(name, timeout=WAIT_MS)
        self.root.get_by_label("New group members").fill(", ".join(members), timeout=WAIT_MS)
        self.root.get_by_role("button", name="Create group").click(timeout=WAIT_MS)
        expect(self.root.locator(".chat-title h2")).to_have_text(name, timeout=WAIT_MS)

    def start_direct(self, user_id: str, title: str) -> None:
        self.show("rooms")
        self.root.get_by_role("button", name="+ Direct").click(timeout=WAIT_MS)
        self.root.get_by_label("Direct chat user id").fill(user_id, timeout=WAIT_MS)
        self.root.get_by_role("button", name="Start chat").click(timeout=WAIT_MS)
        expect(self.root.locator(".chat-title h2")).to_have_text(title, timeout=WAIT_MS)

    def room_item(self, title: str) -> Locator:
        return self.root.locator(".room-item").filter(has=self.page.locator(".row-title", has_text=title))

    def open_room(self, title: str) -> None:
        self.show("rooms")
        self.room_item(title).get_by_role("button").first.click(timeout=WAIT_MS)
        expect(self.root.locator(".chat-title h2")).to_have_text(title, timeout=WAIT_MS)
        expect(self.root.locator(".messages .placeholder", has_text="Loading")).to_have_count(0, timeout=WAIT_MS)

    # -- messages -------------------------------------------------------------------------------------

    @property
    def composer(self) -> Locator:
        return self.root.get_by_label("Message", exact=True)

    def send(self, text: str) -> None:
        self.show("chat")
        self.composer.fill(text, timeout=WAIT_MS)
        self.composer.press("Enter", timeout=WAIT_MS)
        self.message(text).wait_for(timeout=WAIT_MS)
        expect(self.root.locator(".sending .msg")).to_have_count(0, timeout=WAIT_MS)

    def type_slowly(self, text: str) -> None:
        self.show("chat")
        self.composer.press_sequentially(text, delay=30, timeout=WAIT_MS)

    def message(self, text: str) -> Locator:
        """The message (li) whose content is exactly `text`."""
        content = self.page.locator(".content > .text", has_text=re.compile(f"^{re.escape(text)}$"))
        return self.root.locator(".messages:not(.sending) > .msg").filter(has=content)

    def action(self, text: str, name: str) -> None:
        message = self.message(text)
        if "touched" not in (message.get_attribute("class", timeout=WAIT_MS) or "").split():
            # A tap on the bubble's corner shows the actions (on a laptop hovering does too).
            message.locator(".bubble").click(position={"x": 4, "y": 4}, timeout=WAIT_MS)
        message.hover(timeout=WAIT_MS)
        message.get_by_role("button", name=name, exact=True).click(timeout=WAIT_MS)

    def reply(self, text: str, answer: str) -> None:
        self.action(text, "Reply")
        expect(self.root.locator(".reply-context")).to_contain_text(text, timeout=WAIT_MS)
        self.send(answer)

    def react(self, text: str, emoji: str) -> None:
        self.action(text, "React")
        self.message(text).get_by_role("button", name=f"React {emoji}").click(timeout=WAIT_MS)
        self.expect_reaction(text, emoji, 1)

    def edit(self, text: str, new_text: str) -> None:
        self.action(text, "Edit")
        area = self.root.get_by_label("Edit message")
        area.fill(new_text, timeout=WAIT_MS)
        area.press("Enter", timeout=WAIT_MS)
        self.message(new_text).locator(".edited").wait_for(timeout=WAIT_MS)

    def delete(self, text: str) -> None:
        self.action(text, "Delete")
        self.message(text).get_by_role("button", name="Confirm delete").click(timeout=WAIT_MS)
        expect(self.message(text)).to_have_count(0, timeout=WAIT_MS)

    def attach(self, name: str, data: bytes, mime: str) -> None:
        self.show("chat")
        self.root.locator("input[type=file]").set_input_files(
            files=[{"name": name, "mimeType": mime, "buffer": data}], timeout=WAIT_MS
        )
        expect(self.root.locator(".attach-context")).to_contain_text("ready", timeout=WAIT_MS)

    # -- what the other side sees ---------------------------------------------------------------------

    def expect_message(self, text: str) -> Locator:
        message = self.message(text)
        message.wait_for(timeout=WAIT_MS)
        return message

    def expect_reaction(self, text: str, emoji: str, count: int) -> None:
        chip = self.message(text).locator(".reaction", has_text=emoji)
        expect(chip.locator(".count")).to_have_text(str(count), timeout=WAIT_MS)

    def expect_reply(self, text: str, quoted: str) -> None:
        expect(self.message(text).locator(".quote")).to_contain_text(quoted, timeout=WAIT_MS)

    def expect_typing(self, name: str) -> None:
        expect(self.root.locator(".typing")).to_contain_text(f"{name} is typing", timeout=WAIT_MS)

    def expect_seen(self, text: str, name: str) -> None:
        expect(self.message(text).locator(".seen")).to_contain_text(f"Seen by {name}", timeout=WAIT_MS)

    def expect_deleted(self) -> None:
        self.root.locator(".msg.deleted .tombstone").first.wait_for(timeout=WAIT_MS)

    def expect_person(self, name: str, status: str) -> None:
        self.show("rooms")
        person = self.root.locator(".person-item").filter(has=self.page.locator(".row-title", has_text=name))
        expect(person.locator(".status-text")).to_have_text(status, timeout=WAIT_MS)

    def set_status(self, status: str) -> None:
        self.root.get_by_label("My status").select_option(status, timeout=WAIT_MS)
        expect(self.root.locator(".me .avatar")).to_have_attribute("data-status", status, timeout=WAIT_MS)

    def image_loaded(self, text: str) -> bool:
        image = self.message(text).locator("img.att-img")
        image.wait_for(timeout=WAIT_MS)
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            if image.evaluate("img => img.complete && img.naturalWidth > 0"):
                return True
            time.sleep(0.05)
        return False


def png(width: int = 96, height: int = 64) -> bytes:
    """A small gradient PNG, made here (no file shipped)."""
    rows = b"".join(b"\x00" + b"".join(bytes((250, 120 + x, 60 + 2 * y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
