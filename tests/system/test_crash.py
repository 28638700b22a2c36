"""Crash safety: a stream of messages while the worker is SIGKILLed again and again.

Several clients on both web nodes send to several rooms as fast as their acknowledgements come
back, while a killer task starts a worker, waits until it has registered with RQ (so it is
taking jobs), lets it run 0.3-0.5 s and SIGKILLs its whole process group, over and over. With
`--processes 2` every other round first SIGKILLs one pool child alone (the pool replaces it).
Afterwards one worker is left running until the outbox is empty; then every acknowledged
message must be in Postgres exactly once, each room's seqs gap-free, each sender's in the order
of its acks, the content intact and each sender's read cursor at its last message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter, defaultdict

import psutil
import pytest
from rq.registry import StartedJobRegistry

from tests.system.conftest import create_room, stored_messages, wait_until

pytestmark = pytest.mark.system

CLIENTS = 5
ROOMS = 4
PER_CLIENT = 500  # 2500 messages per run, 5000 for both runs
MIN_KILLS = 6


@pytest.mark.parametrize("processes", [1, 2])
async def test_every_acked_message_is_persisted_once_while_workers_are_killed_again_and_again(
    cluster, http, sio, sys_token, pg, user_id, processes
):
    users = [user_id(f"s{i}") for i in range(CLIENTS)]
    rooms = [
        await create_room(http, cluster.nodes[r % 2], sys_token(users[0]), f"Crash {r}", users[1:])
        for r in range(ROOMS)
    ]
    clients = [await sio(cluster.nodes[i % 2], user) for i, user in enumerate(users)]
    started_registry = StartedJobRegistry(queue=cluster.queue())
    stranded_before = set(started_registry.get_job_ids())

    acks: list[tuple[str, int, dict, str]] = []  # (sender, n, ack data, content), in ack order
    refused: list[object] = []
    rng = random.Random()

    async def send_all(index: int) -> None:
        client, user = clients[index], users[index]
        for n in range(PER_CLIENT):
            room = rooms[(n + index) % ROOMS]
            content = f"{user} #{n} → {room} «{rng.getrandbits(64):x}» ✓"
            try:
                ack = await client.ack(
                    "message:send", {"room_id": room, "content": content, "client_ref": f"{user}-{n}"}, timeout=15
                )
            except TimeoutError:
                refused.append((user, n, "no ack"))
                continue
            if ack.get("ok") and ack["data"]["status"] == "sent":
                acks.append((user, n, ack["data"], content))
            else:
                refused.append((user, n, ack))

    kills: list[tuple[float, str]] = []  # (when, what)
    senders_done = asyncio.Event()
    killing_started = asyncio.Event()

    async def killer() -> None:
        while not senders_done.is_set() or len(kills) < MIN_KILLS:
            worker = cluster.worker(f"worker-{len(kills)}", processes=processes)
            await cluster.wait_registered(worker, timeout=20)
            killing_started.set()
            await asyncio.sleep(rng.uniform(0.3, 0.5))
            if processes > 1 and len(kills) % 2:
                children = psutil.Process(worker.pid).children()
                if children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(rng.choice(children).pid, signal.SIGKILL)
                    kills.append((time.monotonic(), "one pool child"))
                    await asyncio.sleep(rng.uniform(0.3, 0.5))
            cluster.procs.kill(worker)
            kills.append((time.monotonic(), "process group"))

    killing = asyncio.create_task(killer())
    try:
        await asyncio.wait_for(killing_started.wait(), 30)  # the first worker takes jobs: start the stream
        sending_started = time.monotonic()
        await asyncio.gather(*(send_all(i) for i in range(CLIENTS)))
        sending_ended = time.monotonic()
    finally:
        senders_done.set()
        await asyncio.wait_for(killing, 60)
    during = [what for when, what in kills if when < sending_ended]

    final = cluster.worker("worker-final", processes=processes)
    await wait_until(lambda: not cluster.outbox_fields(set(rooms)), 60, "the outbox never emptied", final)
    rows = stored_messages(pg, rooms)
    stranded = set(started_registry.get_job_ids()) - stranded_before
    print(
        f"\nprocesses={processes}: {len(acks)} acked in {sending_ended - sending_started:.1f}s, "
        f"kills={Counter(what for _when, what in kills)} ({len(during)} while sending), "
        f"jobs killed mid-run={len(stranded)}"
    )

    assert refused == [], f"{len(refused)} sends were not acknowledged: {refused[:5]}"
    assert len(acks) == CLIENTS * PER_CLIENT
    assert len(kills) >= MIN_KILLS and during, "the workers were not killed while messages streamed in"
    check_rows(rows, acks, rooms, pg)

    # What RQ's maintenance does later with the executions the kills left behind (their heartbeat
    # expires after about 90 s): retry them (PERSIST_RETRY_INTERVALS=0,0) or fail them. Harmless.
    started_registry.cleanup(timestamp=time.time() + 3600)
    queue = cluster.queue()
    await wait_until(
        lambda: queue.count == 0 and not started_registry.get_job_ids(), 30, "the retried jobs never ran", final
    )
    assert stored_messages(pg, rooms) == rows


def check_rows(rows: list[tuple], acks: list[tuple[str, int, dict, str]], rooms: list[str], pg) -> None:
    # Exactly once: one row per (room, seq) and per id.
    assert len({(room, seq) for room, seq, *_ in rows}) == len(rows)
    assert len({mid for _room, _seq, mid, *_ in rows}) == len(rows)
    # Every acknowledged message, as acknowledged, with its content intact; nothing else.
    by_key = {(room, seq): (mid, sender, content, ref) for room, seq, mid, sender, content, ref in rows}
    promised = {
        (data["room_id"], data["seq"]): (data["id"], sender, content, data["client_ref"])
        for sender, _n, data, content in acks
    }
    missing = sorted(set(promised) - set(by_key))
    assert not missing, f"{len(missing)} acknowledged messages are not in Postgres, e.g. {missing[:10]}"
    wrong = [key for key in promised if by_key[key] != promised[key]]
    assert not wrong, f"stored differently than acknowledged: {[(by_key[k], promised[k]) for k in wrong[:3]]}"
    assert set(by_key) == set(promised), "Postgres holds messages nobody was acknowledged for"
    # Per room: seqs 1..N, no gap, no duplicate.
    per_room: dict[str, list[int]] = defaultdict(list)
    for room, seq, *_ in rows:
        per_room[room].append(seq)
    assert set(per_room) == set(rooms)
    for room, seqs in per_room.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"room {room}: seqs are not 1..{len(seqs)}"
    # Per sender and room: seqs in the order of the sender's acknowledgements.
    order: dict[tuple[str, str], list[int]] = defaultdict(list)
    for sender, _n, data, _content in acks:
        order[(sender, data["room_id"])].append(data["seq"])
    for key, seqs in order.items():
        assert seqs == sorted(seqs), f"{key}: seqs out of ack order"
    # Each sender's read cursor ends at their own last message.
    cursors = {
        (str(room), user): last
        for room, user, last in pg(
            "SELECT room_id, user_id, last_read_seq FROM memberships WHERE room_id = ANY(%s)",
            ([int(r) for r in rooms],),
        )
    }
    assert {key: cursors[(key[1], key[0])] for key in order} == {key: seqs[-1] for key, seqs in order.items()}
