"""The local-disk blob store: atomic writes, nothing left behind by a failed or cancelled write, keys that
cannot name a path outside its folder, and reads in chunks."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from app.chat.ports import BlobNotFound
from app.files.local import LocalBlobStore


async def chunks_of(*parts: bytes, fail_after: int | None = None, pause: float = 0.0):
    for index, part in enumerate(parts):
        if fail_after is not None and index == fail_after:
            raise RuntimeError("the client went away")
        if pause:
            await asyncio.sleep(pause)
        yield part


def files_under(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


async def test_a_file_is_written_whole_and_read_back_in_chunks(tmp_path):
    store = LocalBlobStore(tmp_path, chunk_bytes=1000)
    content = os.urandom(3500)
    size = await store.put("1234567", chunks_of(content[:100], content[100:2500], content[2500:]))
    assert size == 3500
    assert files_under(tmp_path) == ["67/1234567"]
    assert await store.exists("1234567")
    blob = await store.open("1234567")
    assert blob.size == 3500
    parts = [chunk async for chunk in blob]
    assert b"".join(parts) == content and [len(p) for p in parts] == [1000, 1000, 1000, 500]
    await blob.aclose()


async def test_a_failed_write_leaves_nothing(tmp_path):
    store = LocalBlobStore(tmp_path, chunk_bytes=10)
    with pytest.raises(RuntimeError):
        await store.put("555", chunks_of(b"x" * 50, b"y" * 50, fail_after=1))
    assert files_under(tmp_path) == []
    assert not await store.exists("555")


async def test_a_cancelled_write_leaves_nothing(tmp_path):
    store = LocalBlobStore(tmp_path, chunk_bytes=10)
    task = asyncio.create_task(store.put("777", chunks_of(*([b"z" * 20] * 100), pause=0.01)))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)  # the shielded clean-up runs on
    assert files_under(tmp_path) == []


async def test_nothing_is_visible_under_the_key_until_the_write_is_done(tmp_path):
    store = LocalBlobStore(tmp_path, chunk_bytes=10)
    started = asyncio.Event()

    async def slow():
        yield b"a" * 20
        started.set()
        await asyncio.sleep(0.1)
        yield b"b" * 20

    task = asyncio.create_task(store.put("888", slow()))
    await started.wait()
    assert not await store.exists("888")
    with pytest.raises(BlobNotFound):
        await store.open("888")
    assert await task == 40
    assert await store.exists("888")


@pytest.mark.parametrize("key", ["../etc", "a/b", "..", ".hidden", "x", "", "a b", "k\x00", "/abs"])
async def test_keys_that_could_name_a_path_are_refused(tmp_path, key):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(ValueError):
        await store.put(key, chunks_of(b"x"))
    with pytest.raises(ValueError):
        await store.open(key)
    assert files_under(tmp_path) == []


async def test_missing_files_are_not_found_and_deleting_them_is_no_error(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        await store.open("4242")
    await store.delete("4242")
    await store.put("4242", chunks_of(b"x"))
    await store.delete("4242")
    assert not await store.exists("4242")


async def test_temporary_files_a_crash_left_are_swept_by_the_first_write(tmp_path):
    leftover = tmp_path / ".tmp" / "99.abc.part"
    leftover.parent.mkdir()
    leftover.write_bytes(b"half a file")
    recent = tmp_path / ".tmp" / "98.def.part"
    recent.write_bytes(b"being written by another process")
    old = time.time() - 2 * 86400
    os.utime(leftover, (old, old))
    await LocalBlobStore(tmp_path).put("100", chunks_of(b"x"))
    assert not leftover.exists()
    assert recent.exists()


async def test_a_part_of_a_file_is_read_from_its_start_to_its_stop(tmp_path):
    store = LocalBlobStore(tmp_path, chunk_bytes=1000)
    content = os.urandom(3500)
    await store.put("4242", chunks_of(content))
    for start, stop, lengths in [
        (0, 3500, [1000, 1000, 1000, 500]),
        (900, 2100, [1000, 200]),  # across chunks, the last read cut at the stop
        (3499, None, [1]),
        (10, 99_999, [1000, 1000, 1000, 490]),  # a stop past the end is the end
        (3500, None, []),  # nothing past the end
        (100, 100, []),
    ]:
        blob = await store.open("4242", start, stop)
        assert blob.size == 3500  # the whole file's, whatever part is read
        parts = [chunk async for chunk in blob]
        assert b"".join(parts) == content[start:stop], (start, stop)
        assert [len(part) for part in parts] == lengths, (start, stop)
    for start, stop in [(-1, None), (10, 5)]:
        with pytest.raises(ValueError):
            await store.open("4242", start, stop)
    with pytest.raises(BlobNotFound):
        await store.open("4343", 5, 10)
