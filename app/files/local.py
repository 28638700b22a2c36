"""The local-disk `BlobStore`: one file per key under UPLOAD_DIR, written atomically, off the event loop.

Every disk call runs in a thread (`asyncio.to_thread`), so a slow disk never blocks the loop. A file is
written to a temporary name under `.tmp/` (same file system), flushed to disk, then renamed into place:
a reader sees the whole file or nothing, and a failed or cancelled write leaves nothing behind. Temporary
files that a crashed process left are removed by the first write after a restart, once a day old. A part
of a file (a download's byte range) is read by seeking to its start and stopping at its end.

Keys are made by the server (decimal ids); anything else is refused, so no key can name a path outside
the directory. Files are spread over 100 sub-folders by the key's last two characters.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from app.chat.ports import BlobNotFound

CHUNK_BYTES = 256 * 1024
STALE_TEMP_SECONDS = 86400
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,127}")


class LocalBlob:
    """An open file, positioned at the start of the part opened, read in chunks from a thread up to the
    part's end. `size` is the whole file's."""

    def __init__(self, handle: BinaryIO, size: int, chunk_bytes: int, length: int | None = None) -> None:
        self._handle = handle
        self.size = size
        self._chunk_bytes = chunk_bytes
        self._left = size if length is None else length

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while self._left > 0:
                chunk = await asyncio.to_thread(self._handle.read, min(self._chunk_bytes, self._left))
                if not chunk:
                    break
                self._left -= len(chunk)
                yield chunk
        finally:
            self._handle.close()

    async def aclose(self) -> None:
        self._handle.close()


class LocalBlobStore:
    def __init__(self, root: str | Path, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.root = Path(root)
        self._temp = self.root / ".tmp"
        self._chunk_bytes = chunk_bytes
        self._swept = False

    def path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key[-2:] / key

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        final = self.path(key)
        handle, temp = await asyncio.to_thread(self._create_temp, key)
        size = 0
        try:
            pending = bytearray()
            async for chunk in chunks:
                pending += chunk
                size += len(chunk)
                if len(pending) >= self._chunk_bytes:
                    data = bytes(pending)
                    pending.clear()
                    await asyncio.to_thread(handle.write, data)
            await asyncio.to_thread(_commit, handle, bytes(pending), temp, final)
        except BaseException:
            # Shielded: a cancelled write must still remove its temporary file.
            await asyncio.shield(asyncio.to_thread(_discard, handle, temp))
            raise
        return size

    async def open(self, key: str, start: int = 0, stop: int | None = None) -> LocalBlob:
        path = self.path(key)
        if start < 0 or (stop is not None and stop < start):
            raise ValueError(f"not a part of a file: [{start}, {stop})")
        try:
            handle, size = await asyncio.to_thread(_open, path, start)
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        end = size if stop is None else min(stop, size)
        return LocalBlob(handle, size, self._chunk_bytes, max(0, end - start))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    def _create_temp(self, key: str) -> tuple[BinaryIO, Path]:
        self._temp.mkdir(parents=True, exist_ok=True)
        if not self._swept:
            self._swept = True
            _sweep(self._temp, time.time() - STALE_TEMP_SECONDS)
        fd, name = tempfile.mkstemp(dir=self._temp, prefix=key + ".", suffix=".part")
        return os.fdopen(fd, "wb"), Path(name)


def _commit(handle: BinaryIO, tail: bytes, temp: Path, final: Path) -> None:
    handle.write(tail)
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, final)


def _discard(handle: BinaryIO, temp: Path) -> None:
    try:
        handle.close()
    except OSError:
        pass
    temp.unlink(missing_ok=True)


def _open(path: Path, start: int) -> tuple[BinaryIO, int]:
    handle = path.open("rb")
    try:
        if start:
            handle.seek(start)
        return handle, os.fstat(handle.fileno()).st_size
    except BaseException:
        handle.close()
        raise


def _sweep(folder: Path, before: float) -> None:
    """Remove temporary files a crashed process left (older than `before`)."""
    for entry in folder.iterdir():
        try:
            if entry.is_file() and entry.stat().st_mtime < before:
                entry.unlink(missing_ok=True)
        except OSError:
            continue
