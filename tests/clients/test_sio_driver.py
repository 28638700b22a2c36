"""The npm `socket.io-client` harness itself (tests/sio.py, tests/js/sio_driver.mjs), against a small
python-socketio server made here: what the client sends reaches the server as sent, and what the server
does reaches the test as the client saw it, over websocket and over polling upgraded to websocket, on
namespaces "/", "/chat" (seed 001's) and "/chat/" (seed 002's, trailing slash kept)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import socketio
from aiohttp import web

from tests.sio import SioClients


class ChatServer:
    """python-socketio on aiohttp, with the three namespaces. It keeps, for the test to check, every
    connection (namespace, sid, Engine.IO sid, auth, query) and every event it received (namespace,
    event, args).

    "/"      "echo": emits "echoed" back to the sender with the same arguments; "add": acknowledges a + b;
             "pair": acknowledges two values; "kick-me": disconnects the sender. No handler for others.
    "/chat"  refuses query userId=0 with ConnectionRefusedError("no", {"code": "x"}) and userId=bare with
             ConnectionRefusedError("bare"); "send-message": emits "receive-message" to the sender.
    "/chat/" refuses an auth without a "Bearer " token with ConnectionRefusedError("no", {"code": "x"});
             "chat:join" <room>: joins, answers "chat:joined" <room>; "ask" <question>: asks the client
             "question" with a callback (sio.call), then emits "answered" with the callback's arguments."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp")
        self.connections: list[dict] = []
        self.received: list[tuple[str, str, list]] = []
        self.disconnects: list[tuple[str, str]] = []
        for namespace in ("/", "/chat", "/chat/"):
            self.sio.on("connect", self._connect(namespace), namespace=namespace)
            self.sio.on("disconnect", self._disconnect(namespace), namespace=namespace)
            self.sio.on("*", self._record(namespace), namespace=namespace)

    def app(self) -> web.Application:
        app = web.Application()
        self.sio.attach(app)
        return app

    def _connect(self, namespace: str):
        async def connect(sid, environ, auth):
            query = {key: values[0] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
            if namespace == "/chat" and query.get("userId") == "0":
                raise socketio.exceptions.ConnectionRefusedError("no", {"code": "x"})
            if namespace == "/chat" and query.get("userId") == "bare":
                raise socketio.exceptions.ConnectionRefusedError("bare")
            if namespace == "/chat/" and not str((auth or {}).get("token", "")).startswith("Bearer "):
                raise socketio.exceptions.ConnectionRefusedError("no", {"code": "x"})
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, namespace)
            self.connections.append(
                {"namespace": namespace, "sid": sid, "eio_sid": eio_sid, "auth": auth, "query": query}
            )

        return connect

    def _disconnect(self, namespace: str):
        async def disconnect(sid, reason=None):
            self.disconnects.append((namespace, sid))

        return disconnect

    def _record(self, namespace: str):
        async def on_any(event, sid, *args):
            self.received.append((namespace, event, list(args)))
            if namespace == "/":
                if event == "echo":
                    await self.sio.emit("echoed", list(args) if len(args) != 1 else args[0], to=sid)
                    return None
                if event == "add":
                    return args[0] + args[1]
                if event == "pair":
                    return "x", 2
                if event == "kick-me":
                    await self.sio.disconnect(sid)
                    return None
            if namespace == "/chat" and event == "send-message":
                await self.sio.emit("receive-message", {**args[0], "id": 1}, to=sid, namespace="/chat")
                return None
            if namespace == "/chat/" and event == "chat:join":
                await self.sio.enter_room(sid, args[0], namespace="/chat/")
                await self.sio.emit("chat:joined", args[0], to=sid, namespace="/chat/")
                return None
            if namespace == "/chat/" and event == "ask":
                answer = await self.sio.call("question", args[0], to=sid, namespace="/chat/", timeout=5)
                answer = list(answer) if isinstance(answer, tuple) else [answer]
                await self.sio.emit("answered", answer, to=sid, namespace="/chat/")
                return None
            return self.sio.not_handled

        return on_any


@pytest.fixture
async def chat(aiohttp_server):
    """The server on a real port, and its http:// base URL."""
    server = ChatServer()
    running = await aiohttp_server(server.app())
    yield server, f"http://{running.host}:{running.port}"
    await server.sio.shutdown()


async def test_websocket_connect_events_acks_and_disconnect(sio_clients: SioClients, chat):
    server, base = chat
    sock = await sio_clients.connect(base, transports=["websocket"], auth={"who": "a"})
    sid = await sock.connected()
    assert sock.transport == "websocket" and sid == server.connections[0]["sid"]
    assert server.connections[0]["auth"] == {"who": "a"}

    await sock.emit("echo", "héllo ✓")
    await sock.emit("echo", {"n": [1, 2.5, None, True]}, "two", b"\x00\xff")
    assert await sock.next("echoed") == "héllo ✓"
    echoed = await sock.next_event("echoed")
    assert echoed.args == [[{"n": [1, 2.5, None, True]}, "two", b"\x00\xff"]] and echoed.ack is None
    assert server.received[:2] == [
        ("/", "echo", ["héllo ✓"]),
        ("/", "echo", [{"n": [1, 2.5, None, True]}, "two", b"\x00\xff"]),
    ]

    assert await sock.emit_ack("add", 2, 3) == [5]
    assert await sock.emit_ack("pair") == ["x", 2]
    with pytest.raises(AssertionError, match=r"did not acknowledge 'nobody' within 0\.3s"):
        await sock.emit_ack("nobody", timeout=0.3)
    await sock.quiet(0.2, "echoed")

    await sock.disconnect()
    assert await sock.disconnected() == "io client disconnect"
    assert sock.finished


