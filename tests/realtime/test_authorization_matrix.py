"""The authorization matrix of rich messaging: every edit, delete and reaction event and REST route, and the
routes that hand out a message or its file, tried by each role that must be refused, and by a legitimate
actor who must succeed (a positive control per operation, so a matrix that refused everything would fail).

One world is shared by the whole module (one real node on a real port, real Socket.IO clients over
WebSockets, real Postgres and Redis, and a real worker run so that search sees the messages):

- a group room owned by `owner`, with `sender`, `member` (neither the sender nor the owner), `removed` and
  `left`;
- `sender`'s text message and file message (PNG with a caption);
- `removed` and `left` each sent a text message and a file message, reacted 👍 to their text and fetched
  their file's link while they were members (all accepted); then the owner removed `removed`, and `left`
  left;
- `outsider`, who shares no room with any of them (it has a room of its own, with a message holding the
  same search word).

What each role gets (codes from app/chat/errors.py, as the code answers them):

- another member, and the owner, editing the sender's message: `not_sender` (403 over REST);
- a non-owner member deleting the sender's message: `not_sender` (403);
- a non-member, a removed member and a member who left, on any event or route naming one of the room's
  messages (the removed and left members on their *own* messages): `message_not_found` (404), exactly what
  an unknown id answers (`Messages.find`: whether a message exists in a room one is not in is not theirs to
  know). The routes that hand out a message's file (`GET /api/v1/messages/{id}/attachment-url[/check]`, the
  seed's `GET /api/rooms/refresh-url/?message_id=` and `GET /api/rooms/check-url/?message_id=&url=`)
  answer the same (docs/architecture.md, "Signed links");
- the same three, on the room itself (room:join, history, the changes feed, search with `room_id`,
  marking it a favorite): `not_member` (403), and `room_not_found` (404) for a room that does not exist;
  unmarking a room needs no membership (a removed member may drop a favorite they no longer see) and
  changes nothing for them;
- search without a room: 200, never a hit from a room the caller is not in now (a removed member does not
  find even their own messages; the non-member finds only its own room's);
- the download `GET /api/v1/attachments/{id}/content?expires&sig` is a bearer capability by design
  (docs/architecture.md, "Who can fetch what", and app/chat/attachments.py): it takes no token and checks no
  membership, so a removed member who kept a link that is still valid can fetch the file until the link
  expires, at most ATTACHMENT_URL_TTL plus one rounding step (a twelfth of it) after it was handed out.
  Membership guards getting a link: a removed member gets no fresh one (refresh and check are refused).

After every refusal the test checks the answer's code; that nothing changed (no `message:updated`,
`message:deleted` or `reaction:update` for a protected message reached a member's connection before a later
fence event on the same room, and every protected message, read by a member, equals its snapshot: the
sender's text message still has `UNCHANGED_MESSAGE_FIELDS`); that the actor's favorites did not change;
and that the actor's Socket.IO connection and REST access still work.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app.rest import routes
from app.rest.openapi import build_openapi
from app.web import SERVICES, VERSION, create_app
from tests.api.conftest import Contract as OpenApiContract
from tests.api.conftest import Reply, everything_enqueued
from tests.conftest import ROOT
from tests.realtime.conftest import QUIET, WAIT, Client, Node, Rest, contract_violations, eventually
from tests.shapes import UNCHANGED_MESSAGE_FIELDS

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154"
    "78da63f8cfc0f01f0005000201a1f8e5ee0000000049454e44ae426082"
)
EMOJI = "👍"
FENCE_EMOJI = "👀"
EDITED = "edited by someone"
UNKNOWN_ID = "7999999999999999999"  # a well-formed id of no message and no room
ROLES = ("owner", "sender", "member", "removed", "left", "outsider")
# The messages no refused call may change, by key.
PROTECTED = ("text", "file", "removed_text", "removed_file", "left_text", "left_file")
_MISSING = object()


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the HTTP status; None for a Socket.IO acknowledgement
    code: str | None  # the error code; None when accepted
    data: Any  # the acknowledgement's data or the response's JSON body
    raw: bytes = b""

    @property
    def answer(self) -> tuple[int | None, str | None]:
        return self.status, self.code


def strip_links(record: dict) -> dict:
    """A message record without its attachment's signed link (a fresh one is made on every read)."""
    if not record.get("attachment"):
        return record
    attachment = {k: v for k, v in record["attachment"].items() if k not in ("url", "url_expires_at")}
    return {**record, "attachment": attachment}


