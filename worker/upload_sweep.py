"""The sweep of unsent uploads: files uploaded that no message claimed within UPLOAD_ORPHAN_TTL.

An upload is recorded with no room (`attachments.room_id IS NULL`) until a message sends it. One that
stays unsent for UPLOAD_ORPHAN_TTL seconds is deleted: its row, then its file.

- **Where, how often.** In worker processes, never on web nodes: every worker process runs it in a
  background thread beside the outbox redrive (`redrive.Periodic`, started by `ChatWorker.work`), every
  `interval()` seconds (a twelfth of the TTL, at most ten minutes). A Redis lock held for that interval
  lets one worker of the cluster sweep per interval; the others find it taken and do nothing.
- **Batches.** One sweep deletes up to BATCH rows per statement, oldest first (the partial index
  `attachments_unsent` finds them), and at most MAX_BATCHES statements; what is left waits for the next.
- **Racing a send.** Each batch is one conditional statement, `DELETE ... WHERE room_id IS NULL AND
  created_at < cutoff ... RETURNING id, storage_key` (`app.storage.attachments.delete_unsent`), and files
  are removed only for the rows it returned, after it committed. A send claims an upload with
  `UPDATE ... WHERE room_id IS NULL OR room_id = <room>`; both lock the row and re-check it, so only one
  of them can succeed: the message is sent with its file, or refused with `attachment_not_found`. A
  message never carries a file the sweep removes.
- **Several sweeps at once** (the lock expired during a long sweep, or was lost with Redis) do no harm
  either, for the same reason: a row is deleted, and its file removed, by exactly one of them (rows another
  sweep holds are skipped), and removing a file that is already gone is not an error. The lock only saves
  the duplicate work.
- **Failures.** A file that cannot be removed is logged and left behind (nothing refers to it any more);
  the sweep goes on. A database error ends the sweep; the next interval tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import peewee

from app.chat.ports import BlobStore
from app.files.local import LocalBlobStore
from app.storage import attachments
from config import ConfigError, Settings
from config.settings import MIN_UPLOAD_ORPHAN_TTL
from worker.redrive import Periodic
from worker.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 500  # rows per statement
MAX_BATCHES = 20  # bounded work per sweep: what is left waits for the next one
MAX_INTERVAL = 600  # seconds
REMOVALS_AT_ONCE = 16  # files removed concurrently (an S3 store would send that many DELETEs)


@dataclass
class Swept:
    deleted: list[str] = field(default_factory=list)  # ids of the uploads deleted (rows, and files unless failed)
    failed: list[str] = field(default_factory=list)  # ids of those whose file could not be removed


def check(settings: Settings) -> None:
    """Refuse a TTL so short that uploads would be swept before their message is sent. Raises ConfigError."""
    if settings.attachments.upload_orphan_ttl < MIN_UPLOAD_ORPHAN_TTL:
        raise ConfigError(f"UPLOAD_ORPHAN_TTL must be at least {MIN_UPLOAD_ORPHAN_TTL} seconds")


def interval(settings: Settings) -> int:
    """Seconds between two sweeps: a twelfth of UPLOAD_ORPHAN_TTL, at most MAX_INTERVAL. An unsent upload is
    gone at most TTL + interval after it was made."""
    return max(1, min(MAX_INTERVAL, settings.attachments.upload_orphan_ttl // 12))


def sweep(runtime: Runtime, now: datetime | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> Swept:
    """Delete the uploads no message sent within UPLOAD_ORPHAN_TTL of `now`: rows first, then their files.

    Blocking: run it in a thread of its own (it runs the blob store's calls on an event loop of its own)."""
    check(runtime.settings)
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=runtime.settings.attachments.upload_orphan_ttl)
    swept = Swept()
    if _store_missing(runtime.blobs):
        with runtime.database():
            if attachments.any_unsent_before(cutoff):
                log.warning(
                    "upload sweep: UPLOAD_DIR %s is not there, so unsent uploads are kept; give this worker the "
                    "folder the web nodes write to",
                    runtime.blobs.root,
                )
        return swept
    for _ in range(max_batches):
        with runtime.database() as db:
            rows = attachments.delete_unsent(db, cutoff, batch)  # committed: these rows and files are ours alone
        swept.deleted += [attachment_id for attachment_id, _key in rows]
        swept.failed += asyncio.run(_remove_files(runtime.blobs, rows)) if rows else []
        if len(rows) < batch:
            break
    if swept.deleted:
        log.info("upload sweep: deleted %d uploads no message sent", len(swept.deleted))
    return swept


def sweep_once(runtime: Runtime, owner: str, now: datetime | None = None) -> Swept | None:
    """Sweep, unless another worker did within the interval (then None). Closes this thread's database
    connection afterwards: a sweep is rare, and an idle connection per worker process would be held for it."""
    lock_ms = interval(runtime.settings) * 1000
    if not runtime.redis.set(runtime.keys.upload_sweep_lock, owner, nx=True, px=lock_ms):
        return None
    try:
        return sweep(runtime, now)
    finally:
        with contextlib.suppress(peewee.PeeweeException):
            runtime.db.close()


class UploadSweeper(Periodic):
    """Runs `sweep_once` every `interval()` seconds in a worker process until stopped."""

    def __init__(self, runtime: Runtime, owner: str) -> None:
        super().__init__("upload-sweep", interval(runtime.settings), lambda: sweep_once(runtime, owner))


async def _remove_files(blobs: BlobStore, rows: list[tuple[str, str]]) -> list[str]:
    """Remove the files of deleted rows; return the ids of those that could not be removed (each is logged)."""
    gate = asyncio.Semaphore(REMOVALS_AT_ONCE)

    async def remove(attachment_id: str, key: str) -> str | None:
        async with gate:
            try:
                await blobs.delete(key)
            except Exception as exc:
                log.warning("upload sweep: the file %r of deleted upload %s stays behind: %r", key, attachment_id, exc)
                return attachment_id
        return None

    results = await asyncio.gather(*(remove(attachment_id, key) for attachment_id, key in rows))
    return [attachment_id for attachment_id in results if attachment_id is not None]


def _store_missing(blobs: BlobStore) -> bool:
    """Whether the local folder of uploads is missing here (a worker without the web nodes' shared volume):
    deleting rows there would leave their files behind for good."""
    return isinstance(blobs, LocalBlobStore) and not blobs.root.is_dir()
