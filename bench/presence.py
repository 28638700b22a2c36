"""Presence under load: connect/disconnect churn, and the fan-out of status changes to contacts.

Starts a web node (a real process; no worker: what others see is read
from Redis, Postgres only gets last-seen times later) and drives it with
`bench.sioclient`'s lean client, from this process.

Churn: --users users, in rooms of 10 (so each has 9 contacts to announce
to), are taken in turn by --concurrency loops that connect (with a
token) and wait for `session:ready`, then close at once, for
--churn-seconds. It counts connect/disconnect cycles and times each
connect up to `session:ready` (and, beforehand, 20 connects made one at
a time). Then it asks the REST API, as a room-mate of each user, whether
the user is shown offline, until all are or 10 s have passed, and counts
connections left in Redis.

Fan-out: for each K in --contacts, --subjects users each share rooms
with the same K contacts, of whom up to --listeners are connected. The
subjects send `presence:set` (away, online, away, ...) closed-loop: the
next leaves when the previous one is acknowledged; first one subject
alone (latency), then all of them (what the node sustains), --seconds
each. Each listener's n-th `presence:update` from a subject is matched
with that subject's n-th change: the figures are the time from the
acknowledgement (and from the request) to the update's arrival, changes
per second, and updates delivered of those expected. Alongside, the two
steps of a change that grow with K are timed alone from this process,
with the node's libraries: the contacts query (Peewee on Postgres) and
the K + 1 PUBLISHes in one pipeline (redis-py's asyncio client).

Storm (--storm N, 0 to skip): N users who share one room connect, 50 at
a time as above, each listening from its session:ready on; the figures
are the time until the last session:ready, the time until the last
`presence:update` arrived (the node quiet for 1 s after it), the frames
delivered, and the node's CPU.

CPU is read for the node, this process (the clients), Redis, this run's
Postgres backends and anything else on the machine, over each window, in
percent of one core: on a shared machine, "anything else" says how much
the figures were disturbed.

    python -m bench.presence [--users 200] [--concurrency 50] [--churn-seconds 10]
                             [--contacts 10,100,1000] [--listeners 100] [--subjects 10] [--seconds 4]
                             [--storm 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from pathlib import Path

import aiohttp
import orjson

from app.auth.tokens import mint
from app.state.keys import Keys
from bench.common import REDIS_URL, Stage, percentile
from bench.sioclient import LeanClient
from config import load

ROOM_CHUNK = 500  # contacts per room in the fan-out (MAX_ROOM_MEMBERS is 1000 by default)
CHURN_ROOM_SIZE = 10
UPDATE = '42["presence:update",{"user_id":"'
STATUS = '"status":"'
TICK = os.sysconf("SC_CLK_TCK")


class PresenceClient(LeanClient):
    """LeanClient that waits for `session:ready` on connect and records `presence:update` frames."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        super().__init__(session, url)
        self.recording = False
        self.updates: list[tuple[str, str, float]] = []  # (user id, status, arrival)
        self.frames = 0

    async def connect(self, token: str, listen: bool = True) -> None:
        """Open the connection and return once `session:ready` arrived; then read frames if `listen`."""
        self._ws = await self._session.ws_connect(self._url, max_msg_size=0)
        async with asyncio.timeout(30):
            opening = await self._ws.receive()
            assert opening.type is aiohttp.WSMsgType.TEXT and opening.data.startswith("0"), opening
            await self._ws.send_str("40" + orjson.dumps({"token": token}).decode())
            while True:
                frame = await self._ws.receive()
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"closed before session:ready ({frame.type.name})")
                text: str = frame.data
                if text.startswith('42["session:ready"'):
                    break
                if text.startswith("44"):
                    raise ConnectionError(text)
                if text == "2":
                    await self._ws.send_str("3")
        if listen:
            self._reader = asyncio.create_task(self._read())

    def on_event(self, text: str) -> None:
        if self.recording and text.startswith(UPDATE):
            arrived = time.perf_counter()
            end = text.index('"', len(UPDATE))
            start = text.index(STATUS, end) + len(STATUS)
            self.updates.append((text[len(UPDATE) : end], text[start : text.index('"', start)], arrived))
            self.frames += 1


