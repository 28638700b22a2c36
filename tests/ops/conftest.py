"""Fixtures of the operations tier: in-process nodes (from the real-time tier, contract-checked), real
`run.py` processes (from the system tier's helpers), each test on its own REDIS_PREFIX so the queue
and outbox figures it reads are its own, and a proxy that cuts a node off from Postgres or Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.ops.proxy import proxy  # noqa: F401 (fixture, shared with the system tier)
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
