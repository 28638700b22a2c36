"""The sweep of unsent uploads (worker/upload_sweep.py) on real Postgres, Redis and disk, with uploads and sends
made through the real app over HTTP: old unsent uploads go (row and file), sent and fresh ones stay, a send
racing the sweep either gets its file or `attachment_not_found`, two sweeps at once share the work, a file
that cannot be removed is logged and skipped, and a real worker process sweeps on its own.

An upload is made old by moving its `created_at` back in Postgres: the sweep compares it with the clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from app.storage import attachments as attachment_rows
from app.storage.models import AttachmentRow
from app.web import create_app
from tests.conftest import ROOT
from worker.upload_sweep import interval, sweep, sweep_once

DAY = timedelta(days=1)
WAIT = 20  # seconds: the bound of every wait below


class Web:
    """The real app on a real socket, uploading and sending for users."""

    def __init__(self, client, token) -> None:
        self.client = client
        self._token = token

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token(user)}"}

    async def upload(self, user: str, content: bytes) -> dict:
        form = aiohttp.FormData()
        form.add_field("file", content, filename="notes.bin", content_type="application/octet-stream")
        response = await self.client.post("/api/v1/attachments", data=form, headers=self.auth(user))
        assert response.status == 201, await response.text()
        return await response.json()

    async def room(self, owner: str) -> str:
        response = await self.client.post(
            "/api/v1/rooms", json={"name": "Files", "participants": []}, headers=self.auth(owner)
        )
        assert response.status == 201, await response.text()
        return (await response.json())["id"]

    async def send(self, user: str, room_id: str, attachment_id: str) -> tuple[int, dict]:
        response = await self.client.post(
            f"/api/v1/rooms/{room_id}/messages", json={"attachment_id": attachment_id}, headers=self.auth(user)
        )
        return response.status, await response.json()

    async def fetch(self, url: str) -> tuple[int, bytes]:
        async with self.client.get(url) as response:
            return response.status, await response.read()

    async def history(self, user: str, room_id: str) -> list[dict]:
        response = await self.client.get(f"/api/v1/rooms/{room_id}/messages?limit=200", headers=self.auth(user))
        assert response.status == 200, await response.text()
        return (await response.json())["messages"]


@pytest.fixture
def upload_dir(tmp_path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
async def web(aiohttp_client, make_settings, token, upload_dir, db) -> Web:
    client = await aiohttp_client(create_app(make_settings(UPLOAD_DIR=str(upload_dir))))
    return Web(client, token)


@pytest.fixture
def worker(lane, upload_dir):
    """The worker runtime, on the web node's UPLOAD_DIR."""
    return lane(UPLOAD_DIR=str(upload_dir)).runtime


def age(attachment_id: str, by: timedelta) -> None:
    AttachmentRow.update(created_at=datetime.now(UTC) - by).where(AttachmentRow.id == int(attachment_id)).execute()


def row(attachment_id: str) -> AttachmentRow | None:
    return AttachmentRow.get_or_none(AttachmentRow.id == int(attachment_id))


def file_of(upload_dir: Path, attachment_id: str) -> Path:
    return upload_dir / attachment_id[-2:] / attachment_id


async def swept(runtime, **kwargs):
    """Sweep in a thread of its own, as the worker does (bounded)."""
    return await asyncio.wait_for(asyncio.to_thread(sweep, runtime, **kwargs), WAIT)


async def test_old_unsent_uploads_are_deleted_and_sent_or_fresh_ones_kept(web, worker, upload_dir, user_id):
    alice = user_id("alice")
    room = await web.room(alice)
    old = await web.upload(alice, b"never sent\n")
    sent = await web.upload(alice, b"sent long ago\n")
    fresh = await web.upload(alice, b"about to be sent\n")
    status, _ = await web.send(alice, room, sent["id"])
    assert status == 201
    age(old["id"], 2 * DAY)
    age(sent["id"], 2 * DAY)
    age(fresh["id"], DAY - timedelta(minutes=5))  # UPLOAD_ORPHAN_TTL is a day

    first = await swept(worker)

    assert old["id"] in first.deleted and first.failed == []
    assert row(old["id"]) is None and not file_of(upload_dir, old["id"]).exists()
    status, answer = await web.fetch(old["url"])  # the link the uploader got
    assert status == 404 and b'"attachment_not_found"' in answer
    for kept, content in ((sent, b"sent long ago\n"), (fresh, b"about to be sent\n")):
        assert kept["id"] not in first.deleted
        assert row(kept["id"]) is not None and file_of(upload_dir, kept["id"]).is_file()
        assert await web.fetch(kept["url"]) == (200, content)
    assert row(sent["id"]).room_id == int(room)

    # Idempotent: a second sweep finds nothing more of these and changes nothing.
    second = await swept(worker)
    assert not {old["id"], sent["id"], fresh["id"]} & set(second.deleted) and second.failed == []
    assert row(old["id"]) is None and row(sent["id"]) is not None and row(fresh["id"]) is not None
    assert file_of(upload_dir, sent["id"]).is_file() and file_of(upload_dir, fresh["id"]).is_file()
    # The fresh upload can still be sent.
    status, _ = await web.send(alice, room, fresh["id"])
    assert status == 201