class Cpu:
    """CPU seconds used by the node, this process, Redis and Postgres, and by the whole machine."""

    def __init__(self, node_pid: int, redis_client, database: str) -> None:
        self._node = node_pid
        self._redis = redis_client
        self._database = database.encode()

    @staticmethod
    def _proc(pid: int | str) -> float:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / TICK
        return 0.0

    def _postgres(self) -> float:
        """The Postgres backends serving this run's database (a backend that exits takes its CPU along)."""
        total = 0.0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    command = (entry / "cmdline").read_bytes()
                    if command.startswith(b"postgres:") and self._database in command:
                        total += self._proc(entry.name)
        return total

    def sample(self) -> dict[str, float]:
        info = self._redis.info("cpu")
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        jiffies = [int(x) for x in first]
        return {
            "node": self._proc(self._node),
            "clients": time.process_time(),
            "redis": info["used_cpu_user"] + info["used_cpu_sys"],
            "postgres": self._postgres(),
            "machine": (sum(jiffies) - jiffies[3] - jiffies[4]) / TICK,  # all but idle and iowait
            "wall": time.monotonic(),
        }

    @staticmethod
    def share(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """Percent of one core each used between two samples."""
        wall = after["wall"] - before["wall"]
        share = {k: 100 * (after[k] - before[k]) / wall for k in before if k != "wall"}
        share["rest"] = share["machine"] - sum(share[k] for k in ("node", "clients", "redis", "postgres"))
        return share


def describe_cpu(share: dict[str, float]) -> str:
    return (
        f"CPU % of a core: node {share['node']:.0f}, clients {share['clients']:.0f}, Redis {share['redis']:.0f}, "
        f"Postgres {share['postgres']:.0f}, anything else {share['rest']:.0f}; "
        f"machine {share['machine']:.0f} of {100 * os.cpu_count()}"
    )


async def _create_room(session: aiohttp.ClientSession, url: str, token: str, name: str, members: list[str]) -> str:
    async with session.post(
        f"{url}/api/v1/rooms",
        json={"name": name, "participants": members},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["id"]


async def _connect_all(session, url: str, tokens: list[str], listen: bool = True) -> list[PresenceClient]:
    clients = [PresenceClient(session, url) for _ in tokens]
    for start in range(0, len(clients), 50):
        await asyncio.gather(
            *(
                c.connect(t, listen)
                for c, t in zip(clients[start : start + 50], tokens[start : start + 50], strict=True)
            )
        )
    return clients


# -- churn -------------------------------------------------------------------------------------------


async def _churn(url: str, token_of, users: list[str], concurrency: int, seconds: float, cpu: Cpu, keys, redis):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        groups = [users[i : i + CHURN_ROOM_SIZE] for i in range(0, len(users), CHURN_ROOM_SIZE)]
        for group in groups:
            await _create_room(session, url, token_of(group[0]), f"churn {group[0]}", group[1:])
        # A room-mate of each user asks the REST API for the user's presence.
        checker = {user: group[1] if user == group[0] else group[0] for group in groups for user in group}

        tokens = [token_of(user) for user in users]
        # One at a time first: the latency of a connect with nothing else going on.
        alone: list[float] = []
        for token in tokens[:20]:
            client = PresenceClient(session, url)
            t0 = time.perf_counter()
            await client.connect(token, listen=False)
            alone.append(time.perf_counter() - t0)
            await client.close()
        await asyncio.sleep(0.5)

        connect_times: list[float] = []
        close_times: list[float] = []
        errors: list[str] = []
        before = cpu.sample()
        began = time.perf_counter()
        end = began + seconds

        async def loop(index: int) -> None:
            mine = tokens[index::concurrency]
            n = 0
            while time.perf_counter() < end:
                client = PresenceClient(session, url)
                t0 = time.perf_counter()
                try:
                    await client.connect(mine[n % len(mine)], listen=False)
                    t1 = time.perf_counter()
                    connect_times.append(t1 - t0)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    t1 = time.perf_counter()
                await client.close()
                close_times.append(time.perf_counter() - t1)
                n += 1

        await asyncio.gather(*(loop(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
        share = Cpu.share(before, cpu.sample())

        # Every user must be shown offline: ask a room-mate, until all are or 10 s passed.
        async def shown(user: str) -> str:
            headers = {"Authorization": f"Bearer {token_of(checker[user])}"}
            async with session.get(f"{url}/api/v1/users/{user}/presence", headers=headers) as response:
                assert response.status == 200, await response.text()
                return (await response.json())["status"]

        settled_from = time.perf_counter()
        checks = 0
        while True:
            checks += 1
            statuses = []
            for start in range(0, len(users), 50):
                statuses += await asyncio.gather(*(shown(u) for u in users[start : start + 50]))
            offline = sum(status == "offline" for status in statuses)
            settled = time.perf_counter() - settled_from
            if offline == len(users) or settled > 10:
                break
            await asyncio.sleep(0.2)
        still_online = [u for u, s in zip(users, statuses, strict=True) if s != "offline"]
    now_ms = int(time.time() * 1000)
    live = [u for u in users if redis.zcount(keys.presence_conns(u), f"({now_ms}", "+inf")]
    return {
        "users": len(users),
        "concurrency": concurrency,
        "seconds": elapsed,
        "cycles": len(connect_times),
        "failed": len(errors),
        "errors": sorted(set(errors))[:3],
        "cycle_rate": len(connect_times) / elapsed,
        "connect_p50_ms": percentile(connect_times, 50) * 1000,
        "connect_p99_ms": percentile(connect_times, 99) * 1000,
        "close_p50_ms": percentile(close_times, 50) * 1000,
        "alone_p50_ms": percentile(alone, 50) * 1000,
        "offline": offline,
        "offline_after": settled,
        "checks": checks,
        "still_online": still_online[:5],
        "live_in_redis": len(live),
        "expiry_entries": redis.zcard(keys.presence_expiry),
        "cpu": share,
        "node_ms_per_cycle": share["node"] * 10 * elapsed / max(1, len(connect_times)),
    }


# -- fan-out -----------------------------------------------------------------------------------------


async def _component_timings(database_url: str, keys: Keys, subject: str, k: int) -> dict[str, float]:
    """The two steps of a change whose cost grows with K, timed alone as the node runs them (medians of 20,
    in ms): the contacts query (Peewee, blocking this loop meanwhile) and K + 1 PUBLISH in one pipeline of
    redis-py's asyncio client, to channels nobody follows."""
    from redis.asyncio import Redis

    from app.storage.database import open_database
    from app.storage.rooms import contacts

    db = open_database(database_url, "bench-presence")
    found = contacts(subject)  # warm the connection
    assert len(found) == k, (len(found), k)
    query = []
    for _ in range(20):
        t0 = time.perf_counter()
        contacts(subject)
        query.append(time.perf_counter() - t0)
    db.close()
    payload = orjson.dumps({"event": "presence:update", "data": {"user_id": subject, "status": "away"}})
    channels = [keys.channel(f"user:bench-nobody-{i}") for i in range(k + 1)]
    publish = []
    connection = Redis.from_url(REDIS_URL)
    try:
        for _ in range(20):
            t0 = time.perf_counter()
            async with connection.pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.publish(channel, payload)
                await pipe.execute()
            publish.append(time.perf_counter() - t0)
    finally:
        await connection.aclose()
    return {"contacts_ms": statistics.median(query) * 1000, "publish_ms": statistics.median(publish) * 1000}


async def _window(
    subjects: list[tuple[str, PresenceClient]],
    listeners: list[PresenceClient],
    current: dict[str, str],
    seconds: float,
    cpu: Cpu,
) -> dict:
    """Subjects change status closed-loop for `seconds`; match what the listeners received."""
    for listener in listeners:
        listener.updates = []
        listener.frames = 0
        listener.recording = True
    changes: dict[str, list[tuple[float, float, str]]] = {user: [] for user, _ in subjects}
    refused = [0]
    before = cpu.sample()
    began = time.perf_counter()
    end = began + seconds

    async def toggle(user: str, client: PresenceClient) -> None:
        while time.perf_counter() < end:
            status = "away" if current[user] == "online" else "online"
            sent = time.perf_counter()
            ack = await client.call("presence:set", {"status": status})
            acked = time.perf_counter()
            if ack.get("ok"):
                changes[user].append((sent, acked, status))
                current[user] = status
            else:
                refused[0] += 1

    await asyncio.gather(*(toggle(user, client) for user, client in subjects))
    elapsed = time.perf_counter() - began
    share = Cpu.share(before, cpu.sample())

    made = sum(len(v) for v in changes.values())
    expected = made * len(listeners)
    waited, last, quiet = time.perf_counter(), -1, time.perf_counter()
    while True:
        got = sum(listener.frames for listener in listeners)
        if got >= expected or time.perf_counter() - quiet > 2 or time.perf_counter() - waited > 30:
            break
        if got != last:
            last, quiet = got, time.perf_counter()
        await asyncio.sleep(0.05)
    last_arrival = max((u[2] for listener in listeners for u in listener.updates), default=began)
    for listener in listeners:
        listener.recording = False

    after_ack: list[float] = []
    after_request: list[float] = []
    delivered = wrong = 0
    for listener in listeners:
        received: dict[str, list[tuple[str, float]]] = {user: [] for user in changes}
        for user, status, arrived in listener.updates:
            if user in received:
                received[user].append((status, arrived))
        for user, made_by_user in changes.items():
            for (sent, acked, status), (shown, arrived) in zip(made_by_user, received[user], strict=False):
                delivered += 1
                wrong += shown != status
                after_ack.append(arrived - acked)
                after_request.append(arrived - sent)
    acks = [acked - sent for made_by_user in changes.values() for sent, acked, _ in made_by_user]
    return {
        "subjects": len(subjects),
        "listeners": len(listeners),
        "seconds": elapsed,
        "changes": made,
        "refused": refused[0],
        "change_rate": made / elapsed,
        "ack_p50_ms": percentile(acks, 50) * 1000,
        "ack_p99_ms": percentile(acks, 99) * 1000,
        "after_ack_p50_ms": percentile(after_ack, 50) * 1000,
        "after_ack_p99_ms": percentile(after_ack, 99) * 1000,
        "after_request_p50_ms": percentile(after_request, 50) * 1000,
        "after_request_p99_ms": percentile(after_request, 99) * 1000,
        "delivered": delivered,
        "expected": expected,
        "wrong": wrong,
        "delivery_rate": delivered / max(elapsed, last_arrival - began),
        "last_after_window": max(0.0, last_arrival - end),
        "cpu": share,
        "node_ms_per_change": share["node"] * 10 * elapsed / max(1, made),
    }


async def _fanout(url, token_of, ks, subject_count, listener_count, seconds, cpu, stage, keys) -> list[dict]:
    contacts = [f"c{i}" for i in range(max(ks))]
    listening = contacts[: min(listener_count, len(contacts))]
    subjects = {k: [f"s{k}-{i}" for i in range(subject_count)] for k in ks}
    results = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        rooms = [
            (subject, k, contacts[start : min(k, start + ROOM_CHUNK)])
            for k in ks
            for subject in subjects[k]
            for start in range(0, k, ROOM_CHUNK)
        ]
        for start in range(0, len(rooms), 8):
            await asyncio.gather(
                *(
                    _create_room(session, url, token_of(subject), f"fan-out {subject}", members)
                    for subject, _, members in rooms[start : start + 8]
                )
            )
        listeners = await _connect_all(session, url, [token_of(user) for user in listening])
        subject_users = [user for k in ks for user in subjects[k]]
        subject_clients = dict(
            zip(subject_users, await _connect_all(session, url, [token_of(u) for u in subject_users]), strict=True)
        )
        current = dict.fromkeys(subject_users, "online")
        await asyncio.sleep(1.0)  # let the announcements of these connections pass
        for k in ks:
            components = await _component_timings(stage.database_url, keys, subjects[k][0], k)
            audience = listeners[: min(k, len(listeners))]
            for n in (1, subject_count):
                chosen = [(user, subject_clients[user]) for user in subjects[k][:n]]
                result = await _window(chosen, audience, current, seconds, cpu)
                result.update(contacts=k, **components)
                print(describe_fanout(result), flush=True)
                results.append(result)
        for client in [*listeners, *subject_clients.values()]:
            await client.close()
    return results


# -- storm -------------------------------------------------------------------------------------------


async def _storm(url: str, token_of, count: int, cpu: Cpu) -> dict:
    users = [f"storm{i}" for i in range(count)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await _create_room(session, url, token_of(users[0]), "storm", users[1:])
        tokens = [token_of(user) for user in users]
        clients = [PresenceClient(session, url) for _ in users]
        for client in clients:
            client.recording = True
        before = cpu.sample()
        started = time.perf_counter()
        for start in range(0, count, 50):
            await asyncio.gather(
                *(c.connect(t) for c, t in zip(clients[start : start + 50], tokens[start : start + 50], strict=True))
            )
        connected = time.perf_counter() - started
        frames, seen = -1, 0
        while seen != frames:  # until a second passes with no frame delivered
            frames = seen
            await asyncio.sleep(1.0)
            seen = sum(c.frames for c in clients)
        after = cpu.sample()
        last = max((c.updates[-1][2] for c in clients if c.updates), default=started)
        for client in clients:
            await client.close()
    return {
        "users": count,
        "connected_seconds": connected,
        "quiet_seconds": last - started,
        "frames": frames,
        "cpu": Cpu.share(before, after),
        "node_cpu_seconds": after["node"] - before["node"],
    }


def describe_storm(r: dict) -> str:
    return (
        f"storm: {r['users']} users of one room connect, 50 at a time: the last session:ready after "
        f"{r['connected_seconds']:.1f} s, the last presence:update after {r['quiet_seconds']:.1f} s "
        f"({r['frames']:,} delivered); node CPU {r['node_cpu_seconds']:.1f} s; {describe_cpu(r['cpu'])}"
    )


# -- the whole run -----------------------------------------------------------------------------------


def run(
    users: int = 200,
    concurrency: int = 50,
    churn_seconds: float = 10,
    contacts: tuple[int, ...] = (10, 100, 1000),
    listeners: int = 100,
    subjects: int = 10,
    seconds: float = 4,
    storm: int = 1000,
) -> dict:
    stage = Stage()
    try:
        settings = load(stage.env, require=("auth",))
        url = stage.start_web()
        node = stage.processes[-1]
        redis = stage.redis()
        keys = Keys(stage.prefix)
        cpu = Cpu(node.pid, redis, stage.database)
        tokens: dict[str, str] = {}

        def token_of(user: str) -> str:
            if user not in tokens:
                tokens[user] = mint(settings.auth, user)
            return tokens[user]

        async def main() -> dict:
            churn = await _churn(
                url, token_of, [f"u{i}" for i in range(users)], concurrency, churn_seconds, cpu, keys, redis
            )
            print(describe_churn(churn), flush=True)
            fanout = await _fanout(url, token_of, contacts, subjects, listeners, seconds, cpu, stage, keys)
            result = {"churn": churn, "fanout": fanout}
            if storm:
                result["storm"] = await _storm(url, token_of, storm, cpu)
                print(describe_storm(result["storm"]), flush=True)
            return result

        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        result = runner(main())
        if node.poll() is not None:
            raise RuntimeError(f"the web node exited with {node.returncode}")
        return result
    finally:
        stage.close()


def describe_churn(r: dict) -> str:
    errors = f" (e.g. {'; '.join(r['errors'])})" if r["errors"] else ""
    offline = (
        f"all {r['users']} shown offline at check {r['checks']}, {r['offline_after']:.1f} s after the last close"
        if r["offline"] == r["users"]
        else f"ONLY {r['offline']} of {r['users']} shown offline after {r['offline_after']:.1f} s "
        f"(still online: {', '.join(r['still_online'])})"
    )
    return (
        f"churn: {r['users']} users, {r['concurrency']} at a time, {r['seconds']:.1f} s: "
        f"{r['cycle_rate']:,.0f} connect+disconnect cycles/s ({r['cycles']:,} cycles, {r['failed']} failed{errors}), "
        f"connect to session:ready p50 {r['connect_p50_ms']:.1f} ms p99 {r['connect_p99_ms']:.1f} ms, "
        f"close p50 {r['close_p50_ms']:.1f} ms (one connect at a time beforehand: p50 {r['alone_p50_ms']:.1f} ms); "
        f"{offline}; live connections left in Redis: {r['live_in_redis']} "
        f"users, {r['expiry_entries']} expiry entries; {describe_cpu(r['cpu'])}; "
        f"node CPU per cycle {r['node_ms_per_cycle']:.1f} ms"
    )


def describe_fanout(r: dict) -> str:
    return (
        f"fan-out: K={r['contacts']} contacts, {r['listeners']} listening, {r['subjects']} subject(s) toggling "
        f"{r['seconds']:.1f} s: {r['change_rate']:,.0f} status changes/s ({r['refused']} refused), "
        f"ack p50 {r['ack_p50_ms']:.1f} ms p99 {r['ack_p99_ms']:.1f} ms, "
        f"update after ack p50 {r['after_ack_p50_ms']:.1f} ms p99 {r['after_ack_p99_ms']:.1f} ms "
        f"(after request p50 {r['after_request_p50_ms']:.1f} ms p99 {r['after_request_p99_ms']:.1f} ms), "
        f"{r['delivery_rate']:,.0f} updates delivered/s ({r['delivered']:,} of {r['expected']:,} expected, "
        f"{r['wrong']} with the wrong status, last {r['last_after_window']:.2f} s after the window); "
        f"alone: contacts query {r['contacts_ms']:.2f} ms, {r['contacts'] + 1} pipelined PUBLISH "
        f"{r['publish_ms']:.2f} ms; {describe_cpu(r['cpu'])}; "
        f"node CPU per change {r['node_ms_per_change']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--churn-seconds", type=float, default=10)
    parser.add_argument("--contacts", default="10,100,1000", help="comma-separated K values")
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--storm", type=int, default=1000, help="users of one room connecting at once (0: skip)")
    args = parser.parse_args()
    if args.users % CHURN_ROOM_SIZE or args.users < CHURN_ROOM_SIZE:
        parser.error(f"--users must be a positive multiple of {CHURN_ROOM_SIZE}")
    if args.concurrency > args.users:
        parser.error("--concurrency must not exceed --users")
    contacts = tuple(int(k) for k in args.contacts.split(","))
    a = args
    run(a.users, a.concurrency, a.churn_seconds, contacts, a.listeners, a.subjects, a.seconds, a.storm)


if __name__ == "__main__":
    main()