def subject(name: str, data: object) -> str | None:
    """The message id a change event is about (None for other events)."""
    if not isinstance(data, dict):
        return None
    if name == "message:updated":
        return data["message"]["id"]
    if name == "message:deleted":
        return data["id"]
    if name == "reaction:update":
        return data["message_id"]
    return None


class World:
    """The shared scenario: users by role, their connections, the room and its messages, snapshots."""

    def __init__(self, node: Node, session: aiohttp.ClientSession, openapi: OpenApiContract) -> None:
        self.node = node
        self.session = session
        self.openapi = openapi
        self.users = {role: f"{role}-{uuid.uuid4().hex[:8]}" for role in ROLES}
        # Letters only, so Postgres's parser keeps it one word; unique per run.
        self.word = "authz" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
        self.clients: dict[str, Client] = {}
        self.room = ""
        self.own_room = ""  # the outsider's
        self.messages: dict[str, str] = {}  # key -> message id
        self.attachments: dict[str, str] = {}  # message key -> attachment id
        self.links: dict[str, str] = {}  # message id -> a link to its file, as its holder got it
        self.snapshots: dict[str, dict] = {}

    @property
    def watcher(self) -> Client:
        """The owner's connection, following the room: it sees every change event the room gets."""
        return self.clients["owner"]

    # -- calls ---------------------------------------------------------------------------------------------

    async def sio(self, role: str, event: str, payload: dict) -> Outcome:
        answer = await self.clients[role].ack(event, payload)
        if answer["ok"]:
            return Outcome(None, None, answer["data"])
        return Outcome(None, answer["error"]["code"], answer["error"])

    async def http(
        self, method: str, path: str, role: str | None, *, json_body: object = _MISSING, params: dict | None = None
    ) -> Outcome:
        """A REST call as `role` (None: no token), checked against the OpenAPI document."""
        headers = {"Authorization": f"Bearer {self.node.token(self.users[role])}"} if role is not None else {}
        kwargs: dict = {"headers": headers, "params": params}
        if json_body is not _MISSING:
            kwargs["json"] = json_body
        url = self.node.url.rstrip("/") + path
        async with self.session.request(method, url, **kwargs) as response:
            raw = await response.read()
            body = json.loads(raw) if raw and response.content_type == "application/json" else None
            self.openapi.check(Reply(method, urlsplit(path).path, response.status, body, response.headers, raw))
            status = response.status
        code = body.get("code") if status >= 400 and isinstance(body, dict) else None
        return Outcome(status, code, body, raw)

    async def read(self, message_id: str) -> dict:
        """A message as a legitimate member reads it."""
        outcome = await self.http("GET", f"/api/v1/messages/{message_id}", "member")
        assert outcome.status == 200, outcome
        return outcome.data

    async def favorites(self, role: str) -> list:
        outcome = await self.http("GET", "/api/v1/me/favorites", role)
        assert outcome.status == 200, outcome
        return outcome.data["favorites"]

    async def send(self, role: str, content: str, room_id: str | None = None, attachment_id: str | None = None) -> str:
        payload: dict = {"room_id": room_id or self.room, "content": content}
        if attachment_id is not None:
            payload["attachment_id"] = attachment_id
        outcome = await self.sio(role, "message:send", payload)
        assert outcome.code is None, outcome
        return outcome.data["id"]

    async def upload(self, role: str) -> dict:
        form = aiohttp.FormData()
        form.add_field("file", PNG, filename="pixel.png", content_type="image/png")
        headers = {"Authorization": f"Bearer {self.node.token(self.users[role])}"}
        url = self.node.url.rstrip("/") + "/api/v1/attachments"
        async with self.session.post(url, data=form, headers=headers) as response:
            assert response.status == 201, await response.text()
            return await response.json()

    async def send_file(self, role: str, key: str, caption: str) -> None:
        uploaded = await self.upload(role)
        self.messages[key] = await self.send(role, caption, attachment_id=uploaded["id"])
        self.attachments[key] = uploaded["id"]

    def link_params(self, message_id: str) -> dict:
        link = self.links.get(message_id)
        return {"url": link} if link is not None else {}

    # -- checks --------------------------------------------------------------------------------------------

    def _fences(self) -> int:
        sentinel = self.messages["sentinel"]
        return sum(1 for data in self.watcher.all("reaction:update") if data["message_id"] == sentinel)

    async def fence(self) -> None:
        """A change on the room after the call under test, waited for on the watcher. Events of one room
        travel one channel in order, so anything the call published has reached the watcher by then."""
        before = self._fences()
        answer = await self.watcher.ack(
            "reaction:toggle", {"message_id": self.messages["sentinel"], "emoji": FENCE_EMOJI}
        )
        assert answer["ok"] and answer["data"]["changed"], answer
        await eventually(lambda: self._fences() > before, what="the fence event")

    async def assert_nothing_changed(self, mark: int) -> None:
        await self.fence()
        protected = {self.messages[key] for key in PROTECTED}
        leaked = [(name, data) for name, data in self.watcher.received[mark:] if subject(name, data) in protected]
        assert not leaked, f"a refused call changed a message: {leaked}"
        for key in PROTECTED:
            assert strip_links(await self.read(self.messages[key])) == self.snapshots[key], key
        text = await self.read(self.messages["text"])
        assert {k: text[k] for k in UNCHANGED_MESSAGE_FIELDS} == UNCHANGED_MESSAGE_FIELDS, text

    async def assert_usable(self, role: str) -> None:
        """The actor's connection is still open and answers; REST still answers them."""
        client = self.clients[role]
        assert client.connected
        answer = await client.ack("presence:heartbeat", {})
        assert answer["ok"], answer
        await self.favorites(role)

    async def seen(self, mark: int, event: str, message_id: str) -> None:
        await eventually(
            lambda: any(
                name == event and subject(name, data) == message_id for name, data in self.watcher.received[mark:]
            ),
            what=f"{event} for {message_id} on the watcher",
        )

    # -- the scenario --------------------------------------------------------------------------------------

    async def build(self, persist: Callable[[], Awaitable[None]]) -> None:
        u, rest = self.users, self.node.rest
        self.room = await rest.create_room(
            u["owner"], u["sender"], u["member"], u["removed"], u["left"], name="authorization matrix"
        )
        for role in ROLES:
            self.clients[role] = await self.node.connect(u[role], label=role)
        await self.watcher.join(self.room)
        await self.clients["removed"].join(self.room)  # a live follower, until removed
        self.messages["text"] = await self.send("sender", f"{self.word} plain words")
        await self.send_file("sender", "file", f"{self.word} picture")
        self.messages["sentinel"] = await self.send("owner", "fence")
        for role in ("removed", "left"):
            self.messages[f"{role}_text"] = await self.send(role, f"{self.word} from {role}")
            await self.send_file(role, f"{role}_file", f"{self.word} file from {role}")
            # While members they may react, read the message and get a link (the same calls are refused later).
            reacted = await OPS["POST /api/v1/messages/{id}/reactions"].run(self, role, self.messages[f"{role}_text"])
            assert reacted.status == 200 and reacted.data["reacted"], reacted
            assert (await OPS["GET /api/v1/messages/{id}"].run(self, role, self.messages[f"{role}_text"])).status == 200
            fresh = await OPS["GET /api/v1/messages/{id}/attachment-url"].run(self, role, self.messages[f"{role}_file"])
            assert fresh.status == 200, fresh
            self.links[self.messages[f"{role}_file"]] = fresh.data["url"]  # the link they keep
        fresh = await OPS["GET /api/v1/messages/{id}/attachment-url"].run(self, "member", self.messages["file"])
        assert fresh.status == 200, fresh
        self.links[self.messages["file"]] = fresh.data["url"]
        self.own_room = await rest.create_room(u["outsider"], name="elsewhere")
        self.messages["outsider_own"] = await self.send("outsider", f"{self.word} outsider's own", self.own_room)
        await rest.remove_member(u["owner"], self.room, u["removed"])
        await rest.leave(u["left"], self.room)
        await persist()
        for key in PROTECTED:
            self.snapshots[key] = strip_links(await self.read(self.messages[key]))
        assert self.snapshots["text"]["content"] == f"{self.word} plain words"
        assert self.snapshots["removed_text"]["reactions"] == [{"emoji": EMOJI, "count": 1, "user_ids": [u["removed"]]}]


