"""The message path end to end: acknowledged sends per second, acknowledgement latency, deliveries.

Starts a web node and a worker (real processes), creates rooms of
--room-size members, and connects --clients Socket.IO clients (one user
each, spread over --client-procs processes; `bench.sioclient`, a lean
client, so that the clients are not what is measured). Every client joins its room
and sends closed-loop: the next message leaves when the previous one is
acknowledged. Over --seconds it counts acknowledgements (and their
latency) and `message:new` deliveries. Then it waits for the worker to
persist every acknowledged message and checks that each is in Postgres
exactly once.

With --mix, each room mixes dialects: `--mix canonical:4,fastapi:3,django-notifications:3`
makes rooms of 10 (the counts add up to the room size) whose first 4 members connect over
Socket.IO, join and send closed-loop as above, while the next 3 connect as seed 004 sockets
(`/ws/{user}?token=…`, which follow every room of the user with no join) and the last 3 as seed
003 notification sockets (`/ws/notifications/?token=…`, the token with a `username` claim); those
only receive (`bench.wsclient`). Deliveries are counted per dialect: `message:new`, `new_message`,
`new_message_notification`. Without --mix every member speaks the canonical protocol and sends.

`phoenix` members (seed 000's Phoenix Channels, `bench.wsclient.PhoenixClient`) send too:
`--mix canonical:5,phoenix:5` or `--mix phoenix:10`. Each joins `chat:<room_id>` and pushes `send_message`
closed-loop, the `phx_reply` being its acknowledgement; they count `receive_message` deliveries. Such runs
add acknowledged sends/s and ack latency per sending dialect. A Phoenix connection is not sent its own
messages (it gets `message_sent` instead), where a canonical sender gets its own `message:new`: so a room
with P phoenix members expects P - 1 phoenix deliveries of a phoenix member's message, and in all
acknowledged x room size, less the messages phoenix members sent.

`nestjs` and `bull` members speak the two other Socket.IO namespaces of the same server (`bench.sioclient`
on another namespace) and send closed-loop too: `--mix canonical:4,nestjs:3,bull:3`. A `nestjs` member
(seed 001, namespace `/chat`; numeric user ids, as that dialect's ids are JSON numbers) connects with
`?userId=<id>&token=…` in the query, follows its rooms with no join, emits `send-message {sender_id,
conversation_id, message_type: "text", content}` with an ack callback (the ack is the message) and counts
`receive-message`; like a phoenix connection it is not sent its own message (it gets `message-sent`), so
its room expects one delivery fewer of each message a nestjs member sent. A `bull` member (seed 002,
namespace `/chat/`) connects with `auth {token: "Bearer …", userId}`, emits `chat:join` with the room id,
then `chat:send_message {roomId, content}` with an ack callback (`{id, roomId, seq, timestamp}`) and counts
`chat:message`, its own messages included.

    python -m bench.message_path [--clients 200] [--room-size 10] [--seconds 10] [--client-procs 1]
                                 [--mix canonical:N,phoenix:P,nestjs:Q,bull:R,fastapi:M,django-notifications:K]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections import Counter

import aiohttp
import psycopg2

from app.auth.tokens import mint
from app.state.keys import Keys
from bench.common import Stage, percentile
from bench.sioclient import LeanClient
from bench.wsclient import DIALECTS, PhoenixClient, RawClient
from config import load

CANONICAL = "canonical"
PHOENIX = "phoenix"
NESTJS = "nestjs"  # seed 001's Socket.IO namespace
BULL = "bull"  # seed 002's Socket.IO namespace
# Socket.IO dialects on a namespace of their own: (namespace, the event that delivers a message)
NAMESPACES = {NESTJS: ("/chat", "receive-message"), BULL: ("/chat/", "chat:message")}
# the dialects whose members send (closed-loop); the others only receive
SENDERS = (CANONICAL, PHOENIX, NESTJS, BULL)
UNECHOED = (PHOENIX, NESTJS)  # senders whose connection is not sent its own message
# the dialects a room may mix, in the order members are given them
KINDS = (CANONICAL, PHOENIX, NESTJS, BULL, *DIALECTS)


async def _clients(url: str, members: list[tuple[str, str, str, str]], seconds: float, ready) -> dict:
    """Connect `members` (kind, user, token, room id): the senders connect and join (nestjs ones need no join);
    wait at `ready` (a barrier with every client process); then those send for `seconds` while all count
    deliveries."""
    latencies: list[float] = []
    acked = [0]
    failed = [0]
    codes: Counter[str] = Counter()  # why sends were refused
    # per sending dialect: acknowledged, refused, latencies
    sends = {kind: {"acked": 0, "failed": 0, "latencies": []} for kind in SENDERS}
    # No connection limit: aiohttp's default of 100 per session would hold the 101st WebSocket back.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        senders = [
            (LeanClient(session, url), token, room_id) for kind, _u, token, room_id in members if kind == CANONICAL
        ]
        phoenix = [
            (PhoenixClient(session, url), token, room_id) for kind, _u, token, room_id in members if kind == PHOENIX
        ]
        receivers = [
            (RawClient(session, url, kind), user, token) for kind, user, token, _r in members if kind not in SENDERS
        ]
        # the other namespaces' senders: (kind, client, user, token, room id)
        namespaced = [
            (kind, LeanClient(session, url, *NAMESPACES[kind]), user, token, room_id)
            for kind, user, token, room_id in members
            if kind in NAMESPACES
        ]
        clients = [client for client, _t, _r in senders]
        raw = [client for client, _u, _t in receivers]
        for client, token, _room_id in senders:
            await client.connect(token)
        for client, _token, room_id in senders:
            ack = await client.call("room:join", {"room_id": room_id})
            assert ack["ok"], ack
        for client, token, _room_id in phoenix:
            await client.connect(token)
        for client, _token, room_id in phoenix:
            reply = await client.join(room_id)
            assert reply["status"] == "ok", reply
        for kind, client, user, token, _room_id in namespaced:
            if kind == NESTJS:  # seed 001 reads userId and token from the query
                await client.connect({}, {"userId": user, "token": token})
            else:
                await client.connect({"token": f"Bearer {token}", "userId": user})
        for kind, client, _user, _token, room_id in namespaced:
            if kind == BULL:
                ack = await client.call("chat:join", room_id)
                assert ack == {"success": True}, ack
        for client, user, token in receivers:
            await client.connect(user, token)
        raw += [client for client, _t, _r in phoenix]  # raw WebSockets too: counted alike below
        refused = [f"{c.dialect}: {c.closed_early} {c.error or ''}" for c in raw if c.closed_early is not None]
        if refused:
            raise ConnectionError(f"{len(refused)} raw sockets closed before the window: {refused[0]}")
        everyone = [*clients, *raw, *(client for _k, client, _u, _t, _r in namespaced)]
        # The window opens when every process has connected and joined, however long that took.
        await asyncio.get_running_loop().run_in_executor(None, ready.wait, 900)
        start = time.time()
        end = start + seconds
        for client in everyone:
            client.counting = True

        async def send_loop(client: LeanClient, room_id: str, index: int) -> None:
            n = 0
            while time.time() < end:
                n += 1
                began = time.perf_counter()
                ack = await client.call(
                    "message:send", {"room_id": room_id, "content": f"m{n}", "client_ref": f"{index}-{n}"}
                )
                if ack.get("ok"):
                    latency = time.perf_counter() - began
                    latencies.append(latency)
                    acked[0] += 1
                    sends[CANONICAL]["acked"] += 1
                    sends[CANONICAL]["latencies"].append(latency)
                else:
                    failed[0] += 1
                    sends[CANONICAL]["failed"] += 1
                    codes[(ack.get("error") or {}).get("code", "?")] += 1

        async def phoenix_loop(client: PhoenixClient, index: int) -> None:
            n = 0
            while time.time() < end:
                n += 1
                began = time.perf_counter()
                reply = await client.send(f"m{n}", f"{index}-{n}")
                if reply.get("status") == "ok":
                    latency = time.perf_counter() - began
                    latencies.append(latency)
                    acked[0] += 1
                    sends[PHOENIX]["acked"] += 1
                    sends[PHOENIX]["latencies"].append(latency)
                else:
                    failed[0] += 1
                    sends[PHOENIX]["failed"] += 1
                    codes[(reply.get("response") or {}).get("code", "?")] += 1

        def nestjs_send(user: str, room_id: str):
            sender, conversation = int(user), int(room_id)  # ids are JSON numbers in seed 001
            return "send-message", lambda n: {
                "sender_id": sender,
                "conversation_id": conversation,
                "message_type": "text",
                "content": f"m{n}",
            }

        def bull_send(_user: str, room_id: str):
            return "chat:send_message", lambda n: {"roomId": room_id, "content": f"m{n}"}

        async def namespace_loop(kind: str, client: LeanClient, user: str, room_id: str) -> None:
            """Emit the dialect's send with an ack callback, closed-loop: the ack is the message (nestjs) or
            `{id, roomId, seq, timestamp}` (bull); a refusal is `{error}` (nestjs) or `{error, code}` (bull)."""
            event, payload = (nestjs_send if kind == NESTJS else bull_send)(user, room_id)
            mine = sends[kind]
            n = 0
            while time.time() < end:
                n += 1
                began = time.perf_counter()
                ack = await client.call(event, payload(n))
                if isinstance(ack, dict) and "id" in ack and "error" not in ack:
                    latency = time.perf_counter() - began
                    latencies.append(latency)
                    acked[0] += 1
                    mine["acked"] += 1
                    mine["latencies"].append(latency)
                else:
                    failed[0] += 1
                    mine["failed"] += 1
                    why = (ack.get("code") or ack.get("error")) if isinstance(ack, dict) else None
                    codes[f"{kind} {why or '?'}"] += 1

        first = len(senders)  # phoenix senders' indices follow the canonical ones'
        await asyncio.gather(
            *(send_loop(c, r, i) for i, (c, _t, r) in enumerate(senders)),
            *(phoenix_loop(c, first + i) for i, (c, _t, _r) in enumerate(phoenix)),
            *(namespace_loop(kind, c, u, r) for kind, c, u, _t, r in namespaced),
        )
        # Deliveries lag behind acknowledgements under load: wait until they stop arriving.
        settled, last = time.monotonic(), -1
        while time.monotonic() - settled < 2.0:
            await asyncio.sleep(0.2)
            count = sum(client.delivered for client in everyone)
            if count != last:
                settled, last = time.monotonic(), count
        delivered = sum(client.delivered for client in everyone)
        by_dialect = Counter({CANONICAL: sum(client.delivered for client in clients)})
        for client in raw:
            by_dialect[client.dialect] += client.delivered
        for kind, client, _u, _t, _r in namespaced:
            by_dialect[kind] += client.delivered
        last_delivery = max(client.last_delivery for client in everyone)
        closed_early = sum(client.closed_early is not None for client in raw)
        for client in everyone:
            await client.close()
    return {
        "start": start,
        "acked": acked[0],
        "failed": failed[0],
        "codes": dict(codes),
        "delivered": delivered,
        "by_dialect": dict(by_dialect),
        "closed_early": closed_early,
        "last_delivery": last_delivery,
        "latencies": latencies,
        "sends": sends,
    }


def _client_process(url, members, seconds, ready, results) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        results.put(asyncio.run(_clients(url, members, seconds, ready)))
    except BaseException as exc:  # the parent must hear why, not wait for a result that never comes
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


async def _create_rooms(url: str, owners: list[tuple[str, list[str]]], secret_settings) -> list[str]:
    room_ids = []
    async with aiohttp.ClientSession() as session:
        for owner, members in owners:
            headers = {"Authorization": f"Bearer {mint(secret_settings.auth, owner)}"}
            async with session.post(
                f"{url}/api/v1/rooms", json={"name": f"bench {owner}", "participants": members}, headers=headers
            ) as response:
                assert response.status == 201, await response.text()
                room_ids.append((await response.json())["id"])
    return room_ids


def parse_mix(text: str) -> dict[str, int]:
    """`canonical:4,fastapi:3,django-notifications:3` as {dialect: members per room}, in KINDS' order."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        kind, _, count = part.strip().partition(":")
        if kind not in KINDS:
            raise ValueError(f"unknown dialect {kind!r}: one of {', '.join(KINDS)}")
        if kind in mix or not count.isdigit():
            raise ValueError(f"{part!r}: give each dialect once, as dialect:count")
        mix[kind] = int(count)
    if not any(mix.get(kind) for kind in SENDERS):
        raise ValueError(f"a room needs at least one {' or '.join(SENDERS)} member: they are the senders")
    return {kind: mix[kind] for kind in KINDS if mix.get(kind)}


