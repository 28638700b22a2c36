"""Fixtures shared by every tier: real servers, settings, apps, tokens, clients and workers."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
import redis
import socketio

import config
from app.auth.tokens import mint
from app.storage import migrate
from app.storage.database import open_database
from app.web import create_app
from tests.node import NodeClients
from tests.services import TestServices

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def services() -> TestServices:
    test_services = TestServices()
    db = open_database(test_services.database_url, application_name="chat-tests")
    migrate.migrate(db)
    db.close()
    yield test_services
    test_services.close()


@pytest.fixture(scope="session")
def settings(services: TestServices) -> config.Settings:
    return config.load(
        services.env(),
        require=("server", "auth", "database", "redis", "limits", "queue", "presence", "notifications", "worker"),
    )


@pytest.fixture(scope="session")
def make_settings(services: TestServices) -> Callable[..., config.Settings]:
    """Settings with some variables changed, e.g. make_settings(MESSAGE_RATE=1)."""

    def build(**overrides: object) -> config.Settings:
        return config.load(services.env(**overrides), require=("server", "auth", "database", "redis", "limits"))

    return build


@pytest.fixture(scope="session")
def pg(services: TestServices) -> Iterator[Callable[..., list[tuple]]]:
    """pg(sql, params) -> rows, on an autocommit connection of its own (never the models' one)."""
    conn = psycopg2.connect(services.database_url, application_name="chat-tests-sql")
    conn.autocommit = True

    def query(sql: str, params: tuple = ()) -> list[tuple]:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    yield query
    conn.close()


@pytest.fixture(scope="session")
def db(settings: config.Settings):
    """The session's Peewee database (models are bound to it)."""
    database = open_database(settings.database.database_url, application_name="chat-tests")
    yield database
    database.close()


@pytest.fixture(scope="session")
def sync_redis(settings: config.Settings) -> redis.Redis:
    connection = redis.Redis.from_url(settings.redis.redis_url)
    yield connection
    connection.close()


@pytest.fixture
def user_id() -> Callable[[str], str]:
    """Unique user ids, so tests never share users (or their rate limits)."""

    def make(name: str = "user") -> str:
        return f"{name}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture(scope="session")
def token(settings: config.Settings) -> Callable[..., str]:
    def make(user: str, name: str | None = None, ttl: int = 3600, username: str | None = None) -> str:
        return mint(settings.auth, user, name, ttl, username=username)

    return make


@pytest.fixture
async def app(settings: config.Settings):
    return create_app(settings)


@pytest.fixture
async def server(aiohttp_server, app):
    """The application on a real TCP port."""
    return await aiohttp_server(app)


@pytest.fixture
async def client(aiohttp_client, server):
    """A REST client on the real application factory (the same server Socket.IO clients use)."""
    return await aiohttp_client(server)


AWARENESS_EVENTS = frozenset(
    {"presence:update", "typing:update", "receipt:read", "unread:update", "notification:new", "notification:pending"}
)


class RecordingClient(socketio.AsyncClient):
    """A real Socket.IO client that keeps every server event, in order, for assertions."""

    def __init__(self) -> None:
        super().__init__(reconnection=False)
        self.received: list[tuple[str, object]] = []
        self._arrived = asyncio.Condition()
        self.on("*", self._record)

    async def _record(self, event: str, data: object = None) -> None:
        async with self._arrived:
            self.received.append((event, data))
            self._arrived.notify_all()

    def names(self) -> list[str]:
        """The names of the events received, leaving out presence, typing, receipts and notifications,
        which arrive whenever people sharing a room connect, type or read."""
        return [name for name, _ in self.received if name not in AWARENESS_EVENTS]

    def all(self, event: str) -> list:
        return [data for name, data in self.received if name == event]

    async def next(self, event: str, timeout: float = 5.0, after: int = 0) -> object:
        """The first `event` received at index >= `after`, waiting for it up to `timeout`."""

        def find():
            for name, data in self.received[after:]:
                if name == event:
                    return True, data
            return False, None

        async with self._arrived:
            found, data = find()
            if not found:
                await asyncio.wait_for(self._arrived.wait_for(lambda: find()[0]), timeout)
                found, data = find()
        return data

    async def wait_for_count(self, event: str, count: int, timeout: float = 5.0) -> list:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.all(event)) >= count), timeout)
        return self.all(event)

    async def ack(self, event: str, data: object = None, timeout: float = 5.0) -> dict:
        return await self.call(event, data, timeout=timeout)


@pytest.fixture
def drain(services: TestServices) -> Callable:
    """drain() runs a real worker process (`run.py worker --burst`) until the queues are empty."""

    async def run(**env: object) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "run.py"), "worker", "--burst", env=services.env(**env)
        )
        assert await asyncio.wait_for(process.wait(), 60) == 0

    return run


@pytest.fixture
async def node_clients(aiohttp_server) -> AsyncIterator[NodeClients]:
    """npm `ws` WebSocket clients driven from the test, in one Node process (see tests/node.py).
    Fails, never skips, when Node or node_modules are missing: `npm ci` installs them.
    It asks for aiohttp_server only to close its clients before that fixture stops the test's servers,
    which would otherwise wait a minute for the handlers of sockets still open."""
    clients = await NodeClients.start()
    yield clients
    await clients.close()


@pytest.fixture
async def phoenix_clients(aiohttp_server) -> AsyncIterator:
    """The official `phoenix` JavaScript client (over npm `ws`) driven from the test, in one Node process
    (see tests/phoenix.py). Fails, never skips, when Node or node_modules are missing: `npm ci` installs
    them. Like node_clients, it asks for aiohttp_server only to end its clients before the servers stop."""
    from tests.phoenix import PhoenixClients

    clients = await PhoenixClients.start()
    yield clients
    await clients.close()


@pytest.fixture
async def sio_clients(aiohttp_server) -> AsyncIterator:
    """npm `socket.io-client` driven from the test, in one Node process (see tests/sio.py). Fails, never
    skips, when Node or node_modules are missing: `npm ci` installs them. Like node_clients, it asks for
    aiohttp_server only to end its clients before the servers stop."""
    from tests.sio import SioClients

    clients = await SioClients.start()
    yield clients
    await clients.close()