@pytest.fixture(scope="module")
async def world(settings, services, token, contract) -> AsyncIterator[World]:
    """The module's scenario on its own node; the Socket.IO payloads its clients met are checked against the
    AsyncAPI document at the end, every REST answer against the OpenAPI document as it comes."""
    server = TestServer(create_app(settings))
    await server.start_server()
    node = Node(server, token, Rest(str(server.make_url("/")), token))
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT))
    world = World(node, session, OpenApiContract(build_openapi(routes.ROUTES, VERSION)))

    async def persist() -> None:
        """Every acknowledged message into Postgres, by a real worker (`run.py worker --burst`)."""
        await everything_enqueued(node)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "run.py"), "worker", "--burst", env=services.env()
        )
        assert await asyncio.wait_for(process.wait(), 60) == 0

    try:
        await world.build(persist)
        yield world
    finally:
        await session.close()
        await node.close()
        await server.close()
    problems = [p for client in node.clients for p in contract_violations(contract, client)]
    assert not problems, "payloads that break the AsyncAPI contract:\n" + "\n".join(problems)


# -- the operations -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    target: str  # what it names: "text" (a message), "file" (a message with a file) or "room"
    run: Callable[[World, str, str], Awaitable[Outcome]]  # (world, role, message or room id)


OPS: dict[str, Op] = {
    "sio message:edit": Op("text", lambda w, r, m: w.sio(r, "message:edit", {"message_id": m, "content": EDITED})),
    "sio message:delete": Op("text", lambda w, r, m: w.sio(r, "message:delete", {"message_id": m})),
    "sio reaction:toggle": Op("text", lambda w, r, m: w.sio(r, "reaction:toggle", {"message_id": m, "emoji": EMOJI})),
    "GET /api/v1/messages/{id}": Op("text", lambda w, r, m: w.http("GET", f"/api/v1/messages/{m}", r)),
    "PATCH /api/v1/messages/{id}": Op(
        "text", lambda w, r, m: w.http("PATCH", f"/api/v1/messages/{m}", r, json_body={"content": EDITED})
    ),
    "DELETE /api/v1/messages/{id}": Op("text", lambda w, r, m: w.http("DELETE", f"/api/v1/messages/{m}", r)),
    "POST /api/v1/messages/{id}/reactions": Op(
        "text", lambda w, r, m: w.http("POST", f"/api/v1/messages/{m}/reactions", r, json_body={"emoji": EMOJI})
    ),
    "DELETE /api/v1/messages/{id}/reactions/{emoji}": Op(
        "text", lambda w, r, m: w.http("DELETE", f"/api/v1/messages/{m}/reactions/{quote(EMOJI)}", r)
    ),
    "GET /api/v1/messages/{id}/attachment-url": Op(
        "file", lambda w, r, m: w.http("GET", f"/api/v1/messages/{m}/attachment-url", r)
    ),
    "GET /api/v1/messages/{id}/attachment-url/check": Op(
        "file", lambda w, r, m: w.http("GET", f"/api/v1/messages/{m}/attachment-url/check", r, params=w.link_params(m))
    ),
    "GET /api/rooms/check-url/": Op(
        "file",
        lambda w, r, m: w.http("GET", "/api/rooms/check-url/", r, params={"message_id": m, **w.link_params(m)}),
    ),
    "GET /api/rooms/refresh-url/": Op(
        "file", lambda w, r, m: w.http("GET", "/api/rooms/refresh-url/", r, params={"message_id": m})
    ),
    "sio room:join": Op("room", lambda w, r, room: w.sio(r, "room:join", {"room_id": room})),
    "GET /api/v1/rooms/{id}/messages": Op(
        "room", lambda w, r, room: w.http("GET", f"/api/v1/rooms/{room}/messages", r)
    ),
    "GET /api/v1/rooms/{id}/changes": Op(
        "room", lambda w, r, room: w.http("GET", f"/api/v1/rooms/{room}/changes", r, params={"since": "0"})
    ),
    "GET /api/v1/search?room_id": Op(
        "room", lambda w, r, room: w.http("GET", "/api/v1/search", r, params={"q": w.word, "room_id": room})
    ),
    "sio favorite:toggle": Op("room", lambda w, r, room: w.sio(r, "favorite:toggle", {"id": room, "type": "room"})),
    "PUT /api/v1/me/favorites/room/{id}": Op(
        "room", lambda w, r, room: w.http("PUT", f"/api/v1/me/favorites/room/{room}", r)
    ),
    "DELETE /api/v1/me/favorites/room/{id}": Op(
        "room", lambda w, r, room: w.http("DELETE", f"/api/v1/me/favorites/room/{room}", r)
    ),
}


