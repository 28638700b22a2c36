"""What worker/main.py and worker/scheduler.py rely on in RQ, pinned: a new RQ fails here first.

ChatWorker rides out Redis outages by wrapping the steps RQ's work loop (`BaseWorker.work`) calls, reads
RQ's `_stop_requested` flag, and overrides RQ's private `_start_scheduler`; ChatScheduler wraps RQ's
scheduler loop. If RQ changes any of the methods below, a step may move outside the wrappers (and a Redis
restart end the worker again) or the override may drift from RQ's own logic: re-read RQ's source, adapt
worker/main.py and worker/scheduler.py, run tests/system/test_worker_outages.py, then update the digests
and the pin in requirements.txt together.

The wrappers' own behaviour (the outage logged once each way, the back-off, a stop request) is tested
here on fakes; their effect on real processes in tests/system/test_worker_outages.py.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
from pathlib import Path

import pytest
import redis
import rq
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.worker.base import BaseWorker

from worker import outages
from worker.main import ChatWorker

ROOT = Path(__file__).resolve().parents[2]
PINNED = "3.0.0"
# sha256 (first 16 hex digits) of the source of each RQ method the worker wraps, overrides or whose
# calls it relies on.
DIGESTS = {
    BaseWorker.work: "04b5cdf8e554d8a2",  # the loop: which steps it calls, what it does with exceptions
    BaseWorker.dequeue_job_and_maintain_ttl: "2715cf34d9e3af3b",
    BaseWorker.teardown: "bfc2572817e5fbf9",
    BaseWorker.heartbeat: "63b1089fd146d19c",
    BaseWorker.check_for_suspension: "e8095ae1fcf966bd",
    BaseWorker.run_maintenance_tasks: "3d8a446b5354fce3",
    BaseWorker._start_scheduler: "49c229109608aa31",  # private, overridden by ChatWorker._start_scheduler
    BaseWorker._shutdown: "828be105b616d1d6",  # sets `_stop_requested`, which ChatWorker reads
    SimpleWorker.execute_job: "eae0f23110aeb280",
    RQScheduler.work: "5d1810bdd4392089",
}


def test_rq_is_the_pinned_version():
    pins = re.findall(r"^rq==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pins == [PINNED], "requirements.txt must pin RQ exactly: ChatWorker overrides its internals"
    assert rq.__version__ == PINNED


@pytest.mark.parametrize("method", list(DIGESTS), ids=lambda method: method.__qualname__)
def test_the_rq_methods_the_worker_relies_on_are_unchanged(method):
    digest = hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]
    assert digest == DIGESTS[method], (
        f"RQ's {method.__qualname__} changed: re-check worker/main.py and worker/scheduler.py against it "
        "(see this module's docstring)"
    )


def test_every_redis_step_of_rqs_loop_is_wrapped():
    """The steps `BaseWorker.work` calls inside its loop, each overridden by ChatWorker."""
    loop = inspect.getsource(BaseWorker.work)
    for step in ("check_for_suspension", "run_maintenance_tasks", "dequeue_job_and_maintain_ttl", "execute_job"):
        assert f"self.{step}(" in loop, step
        assert step in vars(ChatWorker), f"ChatWorker does not wrap {step}"
    for step in ("heartbeat", "teardown"):
        assert step in vars(ChatWorker), f"ChatWorker does not wrap {step}"
    assert "self._stop_requested" in loop


class FakeRedis:
    """Answers PING after `failures` errors."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        if self.failures:
            raise self.failures.pop(0)
        return True


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(outages, "FIRST_WAIT", 0.01)
    monkeypatch.setattr(outages, "MAX_WAIT", 0.02)


def test_waiting_for_redis_logs_the_outage_and_the_recovery_once_each(quick, caplog):
    log = logging.getLogger("test.outages")
    connection = FakeRedis([redis.ConnectionError("refused"), redis.BusyLoadingError("loading"), redis.TimeoutError()])
    with caplog.at_level(logging.WARNING, logger="test.outages"):
        assert outages.wait_for_redis(connection, redis.ConnectionError("reset"), log, "Worker w")
    assert connection.pings == 4  # three failures (LOADING is one), then PONG
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("Worker w: Redis is unreachable (ConnectionError: reset)"), lines
    assert lines[1].startswith("Worker w: Redis answers again after"), lines


def test_waiting_for_redis_gives_up_when_the_process_is_asked_to_stop(quick):
    connection = FakeRedis([redis.ConnectionError("refused")] * 1000)
    calls = []

    def stopping() -> bool:
        calls.append(1)
        return len(calls) > 3

    log = logging.getLogger("test.outages")
    assert not outages.wait_for_redis(connection, redis.ConnectionError("gone"), log, "Worker w", stopping)