def mix_text(mix: dict[str, int]) -> str:
    return ",".join(f"{kind}:{n}" for kind, n in mix.items())


def run(clients: int, room_size: int, seconds: float, client_procs: int, mix: dict[str, int] | None = None) -> dict:
    """`mix` (dialect -> members per room, adding up to `room_size`) defaults to every member canonical."""
    mix = mix or {CANONICAL: room_size}
    if sum(mix.values()) != room_size:
        raise ValueError(f"the mix {mix_text(mix)} does not add up to rooms of {room_size}")
    kinds = [kind for kind, n in mix.items() for _ in range(n)]  # each room's members, in order
    stage = Stage()
    try:
        settings = load(stage.env, require=("auth",))
        url = stage.start_web()
        stage.start("worker")
        kind_of = [kinds[i % room_size] for i in range(clients)]
        # Seed 001's ids are JSON numbers: its members' user ids are decimals (the others' stay u<i>).
        users = [str(i + 1) if kind == NESTJS else f"u{i}" for i, kind in enumerate(kind_of)]
        groups = [users[i : i + room_size] for i in range(0, clients, room_size)]
        room_ids = asyncio.run(_create_rooms(url, [(g[0], g[1:]) for g in groups], settings))
        room_of = [room_ids[i // room_size] for i in range(clients)]
        # Seed 003's sockets know people by username: their tokens carry one (the user id, a valid username).
        tokens = [
            mint(settings.auth, user, username=user if kind.startswith("django") else None)
            for user, kind in zip(users, kind_of, strict=True)
        ]
        members = list(zip(kind_of, users, tokens, room_of, strict=True))

        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        ready = context.Barrier(client_procs)
        procs = []
        for p in range(client_procs):
            part = slice(p, None, client_procs)
            procs.append(
                context.Process(
                    target=_client_process,
                    args=(url, members[part], seconds, ready, results),
                )
            )
        for proc in procs:
            proc.start()
        parts = [results.get(timeout=seconds + 120) for _ in procs]
        errors = [part["error"] for part in parts if "error" in part]
        if errors:
            raise RuntimeError("a client process failed: " + "; ".join(errors))
        for proc in procs:
            proc.join(30)

        acked = sum(p["acked"] for p in parts)
        latencies = [latency for p in parts for latency in p["latencies"]]
        delivered = sum(p["delivered"] for p in parts)
        by_dialect = sum((Counter(p["by_dialect"]) for p in parts), Counter())
        sends = {
            kind: {
                "acked": sum(p["sends"][kind]["acked"] for p in parts),
                "failed": sum(p["sends"][kind]["failed"] for p in parts),
                "latencies": [latency for p in parts for latency in p["sends"][kind]["latencies"]],
            }
            for kind in SENDERS
        }
        # A phoenix (or nestjs) connection is not sent its own messages: one delivery fewer for each such a
        # member sent.
        unechoed = sum(sends[kind]["acked"] for kind in UNECHOED)
        delivery_seconds = max(p["last_delivery"] for p in parts) - min(p["start"] for p in parts)

        # Persistence: every acknowledged message reaches Postgres once.
        keys = Keys(stage.prefix)
        connection = stage.redis()
        waited = time.monotonic()
        while connection.hlen(keys.outbox) and time.monotonic() - waited < 120:
            time.sleep(0.1)
        drained_after = time.monotonic() - waited
        with psycopg2.connect(stage.database_url) as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT count(*), count(DISTINCT (room_id, seq)) FROM messages")
            stored, distinct = cursor.fetchone()
        return {
            "clients": clients,
            "room_size": room_size,
            "seconds": seconds,
            "client_procs": client_procs,
            "acked": acked,
            "failed": sum(p["failed"] for p in parts),
            "codes": dict(sum((Counter(p["codes"]) for p in parts), Counter())),
            "ack_rate": acked / seconds,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "delivered": delivered,
            "expected_deliveries": acked * room_size - unechoed,
            "delivery_rate": delivered / delivery_seconds,
            "delivery_seconds": delivery_seconds,
            "stored": stored,
            "distinct": distinct,
            "drained_after": drained_after,
            "mix": mix,
            # dialect -> deliveries, of expected, per second over the same span as delivery_rate
            "by_dialect": {
                kind: {
                    "members": n * (clients // room_size),
                    "delivered": by_dialect[kind],
                    "expected": acked * n - (sends[kind]["acked"] if kind in UNECHOED else 0),
                    "rate": by_dialect[kind] / delivery_seconds,
                }
                for kind, n in mix.items()
            },
            # sending dialect -> acknowledged, refused, per second and latency (of the dialects in the mix)
            "sends": {
                kind: {
                    "senders": mix[kind] * (clients // room_size),
                    "acked": sends[kind]["acked"],
                    "failed": sends[kind]["failed"],
                    "ack_rate": sends[kind]["acked"] / seconds,
                    "p50_ms": percentile(sends[kind]["latencies"], 50) * 1000,
                    "p99_ms": percentile(sends[kind]["latencies"], 99) * 1000,
                }
                for kind in SENDERS
                if mix.get(kind)
            },
            "closed_early": sum(p["closed_early"] for p in parts),
        }
    finally:
        stage.close()


def refusals(r: dict) -> str:
    """How many sends were refused, and why: `3 (unavailable: 3)`."""
    why = ", ".join(f"{code}: {n:,}" for code, n in sorted(r["codes"].items()))
    return f"{r['failed']:,}" + (f" ({why})" if why else "")


def describe(r: dict) -> str:
    return (
        f"{r['clients']} clients in rooms of {r['room_size']}, {r['seconds']:.0f} s: "
        f"{r['ack_rate']:,.0f} acknowledged sends/s ({refusals(r)} refused), "
        f"ack latency p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms, "
        f"{r['delivery_rate']:,.0f} deliveries/s ({r['delivered']:,} of {r['expected_deliveries']:,} expected, "
        f"the last {r['delivery_seconds']:.1f} s after the start); "
        f"{r['stored']:,} of {r['acked']:,} acknowledged messages in Postgres ({r['distinct']:,} distinct), "
        f"outbox empty {r['drained_after']:.1f} s after the last send"
    ) + (_by_dialect(r) + _sends(r) if len(r.get("mix") or {}) > 1 or _other_senders(r) else "")


def _other_senders(r: dict) -> list[str]:
    """The sending dialects of the mix other than canonical (whose runs report sends per dialect)."""
    return [kind for kind in SENDERS[1:] if kind in (r.get("mix") or {})]


def persisted_once(r: dict) -> bool:
    return r["stored"] == r["acked"] == r["distinct"]


def _by_dialect(r: dict) -> str:
    """A mixed run's deliveries per dialect."""
    parts = [
        f"{kind} ({d['members']} sockets) {d['rate']:,.0f}/s ({d['delivered']:,} of {d['expected']:,} expected)"
        for kind, d in r["by_dialect"].items()
    ]
    return (
        f"; mix {mix_text(r['mix'])}: deliveries by dialect: "
        + ", ".join(parts)
        + f"; raw sockets closed by the node during the run: {r['closed_early']}"
        + f"; acknowledged = persisted once: {'yes' if persisted_once(r) else 'NO'}"
    )


def _sends(r: dict) -> str:
    """A run with phoenix, nestjs or bull members: acknowledged sends and their latency per sending dialect."""
    if not _other_senders(r):
        return ""
    parts = [
        f"{kind} ({s['senders']} senders) {s['ack_rate']:,.0f} acknowledged/s ({s['failed']:,} refused), "
        f"ack p50 {s['p50_ms']:.1f} ms p99 {s['p99_ms']:.1f} ms"
        for kind, s in r["sends"].items()
    ]
    unechoed = [kind for kind in UNECHOED if kind in r["mix"]]
    if not unechoed:
        return (
            "; sends by dialect: "
            + ", ".join(parts)
            + (f" (every sender is sent its own message: expected deliveries are acknowledged x {r['room_size']})")
        )
    return (
        "; sends by dialect: "
        + ", ".join(parts)
        + f" (a {' or '.join(unechoed)} sender is not sent its own message: expected deliveries are acknowledged x "
        f"{r['room_size']} less the "
        + " and ".join(f"{r['sends'][kind]['acked']:,} {kind}" for kind in unechoed)
        + " members sent)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--room-size", type=int, help="members per room (default 10, or the sum of --mix)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument(
        "--mix",
        help="the dialects of each room's members, dialect:count, e.g. canonical:4,fastapi:3,django-notifications:3 "
        f"(dialects: {', '.join(KINDS)}; canonical, phoenix, nestjs and bull members send, the others only receive)",
    )
    args = parser.parse_args()
    mix = None
    if args.mix:
        try:
            mix = parse_mix(args.mix)
        except ValueError as exc:
            parser.error(f"--mix: {exc}")
        if args.room_size is not None and args.room_size != sum(mix.values()):
            parser.error(f"--mix adds up to rooms of {sum(mix.values())}, not --room-size {args.room_size}")
        args.room_size = sum(mix.values())
    elif args.room_size is None:
        args.room_size = 10
    if args.clients % args.room_size:
        parser.error("--clients must be a multiple of --room-size")
    print(describe(run(args.clients, args.room_size, args.seconds, args.client_procs, mix)))


if __name__ == "__main__":
    main()