async def test_polling_then_upgrade_like_the_default_transports(sio_clients: SioClients, chat):
    server, base = chat
    sock = await sio_clients.connect(f"{base}/chat", query={"userId": 1})
    await sock.connected()
    assert await sock.upgraded() == "websocket" and sock.transport == "websocket"
    assert sock.transports == ["polling", "websocket"]  # opened with long-polling, then upgraded
    assert server.connections[0]["namespace"] == "/chat" and server.connections[0]["query"]["userId"] == "1"

    await sock.emit("send-message", {"conversation_id": 7, "content": "hi"})
    assert await sock.next("receive-message", conversation_id=7) == {"conversation_id": 7, "content": "hi", "id": 1}


async def test_websocket_then_polling_as_seed_001_lists_them(sio_clients: SioClients, chat):
    _server, base = chat
    sock = await sio_clients.connect(f"{base}/chat", query={"userId": 1}, transports=["websocket", "polling"])
    await sock.connected()
    assert sock.transport == "websocket"
    await sock.emit("send-message", {"conversation_id": 1})
    assert await sock.next("receive-message", lambda message: message["id"] == 1) == {"conversation_id": 1, "id": 1}
    assert sock.transports == ["websocket"] and sock.upgrades == []


async def test_refusals_surface_as_connect_error(sio_clients: SioClients, chat):
    server, base = chat
    refused = await sio_clients.connect(f"{base}/chat", query={"userId": 0}, transports=["websocket"])
    assert await refused.connect_error() == {"message": "no", "data": {"code": "x"}}
    bare = await sio_clients.connect(f"{base}/chat", query={"userId": "bare"}, transports=["websocket"])
    assert await bare.connect_error() == {"message": "bare"}  # no data given: err.data is undefined
    # python-socketio refuses an unknown namespace with the string "Unable to connect" as the packet's data,
    # where the client reads data.message: err.message is empty.
    unknown = await sio_clients.connect(f"{base}/nowhere", transports=["websocket"])
    assert await unknown.connect_error() == {"message": ""}
    assert server.connections == []
    # The client does not retry a server's refusal: connected() says so at once.
    with pytest.raises(AssertionError, match="gave up before connection 1"):
        await refused.connected(timeout=2)
    assert refused.finished


async def test_seed_002_namespace_keeps_its_trailing_slash(sio_clients: SioClients, chat):
    server, base = chat
    url = base.replace("http://", "ws://") + "/chat/"
    no_token = await sio_clients.connect(url, transports=["websocket"], auth={"token": "nope", "userId": "u1"})
    assert await no_token.connect_error() == {"message": "no", "data": {"code": "x"}}

    sock = await sio_clients.connect(url, transports=["websocket"], auth={"token": "Bearer t", "userId": "u1"})
    await sock.connected()
    assert server.connections[-1]["namespace"] == "/chat/"
    assert server.connections[-1]["auth"] == {"token": "Bearer t", "userId": "u1"}

    await sock.emit("chat:join", "room_id")  # a string argument
    assert await sock.next("chat:joined") == "room_id"
    assert server.received == [("/chat/", "chat:join", ["room_id"])]

    # The server asks the client with a callback; the test answers it, with two arguments.
    await sock.emit("ask", "what?")
    question = await sock.next_event("question")
    assert question.args == ["what?"] and question.ack is not None
    await sock.answer(question, "42", {"n": 1})
    assert await sock.next("answered") == ["42", {"n": 1}]


async def test_two_namespaces_on_one_shared_manager(sio_clients: SioClients, chat):
    server, base = chat
    chat_socket = await sio_clients.connect(f"{base}/chat", name="chat", query={"userId": 5}, transports=["websocket"])
    slash = await sio_clients.connect(f"{base}/chat/", name="slash", share="chat", auth={"token": "Bearer t"})
    await chat_socket.connected()
    await slash.connected()
    first, second = sorted(server.connections, key=lambda connection: connection["namespace"])
    assert (first["namespace"], second["namespace"]) == ("/chat", "/chat/")
    assert first["eio_sid"] == second["eio_sid"]  # one Engine.IO connection
    assert second["query"]["userId"] == "5"  # the Manager's query, sent once for the connection
    assert first["sid"] != second["sid"]

    await slash.emit("chat:join", "r")
    await chat_socket.emit("send-message", {"conversation_id": 2})
    assert await slash.next("chat:joined") == "r"
    assert await chat_socket.next("receive-message", conversation_id=2)
    await chat_socket.quiet(0.2, "chat:joined")
    await slash.quiet(0, "receive-message")


async def test_server_disconnect_ends_waits_at_once(sio_clients: SioClients, chat):
    _server, base = chat
    sock = await sio_clients.connect(base, transports=["websocket"])
    await sock.connected()
    await sock.emit("kick-me")
    assert await sock.disconnected() == "io server disconnect"
    with pytest.raises(AssertionError, match="down for good with no 'echoed'"):
        await sock.next("echoed", timeout=2)
