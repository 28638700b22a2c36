"""The connections of one worker process, opened once and shared by its jobs.

RQ job functions are called with their JSON arguments only, so the
process-wide runtime is where they find Postgres and Redis. `configure`
runs in the parent before any fork; `open` in each worker process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import peewee
import redis

from app.chat.ports import BlobStore
from app.files.local import LocalBlobStore
from app.jobs.queues import open_queue
from app.state.keys import MESSAGES_QUEUE, Keys
from app.state.outbox import Outbox
from app.storage.database import open_database
from config import Settings


@dataclass
class Runtime:
    settings: Settings
    db: peewee.PostgresqlDatabase
    redis: redis.Redis
    keys: Keys
    outbox: Outbox
    blobs: BlobStore  # the uploads' files (UPLOAD_DIR, the folder the web nodes write to)
    postgres_errors: int = 0  # connection-level Postgres errors seen (the worker checks Postgres after a job)

    def queue(self, name: str = MESSAGES_QUEUE):
        return open_queue(self.redis, self.keys, name)

    @contextlib.contextmanager
    def database(self) -> Iterator[peewee.PostgresqlDatabase]:
        """The database; a connection error drops the connection so the job's retry reconnects."""
        try:
            yield self.db
        except (peewee.OperationalError, peewee.InterfaceError):
            self.postgres_errors += 1
            with contextlib.suppress(peewee.PeeweeException):
                self.db.close()
            raise


_settings: Settings | None = None
_runtime: Runtime | None = None


def configure(settings: Settings) -> None:
    global _settings, _runtime
    _settings = settings
    _runtime = None


def open_runtime() -> Runtime:
    """This process's runtime, opened on first use."""
    global _runtime
    if _runtime is None:
        if _settings is None:
            raise RuntimeError("worker.runtime.configure() was not called")
        keys = Keys(_settings.redis.redis_prefix)
        connection = redis.Redis.from_url(_settings.redis.redis_url)
        _runtime = Runtime(
            settings=_settings,
            db=open_database(_settings.database.database_url, application_name="chat-worker"),
            redis=connection,
            keys=keys,
            outbox=Outbox(connection, keys),
            blobs=LocalBlobStore(_settings.attachments.upload_dir),
        )
    return _runtime


def close_runtime() -> None:
    global _runtime
    if _runtime is not None:
        _runtime.db.close()
        _runtime.redis.close()
        _runtime = None
