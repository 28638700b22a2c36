"""Fixtures of the real-time tier: nodes (the real app on a real port), recording clients, REST setup,
raw Engine.IO sockets, and the AsyncAPI contract every real payload is checked against.

Every Socket.IO client opened through these fixtures is checked when its test ends: each event it
received and each acknowledgement it got must validate against the AsyncAPI document's schema for
that event, and each payload it sent that the server accepted must validate against the documented
payload schema. So every scenario of the tier doubles as a contract test, with real payloads only.
The npm `ws` clients of the raw WebSocket dialects (`node_clients`) and the npm `phoenix` clients
(`phoenix_clients`) are checked the same way, frame by frame (tests/realtime/ws_contract.py), and so are
the npm `socket.io-client` sockets (`sio_clients`), on every namespace (tests/realtime/sio_contract.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
import socketio

from app.cli.commands import set_user_active
from app.gateways.asyncapi import build_asyncapi
from app.web import SERVICES, VERSION, create_app
from tests.conftest import RecordingClient
from tests.node import NodeClients
from tests.realtime.contract import Contract, contract_violations
from tests.realtime.raw import RawSocket
from tests.realtime.sio_contract import sio_violations
from tests.realtime.timing import QUIET, WAIT
from tests.realtime.ws_contract import FrameContract, phoenix_socket

__all__ = ["QUIET", "WAIT", "Client", "contract_violations", "disable_user", "eventually"]


# -- the contract (see tests/realtime/contract.py) ---------------------------------------------------------


@pytest.fixture(scope="session")
def asyncapi() -> dict:
    """The AsyncAPI document as a client reads it (through JSON)."""
    return json.loads(json.dumps(build_asyncapi(VERSION)))


@pytest.fixture(scope="session")
def contract(asyncapi: dict) -> Contract:
    return Contract(asyncapi)


@pytest.fixture(scope="session")
def frame_contract(contract: Contract) -> FrameContract:
    return FrameContract(contract)


@pytest.fixture
async def node_clients(node_clients: NodeClients, frame_contract: FrameContract) -> AsyncIterator[NodeClients]:
    """The npm `ws` clients of tests/conftest.py, checked when the test ends like the Socket.IO ones: each frame
    a socket received, and each it sent that the server took without an error, must be in the AsyncAPI
    document (tests/realtime/ws_contract.py). Refused sockets' frames too."""
    yield node_clients
    problems = [p for socket in node_clients.sockets.values() for p in frame_contract.violations(socket)]
    assert not problems, "frames that break the AsyncAPI contract:\n" + "\n".join(problems)


@pytest.fixture
async def phoenix_clients(phoenix_clients, frame_contract: FrameContract) -> AsyncIterator:
    """The npm `phoenix` clients of tests/conftest.py, checked the same way when the test ends: each frame a
    socket received, and each frame its client wrote that was not answered with an error (heartbeats, joins,
    pushes, leaves), must be in the AsyncAPI document's Phoenix channel, and each phx_reply must be the
    answer documented for what it answers (tests/realtime/ws_contract.py)."""
    yield phoenix_clients
    sockets = [phoenix_socket(socket) for socket in phoenix_clients.sockets.values()]
    problems = [p for socket in sockets for p in frame_contract.violations(socket)]
    assert not problems, "Phoenix frames that break the AsyncAPI contract:\n" + "\n".join(problems)


@pytest.fixture
async def sio_clients(sio_clients, contract: Contract) -> AsyncIterator:
    """The npm `socket.io-client` sockets of tests/conftest.py, checked when the test ends: each event a socket
    received, each acknowledgement it got, each event it emitted that the server did not refuse, its handshake
    and its refusals must be those of its namespace's channel of the AsyncAPI document
    (tests/realtime/sio_contract.py)."""
    yield sio_clients
    problems = [p for socket in sio_clients.sockets.values() for p in sio_violations(contract, socket)]
    assert not problems, "Socket.IO events that break the AsyncAPI contract:\n" + "\n".join(problems)


# -- clients ------------------------------------------------------------------------------------------------