async def test_a_sweep_works_in_batches_oldest_first_and_leaves_the_rest_for_the_next(web, worker, upload_dir, user_id):
    alice = user_id("alice")
    await swept(worker)  # a clean slate: no old unsent upload of an earlier test
    made = [await web.upload(alice, f"file {i}\n".encode()) for i in range(7)]
    for i, body in enumerate(made):
        age(body["id"], 2 * DAY + timedelta(minutes=10 * (7 - i)))  # made[0] the oldest
    first = await swept(worker, batch=3, max_batches=2)
    assert first.deleted == [body["id"] for body in made[:6]]
    assert row(made[6]["id"]) is not None and file_of(upload_dir, made[6]["id"]).is_file()
    second = await swept(worker, batch=3, max_batches=2)
    assert second.deleted == [made[6]["id"]]
    assert [path for path in upload_dir.rglob("*") if path.is_file() and path.parent.name != ".tmp"] == []


async def test_sends_racing_the_sweep_get_their_file_or_attachment_not_found(web, worker, upload_dir, user_id):
    """Many sends and a sweep of one row per statement at once: every send is either a message whose file is
    there, or refused with the stable code; never a message pointing at a removed file."""
    alice = user_id("alice")
    room = await web.room(alice)
    contents = {}
    for i in range(40):
        body = await web.upload(alice, f"racing {i} {uuid.uuid4().hex}\n".encode())
        contents[body["id"]] = body
        age(body["id"], 2 * DAY)
    ids = list(contents)
    random.shuffle(ids)

    sweep_task = asyncio.create_task(swept(worker, batch=1, max_batches=100))
    sends = await asyncio.wait_for(asyncio.gather(*(web.send(alice, room, i) for i in ids)), WAIT)
    result = await sweep_task

    sent, refused = set(), set()
    for attachment_id, (status, body) in zip(ids, sends, strict=True):
        if status == 201:
            sent.add(attachment_id)
        else:
            assert (status, body["code"]) == (404, "attachment_not_found"), body
            refused.add(attachment_id)
    assert sent | refused == set(ids)
    assert set(result.deleted) >= refused and not set(result.deleted) & sent and result.failed == []
    for attachment_id in refused:
        assert row(attachment_id) is None and not file_of(upload_dir, attachment_id).exists()
    for attachment_id in sent:
        assert row(attachment_id).room_id == int(room) and file_of(upload_dir, attachment_id).is_file()
    # Every message in the room points at a file that is there, with its bytes.
    messages = [m for m in await web.history(alice, room) if m.get("attachment")]
    assert sorted(m["attachment"]["id"] for m in messages) == sorted(sent)
    for message in messages:
        status, content = await web.fetch(message["attachment"]["url"])
        assert status == 200 and content.startswith(b"racing "), message["attachment"]


async def test_a_send_that_holds_the_upload_first_keeps_it(web, worker, upload_dir, user_id, db):
    """The claim's UPDATE has the row (not yet committed) when the sweep runs: the sweep passes it by."""
    alice = user_id("alice")
    room = await web.room(alice)
    body = await web.upload(alice, b"claimed first\n")
    age(body["id"], 2 * DAY)
    holding, release = threading.Event(), threading.Event()

    def claim() -> None:
        with db.atomic():
            assert attachment_rows.bind(body["id"], alice, room) is not None
            holding.set()
            release.wait(WAIT)

    claimer = asyncio.create_task(asyncio.to_thread(claim))
    assert await asyncio.to_thread(holding.wait, WAIT)
    try:
        result = await swept(worker)  # does not wait for the claim: the row is skipped
    finally:
        release.set()
        await asyncio.wait_for(claimer, WAIT)
    assert body["id"] not in result.deleted
    assert row(body["id"]).room_id == int(room) and file_of(upload_dir, body["id"]).is_file()
    assert body["id"] not in (await swept(worker)).deleted


async def test_a_send_that_comes_while_the_sweep_holds_the_upload_is_refused(web, worker, upload_dir, user_id, db):
    """The sweep's DELETE has the row (not yet committed) when a message sending it arrives: the send waits,
    then finds no upload, and is refused with the stable code."""
    alice = user_id("alice")
    room = await web.room(alice)
    body = await web.upload(alice, b"swept first\n")
    age(body["id"], 2 * DAY)
    holding, release = threading.Event(), threading.Event()

    def delete() -> list[tuple[str, str]]:
        with db.atomic():
            rows = attachment_rows.delete_unsent(db, datetime.now(UTC) - DAY, 500)
            holding.set()
            release.wait(WAIT)
        return rows

    deleter = asyncio.create_task(asyncio.to_thread(delete))
    assert await asyncio.to_thread(holding.wait, WAIT)
    send = asyncio.create_task(web.send(alice, room, body["id"]))
    await asyncio.sleep(0.5)
    assert not send.done(), "the send did not wait for the sweep's delete"
    release.set()
    rows = await asyncio.wait_for(deleter, WAIT)
    assert (body["id"], body["id"]) in rows  # the storage key is the id
    status, refusal = await asyncio.wait_for(send, WAIT)
    assert (status, refusal["code"]) == (404, "attachment_not_found")
    assert row(body["id"]) is None
    assert [m for m in await web.history(alice, room) if m.get("attachment")] == []