def target_of(world: World, role: str, op: str) -> str:
    """What `role` tries `op` on: the removed and left members their own messages, others the sender's."""
    kind = OPS[op].target
    if kind == "room":
        return world.room
    prefix = f"{role}_" if role in ("removed", "left") else ""
    return world.messages[prefix + kind]


def outside(op: str) -> tuple[int | None, str]:
    """The answer to someone outside the room, for an id that exists."""
    kind = OPS[op].target
    status, code = (403, "not_member") if kind == "room" else (404, "message_not_found")
    return (None if op.startswith("sio ") else status), code


def unknown(op: str) -> tuple[int | None, str]:
    """The answer to anyone, for an id that does not exist."""
    status, code = (404, "room_not_found") if OPS[op].target == "room" else (404, "message_not_found")
    return (None if op.startswith("sio ") else status), code


OUTSIDERS = {"non-member": "outsider", "removed member": "removed", "member who left": "left"}
# Unmarking a room needs no membership (a removed member may drop a favorite they can no longer see); it
# is checked on its own below.
UNMARK = "DELETE /api/v1/me/favorites/room/{id}"
GUARDED = [op for op in OPS if op != UNMARK]

REFUSALS = [
    ("other member", "member", "sio message:edit", (None, "not_sender")),
    ("other member", "member", "PATCH /api/v1/messages/{id}", (403, "not_sender")),
    ("owner, not the sender", "owner", "sio message:edit", (None, "not_sender")),
    ("owner, not the sender", "owner", "PATCH /api/v1/messages/{id}", (403, "not_sender")),
    ("non-owner", "member", "sio message:delete", (None, "not_sender")),
    ("non-owner", "member", "DELETE /api/v1/messages/{id}", (403, "not_sender")),
    *[(label, role, op, outside(op)) for label, role in OUTSIDERS.items() for op in GUARDED],
]