class Client(RecordingClient):
    """A RecordingClient that also keeps its acknowledgements and notices its disconnection."""

    def __init__(self, label: str = "") -> None:
        super().__init__()
        self.label = label
        self.acks: list[tuple[str, object, object]] = []  # (event, payload sent, acknowledgement)
        self.connect_errors: list[object] = []
        self.gone = asyncio.Event()
        self.on("disconnect", self._gone)
        self.on("connect_error", self.connect_errors.append)

    async def _gone(self, *_reason: object) -> None:
        self.gone.set()

    async def ack(self, event: str, data: object = None, timeout: float = WAIT) -> dict:
        answer = await super().ack(event, data, timeout)
        self.acks.append((event, data, answer))
        return answer

    async def fire(self, event: str, data: object = None) -> asyncio.Future:
        """Emit with an acknowledgement callback, without waiting for it: the future gets the answer."""
        future = asyncio.get_running_loop().create_future()

        def answered(*args: object) -> None:
            answer = args[0] if len(args) == 1 else list(args)
            self.acks.append((event, data, answer))
            if not future.done():
                future.set_result(answer)

        await self.emit(event, data, callback=answered)
        return future

    async def join(self, room_id: str, since_seq: int | None = None, changes_since: str | None = None) -> dict:
        payload: dict = {"room_id": room_id}
        if since_seq is not None:
            payload["since_seq"] = since_seq
        if changes_since is not None:
            payload["changes_since"] = changes_since
        answer = await self.ack("room:join", payload)
        assert answer["ok"], answer
        return answer["data"]

    async def send(self, room_id: str, content: str, client_ref: str | None = None) -> dict:
        payload: dict = {"room_id": room_id, "content": content}
        if client_ref is not None:
            payload["client_ref"] = client_ref
        return await self.ack("message:send", payload)

    def messages(self, room_id: str | None = None) -> list[dict]:
        return [m for m in self.all("message:new") if room_id is None or m["room_id"] == room_id]

    def seqs(self, room_id: str) -> list[int]:
        return [m["seq"] for m in self.messages(room_id)]

    async def wait_message(self, room_id: str, seq: int, timeout: float = WAIT) -> dict:
        """Wait until the message `seq` of the room has arrived live."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: seq in self.seqs(room_id)), timeout)
        return next(m for m in self.messages(room_id) if m["seq"] == seq)

    async def wait_gone(self, timeout: float = WAIT) -> None:
        await asyncio.wait_for(self.gone.wait(), timeout)


# -- nodes: the real application on a real port --------------------------------------------------------------


class Rest:
    """REST calls for setting up scenarios, on the node's own port."""

    def __init__(self, base_url: str, token: Callable[..., str]) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT))

    async def close(self) -> None:
        await self._session.close()

    async def call(self, method: str, path: str, user: str, body: object = None) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {self._token(user)}"}
        async with self._session.request(method, self._base + path, json=body, headers=headers) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def get_json(self, path: str) -> tuple[int, object]:
        async with self._session.get(self._base + path) as response:
            return response.status, await response.json()

    async def create_room(self, owner: str, *members: str, name: str = "room") -> str:
        status, body = await self.call("POST", "/api/v1/rooms", owner, {"name": name, "participants": list(members)})
        assert status == 201, body
        return body["id"]

    async def add_members(self, owner: str, room_id: str, *members: str) -> dict:
        status, body = await self.call("POST", f"/api/v1/rooms/{room_id}/members", owner, {"user_ids": list(members)})
        assert status == 200, body
        return body

    async def remove_member(self, owner: str, room_id: str, member: str) -> None:
        status, body = await self.call("DELETE", f"/api/v1/rooms/{room_id}/members/{member}", owner)
        assert status == 204, body

    async def leave(self, user: str, room_id: str) -> None:
        status, body = await self.call("POST", f"/api/v1/rooms/{room_id}/leave", user)
        assert status == 204, body

    async def send(self, user: str, room_id: str, content: str) -> dict:
        status, body = await self.call("POST", f"/api/v1/rooms/{room_id}/messages", user, {"content": content})
        assert status == 201, body
        return body

    async def history(self, user: str, room_id: str) -> dict:
        """The newest page of the room's history (what is stored, whatever its tier)."""
        status, body = await self.call("GET", f"/api/v1/rooms/{room_id}/messages?limit=200", user)
        assert status == 200, body
        return body