async def test_two_sweeps_at_once_share_the_work_and_do_no_harm(web, worker, upload_dir, user_id):
    alice = user_id("alice")
    await swept(worker)
    made = [(await web.upload(alice, f"shared {i}\n".encode()))["id"] for i in range(30)]
    for attachment_id in made:
        age(attachment_id, 2 * DAY)
    first, second = await asyncio.gather(
        swept(worker, batch=2, max_batches=100), swept(worker, batch=2, max_batches=100)
    )
    assert not set(first.deleted) & set(second.deleted)  # no row deleted twice
    assert sorted(first.deleted + second.deleted) == sorted(made)
    assert first.failed == second.failed == []
    assert all(row(i) is None and not file_of(upload_dir, i).exists() for i in made)


async def test_a_file_that_cannot_be_removed_is_logged_and_the_sweep_goes_on(web, worker, upload_dir, user_id, caplog):
    alice = user_id("alice")
    stuck, gone = await web.upload(alice, b"stuck\n"), await web.upload(alice, b"gone\n")
    age(stuck["id"], 2 * DAY)
    age(gone["id"], 2 * DAY)
    path = file_of(upload_dir, stuck["id"])
    path.unlink()
    path.mkdir()  # a folder where the file was: removing it as a file fails
    (path / "inside").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="worker.upload_sweep"):
        result = await swept(worker)
    assert {stuck["id"], gone["id"]} <= set(result.deleted) and result.failed == [stuck["id"]]
    assert row(stuck["id"]) is None and row(gone["id"]) is None
    assert not file_of(upload_dir, gone["id"]).exists()
    assert any(stuck["id"] in record.getMessage() for record in caplog.records)


async def test_a_worker_without_the_upload_folder_keeps_the_uploads(web, lane, upload_dir, tmp_path, user_id, caplog):
    alice = user_id("alice")
    body = await web.upload(alice, b"kept\n")
    age(body["id"], 2 * DAY)
    elsewhere = lane(UPLOAD_DIR=str(tmp_path / "not-mounted")).runtime
    with caplog.at_level(logging.WARNING, logger="worker.upload_sweep"):
        result = await swept(elsewhere)
    assert result.deleted == []
    assert row(body["id"]) is not None and file_of(upload_dir, body["id"]).is_file()
    assert any("UPLOAD_DIR" in record.getMessage() for record in caplog.records)
    right = lane(UPLOAD_DIR=str(upload_dir)).runtime
    assert body["id"] in (await swept(right)).deleted


async def test_one_worker_sweeps_per_interval(web, worker, user_id):
    body = await web.upload(user_id("alice"), b"once\n")
    age(body["id"], 2 * DAY)
    first = await asyncio.to_thread(sweep_once, worker, "w1")
    assert first is not None and body["id"] in first.deleted
    assert await asyncio.to_thread(sweep_once, worker, "w2") is None  # the lock is w1's for the interval
    assert worker.redis.get(worker.keys.upload_sweep_lock) == b"w1"
    assert 0 < worker.redis.pttl(worker.keys.upload_sweep_lock) <= interval(worker.settings) * 1000


def test_the_interval_is_a_twelfth_of_the_ttl_and_at_most_ten_minutes(lane):
    assert interval(lane().settings) == 600
    assert interval(lane(UPLOAD_ORPHAN_TTL=60).settings) == 5
    assert interval(lane(UPLOAD_ORPHAN_TTL=3600).settings) == 300


async def test_a_real_worker_process_sweeps_on_its_own(web, services, upload_dir, user_id):
    alice = user_id("alice")
    old, fresh = await web.upload(alice, b"old\n"), await web.upload(alice, b"fresh\n")
    age(old["id"], 2 * DAY)
    env = services.env(
        REDIS_PREFIX=f"{services.prefix}sweep{uuid.uuid4().hex[:6]}:",
        UPLOAD_DIR=str(upload_dir),
        UPLOAD_ORPHAN_TTL=60,  # a sweep every 5 s
    )
    process = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "run.py"), "worker", env=env)
    try:
        deadline = asyncio.get_running_loop().time() + WAIT
        while row(old["id"]) is not None:
            assert process.returncode is None, "the worker exited"
            assert asyncio.get_running_loop().time() < deadline, "the worker never swept"
            await asyncio.sleep(0.25)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
    assert not file_of(upload_dir, old["id"]).exists()
    assert row(fresh["id"]) is not None and file_of(upload_dir, fresh["id"]).is_file()


async def test_a_worker_refuses_a_ttl_that_would_race_the_senders(services):
    env = services.env(UPLOAD_ORPHAN_TTL=30)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "run.py"), "worker", "--burst", env=env, stderr=asyncio.subprocess.PIPE
    )
    _out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 2
    assert b"UPLOAD_ORPHAN_TTL must be at least 60 seconds" in err