@pytest.mark.parametrize(
    ("label", "role", "op", "expected"), [pytest.param(*row, id=f"{row[0]} | {row[2]}") for row in REFUSALS]
)
async def test_a_refused_call_is_refused_with_its_code_and_changes_nothing(world, label, role, op, expected):
    favorites = await world.favorites(role)
    mark = len(world.watcher.received)
    outcome = await OPS[op].run(world, role, target_of(world, role, op))
    assert outcome.answer == expected, (label, outcome)
    await world.assert_nothing_changed(mark)
    assert await world.favorites(role) == favorites
    await world.assert_usable(role)


@pytest.mark.parametrize("role", list(OUTSIDERS.values()))
async def test_unmarking_a_room_one_is_not_in_changes_nothing_and_marks_nothing(world, role):
    favorites = await world.favorites(role)
    mark = len(world.watcher.received)
    outcome = await OPS[UNMARK].run(world, role, world.room)
    assert outcome.answer == (200, None) and outcome.data["favorite"] is False, outcome
    assert world.room not in {f["id"] for f in outcome.data["favorites"]}
    await world.assert_nothing_changed(mark)
    assert await world.favorites(role) == favorites
    await world.assert_usable(role)


@pytest.mark.parametrize("op", GUARDED)
async def test_what_a_non_member_learns_of_an_id(world, op):
    """Every route naming a message (its content or its file) answers an outsider exactly as for an unknown id;
    the room-level ones tell `not_member` (the room exists) from `room_not_found` (it does not)."""
    existing = await OPS[op].run(world, "outsider", target_of(world, "outsider", op))
    missing = await OPS[op].run(world, "outsider", UNKNOWN_ID)
    assert (existing.answer, missing.answer) == (outside(op), unknown(op))
    if OPS[op].target != "room":
        assert existing.answer == missing.answer  # no existence oracle
    await world.assert_usable("outsider")


# -- positive controls: the same operations, by someone entitled to them ------------------------------------------


async def fresh_message(world: World) -> str:
    """A new message of the sender's, arrived at the watcher (so later events about it come after it)."""
    message_id = await world.send("sender", "a fresh one")
    await eventually(
        lambda: any(m["id"] == message_id for m in world.watcher.messages(world.room)), what="the fresh message"
    )
    return message_id