@dataclass
class Node:
    """One web node: the real app served on a real TCP port, with clients and REST bound to it."""

    server: object
    token: Callable[..., str]
    rest: Rest
    clients: list[Client] = field(default_factory=list)

    @property
    def app(self):
        return self.server.app

    @property
    def hub(self):
        """The node's session layer: every real-time session, whatever its dialect."""
        return self.app[SERVICES].hub

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    def ws(self, path: str) -> str:
        """The ws:// URL of a raw WebSocket path on this node (`path` starts with /)."""
        return "ws" + self.url.rstrip("/").removeprefix("http") + path

    async def connect(self, user: str, label: str | None = None, **auth: object) -> Client:
        """A client connected as `user` (extra `auth` fields beside the token), after `session:ready`."""
        return await self.open({"token": self.token(user), **auth}, label=label or user)

    async def open(self, auth: dict | None, query: str = "", label: str = "custom") -> Client:
        """A client connected with exactly this `auth` (and query string), after `session:ready`."""
        client = Client(label)
        self.clients.append(client)
        await client.connect(self.url + query, auth=auth, transports=["websocket"], wait_timeout=5)
        await client.next("session:ready")
        return client

    async def refused(self, auth: dict | None = None, query: str = "") -> dict:
        """Try to connect with `auth` (and a query string); return the `connect_error` data of the refusal."""
        client = Client("refused")
        self.clients.append(client)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(self.url + query, auth=auth, transports=["websocket"], wait_timeout=5)
        assert len(client.connect_errors) == 1, client.connect_errors
        return client.connect_errors[0]

    async def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.disconnect()
        await self.rest.close()


@pytest.fixture
async def nodes(contract: Contract) -> AsyncIterator[list[Node]]:
    """Every node of the test; when it ends, the payloads their clients met are checked against the contract."""
    started: list[Node] = []
    yield started
    for node in started:
        await node.close()
    problems = [p for node in started for client in node.clients for p in contract_violations(contract, client)]
    assert not problems, "payloads that break the AsyncAPI contract:\n" + "\n".join(problems)


@pytest.fixture
async def node(server, token, nodes) -> Node:
    """The default application (the session's settings) on a real port."""
    started = Node(server, token, Rest(str(server.make_url("/")), token))
    nodes.append(started)
    return started


@pytest.fixture
def spawn(aiohttp_server, make_settings, token, nodes) -> Callable:
    """spawn(**ENV) -> a Node running an application built from settings with those variables changed."""

    async def start(**env: object) -> Node:
        server = await aiohttp_server(create_app(make_settings(**env)))
        started = Node(server, token, Rest(str(server.make_url("/")), token))
        nodes.append(started)
        return started

    return start


@pytest.fixture
def connect(node: Node) -> Callable:
    """connect(user_id, **extra_auth) -> a connected, recording, contract-checked client on the default node."""
    return node.connect


@pytest.fixture
def rest(node: Node) -> Rest:
    return node.rest


async def disable_user(settings, user: str) -> None:
    """Disable `user` as an operator does (`run.py user disable`): the row, then the announcement to every node."""
    assert await asyncio.to_thread(set_user_active, settings, user, False)


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    """Poll `predicate` until it holds, at most `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


# -- raw Engine.IO over a WebSocket (see tests/realtime/raw.py) -----------------------------------------------


@pytest.fixture
async def raw_socket() -> AsyncIterator[Callable]:
    """raw_socket(node, user) -> a RawSocket signed in as `user`, after `session:ready`."""
    opened: list[RawSocket] = []

    async def open_socket(node: Node, user: str) -> RawSocket:
        raw = await RawSocket.open(node, user)
        opened.append(raw)
        return raw

    yield open_socket
    for raw in opened:
        await raw.close()
