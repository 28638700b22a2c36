"""Fixtures of the operations tier: in-process nodes (from the real-time tier, contract-checked), real
`run.py` processes (from the system tier's helpers), each test on its own REDIS_PREFIX so the queue
and outbox figures it reads are its own, and a proxy that cuts a node off from Postgres or Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from tests.ops.proxy import Proxy
from tests.realtime.conftest import asyncapi, contract, nodes, spawn  # noqa: F401 (fixtures)
from tests.services import TestServices
from tests.system.conftest import Processes


@pytest.fixture
def prefix(services: TestServices) -> str:
    """A key prefix of this test's own, under the run's (so the session deletes its keys)."""
    return f"{services.prefix}ops-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def procs(tmp_path) -> Iterator[Processes]:
    """`run.py` processes of this test, each in its own process group, all stopped at its end."""
    started = Processes(tmp_path / "logs")
    yield started
    started.stop_all()


@pytest.fixture
def proxy() -> Iterator[Callable[[str], tuple[Proxy, str]]]:
    """proxy(url) -> (a Proxy in front of the server of that postgresql:// or redis:// URL, the URL that goes
    through it). Servers on a Unix socket (the embedded ones) are proxied too. All closed at the end."""
    opened: list[Proxy] = []

    def open_proxy(url: str) -> tuple[Proxy, str]:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if parts.scheme == "unix":  # redis over a Unix socket
            started, kept = Proxy(parts.path), {}
            scheme, auth, path = "redis", "", ""
        elif query.get("host", "").startswith("/"):  # postgres over a Unix socket
            socket = f"{query.pop('host')}/.s.PGSQL.{parts.port or 5432}"
            started, kept = Proxy(socket), query
            scheme, auth, path = parts.scheme, parts.netloc.rpartition("@")[0], parts.path
        else:
            default = 6379 if parts.scheme.startswith("redis") else 5432
            started, kept = Proxy(parts.hostname or "127.0.0.1", parts.port or default), query
            scheme, auth, path = parts.scheme, parts.netloc.rpartition("@")[0], parts.path
        opened.append(started)
        netloc = f"{auth}@127.0.0.1:{started.port}" if auth else f"127.0.0.1:{started.port}"
        return started, urlunsplit((scheme, netloc, path, urlencode(kept), ""))

    yield open_proxy
    for started in opened:
        started.close()