async def check_edited(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert outcome.data["message"]["content"] == EDITED
    assert (await world.read(target))["content"] == EDITED
    await world.seen(mark, "message:updated", target)


async def check_deleted(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert outcome.data["deleted_by"] == world.users[role]
    message = await world.read(target)
    assert message["deleted_at"] and message["deleted_by"] == world.users[role] and message["content"] == ""
    await world.seen(mark, "message:deleted", target)


async def check_reacted(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert (outcome.data["reacted"], outcome.data["changed"]) == (True, True)
    assert (await world.read(target))["reactions"] == [{"emoji": EMOJI, "count": 1, "user_ids": [world.users[role]]}]
    await world.seen(mark, "reaction:update", target)


async def check_unreacted(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert (outcome.data["reacted"], outcome.data["changed"]) == (False, True)
    assert (await world.read(target))["reactions"] == []
    await world.seen(mark, "reaction:update", target)


async def check_read(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert strip_links(outcome.data) == world.snapshots["text"]


async def check_link(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert outcome.data["id"] == world.attachments["file"]
    if "file_location" in outcome.data:  # the seed's answer
        assert outcome.data["file_location"] == outcome.data["url"]
    download = await world.http("GET", outcome.data["url"], None)  # the link is the credential
    assert (download.status, download.raw) == (200, PNG)


async def check_fresh(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert outcome.data["refresh_url"] is False and outcome.data["expires_at"], outcome


async def check_joined(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert outcome.data["room_id"] == world.room


async def check_history(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert world.messages["text"] in {m["id"] for m in outcome.data["messages"]}


async def check_changes(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert isinstance(outcome.data["messages"], list) and outcome.data["cursor"].isdigit(), outcome


async def check_found(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    expected = {world.messages[key] for key in PROTECTED}  # each holds the word; the outsider's is elsewhere
    assert {hit["id"] for hit in outcome.data["hits"]} == expected


async def check_favorite_toggled(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert outcome.data["favorite"] is True and world.room in {f["id"] for f in outcome.data["favorites"]}
    off = await world.sio(role, "favorite:toggle", {"id": world.room, "type": "room"})  # back as it was
    assert off.code is None and off.data["favorite"] is False, off


async def check_favorite_set(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert outcome.data["favorite"] is True and world.room in {f["id"] for f in outcome.data["favorites"]}
    off = await world.http("DELETE", f"/api/v1/me/favorites/room/{world.room}", role)  # back as it was
    assert off.status == 200 and off.data["favorite"] is False, off


async def check_favorite_unset(world: World, role: str, target: str, outcome: Outcome, mark: int) -> None:
    assert outcome.data["favorite"] is False and world.room not in {f["id"] for f in outcome.data["favorites"]}


Check = Callable[[World, str, str, Outcome, int], Awaitable[None]]

# (operation, who, on what: "fresh" a new message of the sender's, "reacted" one the member reacted to,
# "text"/"file" the protected ones, "room"/"favorite" the room (the latter once marked), and the check).
POSITIVE: list[tuple[str, str, str, Check]] = [
    ("sio message:edit", "sender", "fresh", check_edited),
    ("PATCH /api/v1/messages/{id}", "sender", "fresh", check_edited),
    ("sio message:delete", "sender", "fresh", check_deleted),
    ("sio message:delete", "owner", "fresh", check_deleted),
    ("DELETE /api/v1/messages/{id}", "sender", "fresh", check_deleted),
    ("DELETE /api/v1/messages/{id}", "owner", "fresh", check_deleted),
    ("sio reaction:toggle", "member", "fresh", check_reacted),
    ("POST /api/v1/messages/{id}/reactions", "member", "fresh", check_reacted),
    ("DELETE /api/v1/messages/{id}/reactions/{emoji}", "member", "reacted", check_unreacted),
    ("GET /api/v1/messages/{id}", "member", "text", check_read),
    ("GET /api/v1/messages/{id}", "owner", "text", check_read),
    ("GET /api/v1/messages/{id}/attachment-url", "member", "file", check_link),
    ("GET /api/v1/messages/{id}/attachment-url/check", "member", "file", check_fresh),
    ("GET /api/rooms/check-url/", "member", "file", check_fresh),
    ("GET /api/rooms/refresh-url/", "member", "file", check_link),
    ("sio room:join", "member", "room", check_joined),
    ("GET /api/v1/rooms/{id}/messages", "member", "room", check_history),
    ("GET /api/v1/rooms/{id}/changes", "member", "room", check_changes),
    ("GET /api/v1/search?room_id", "member", "room", check_found),
    ("sio favorite:toggle", "member", "room", check_favorite_toggled),
    ("PUT /api/v1/me/favorites/room/{id}", "member", "room", check_favorite_set),
    ("DELETE /api/v1/me/favorites/room/{id}", "member", "favorite", check_favorite_unset),
]


@pytest.mark.parametrize(
    ("op", "role", "on", "check"), [pytest.param(*row, id=f"{row[1]} | {row[0]}") for row in POSITIVE]
)
async def test_the_entitled_actor_may(world, op, role, on, check):
    mark = len(world.watcher.received)
    if on in ("fresh", "reacted"):
        target = await fresh_message(world)
        if on == "reacted":
            added = await OPS["POST /api/v1/messages/{id}/reactions"].run(world, role, target)
            assert added.status == 200, added
    elif on == "favorite":
        target = world.room
        marked = await OPS["PUT /api/v1/me/favorites/room/{id}"].run(world, role, target)
        assert marked.status == 200, marked
    else:
        target = target_of(world, role, op)
    outcome = await OPS[op].run(world, role, target)
    assert outcome.code is None and outcome.status in (None, 200), outcome
    await check(world, role, target, outcome, mark)
    await world.assert_usable(role)


def test_every_refused_operation_has_a_positive_control():
    refused = {op for _label, _role, op, _expected in REFUSALS}
    controlled = {op for op, _role, _on, _check in POSITIVE}
    assert refused <= controlled, refused - controlled
    assert set(GUARDED) <= refused


# -- search, downloads and live delivery --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "finds"),
    [
        pytest.param("member", PROTECTED, id="member (positive control)"),
        pytest.param("outsider", ("outsider_own",), id="non-member"),
        pytest.param("removed", (), id="removed member"),
        pytest.param("left", (), id="member who left"),
    ],
)
async def test_search_finds_only_messages_of_rooms_one_is_in_now(world, role, finds):
    outcome = await world.http("GET", "/api/v1/search", role, params={"q": world.word, "limit": "50"})
    assert outcome.status == 200, outcome
    assert {hit["id"] for hit in outcome.data["hits"]} == {world.messages[key] for key in finds}
    if role != "member":
        assert all(hit["room_id"] != world.room for hit in outcome.data["hits"])
    await world.assert_usable(role)


@pytest.mark.parametrize("role", ["removed", "left"])
async def test_a_link_kept_from_before_removal_is_a_bearer_capability_until_it_expires(world, role):
    """By design (docs/architecture.md, "Who can fetch what"): the download checks the link, not the
    caller. A removed member's kept link still fetches the file, but only until it expires, and they get
    no fresh one."""
    message_id = world.messages[f"{role}_file"]
    link = world.links[message_id]
    expires = int(parse_qs(urlsplit(link).query)["expires"][0])
    ttl = world.node.app[SERVICES].settings.attachments.attachment_url_ttl
    assert time.time() < expires <= time.time() + ttl + max(1, ttl // 12)
    download = await world.http("GET", link, None)
    assert (download.status, download.raw) == (200, PNG)
    refresh = await OPS["GET /api/v1/messages/{id}/attachment-url"].run(world, role, message_id)
    assert refresh.answer == (404, "message_not_found")
    # Nor any message of the room carries one to them: they cannot read it.
    assert (await OPS["GET /api/v1/messages/{id}"].run(world, role, message_id)).answer == (404, "message_not_found")


async def test_a_removed_members_connection_no_longer_gets_the_rooms_events(world):
    removed = world.clients["removed"]
    seen = len(removed.received)
    mark = len(world.watcher.received)
    target = await fresh_message(world)
    edited = await OPS["sio message:edit"].run(world, "sender", target)
    assert edited.code is None, edited
    await world.seen(mark, "message:updated", target)
    await asyncio.sleep(QUIET)  # nothing can prove the absence of a late event: watch a while
    later = [(name, data) for name, data in removed.received[seen:] if name.startswith(("message:", "reaction:"))]
    assert later == []
    await world.assert_usable("removed")
