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

    python -m bench.message_path [--clients 200] [--room-size 10] [--seconds 10] [--client-procs 1]
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
from config import load


async def _clients(url: str, tokens: list[str], room_ids: list[str], seconds: float, ready) -> dict:
    """Connect and join, wait at `ready` (a barrier with every client process), then send for `seconds`."""
    latencies: list[float] = []
    acked = [0]
    failed = [0]
    codes: Counter[str] = Counter()  # why sends were refused
    # No connection limit: aiohttp's default of 100 per session would hold the 101st WebSocket back.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        clients = [LeanClient(session, url) for _ in tokens]
        for client, token in zip(clients, tokens, strict=True):
            await client.connect(token)
        for client, room_id in zip(clients, room_ids, strict=True):
            ack = await client.call("room:join", {"room_id": room_id})
            assert ack["ok"], ack
        # The window opens when every process has connected and joined, however long that took.
        await asyncio.get_running_loop().run_in_executor(None, ready.wait, 900)
        start = time.time()
        end = start + seconds
        for client in clients:
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
                    latencies.append(time.perf_counter() - began)
                    acked[0] += 1
                else:
                    failed[0] += 1
                    codes[(ack.get("error") or {}).get("code", "?")] += 1

        await asyncio.gather(*(send_loop(c, r, i) for i, (c, r) in enumerate(zip(clients, room_ids, strict=True))))
        # Deliveries lag behind acknowledgements under load: wait until they stop arriving.
        settled, last = time.monotonic(), -1
        while time.monotonic() - settled < 2.0:
            await asyncio.sleep(0.2)
            count = sum(client.delivered for client in clients)
            if count != last:
                settled, last = time.monotonic(), count
        delivered = sum(client.delivered for client in clients)
        last_delivery = max(client.last_delivery for client in clients)
        for client in clients:
            await client.close()
    return {
        "start": start,
        "acked": acked[0],
        "failed": failed[0],
        "codes": dict(codes),
        "delivered": delivered,
        "last_delivery": last_delivery,
        "latencies": latencies,
    }


def _client_process(url, tokens, room_ids, seconds, ready, results) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        results.put(asyncio.run(_clients(url, tokens, room_ids, seconds, ready)))
    except BaseException as exc:  # the parent must hear why, not wait for a result that never comes
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


async def _create_rooms(url: str, owners: list[tuple[str, list[str]]], secret_settings) -> list[str]:
    room_ids = []
    async with aiohttp.ClientSession() as session:
        for owner, members in owners:
            headers = {"Authorization": f"Bearer {mint(secret_settings.auth, owner)}"}
            async with session.post(
                f"{url}/api/rooms", json={"name": f"bench {owner}", "participants": members}, headers=headers
            ) as response:
                assert response.status == 201, await response.text()
                room_ids.append((await response.json())["id"])
    return room_ids


def run(clients: int, room_size: int, seconds: float, client_procs: int) -> dict:
    stage = Stage()
    try:
        settings = load(stage.env, require=("auth",))
        url = stage.start_web()
        stage.start("worker")
        users = [f"u{i}" for i in range(clients)]
        groups = [users[i : i + room_size] for i in range(0, clients, room_size)]
        room_ids = asyncio.run(_create_rooms(url, [(g[0], g[1:]) for g in groups], settings))
        room_of = [room_ids[i // room_size] for i in range(clients)]
        tokens = [mint(settings.auth, user) for user in users]

        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        ready = context.Barrier(client_procs)
        procs = []
        for p in range(client_procs):
            part = slice(p, None, client_procs)
            procs.append(
                context.Process(
                    target=_client_process,
                    args=(url, tokens[part], room_of[part], seconds, ready, results),
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
            "expected_deliveries": acked * room_size,
            "delivery_rate": delivered / delivery_seconds,
            "delivery_seconds": delivery_seconds,
            "stored": stored,
            "distinct": distinct,
            "drained_after": drained_after,
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
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--room-size", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--client-procs", type=int, default=1)
    args = parser.parse_args()
    if args.clients % args.room_size:
        parser.error("--clients must be a multiple of --room-size")
    print(describe(run(args.clients, args.room_size, args.seconds, args.client_procs)))


if __name__ == "__main__":
    main()
