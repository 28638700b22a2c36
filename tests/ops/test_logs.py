"""Structured logs: JSON lines (LOG_FORMAT=json) from real web and worker processes, each carrying the id
of the request, connection or job it was logged for; no token and no message content anywhere in them,
even at DEBUG; X-Request-Id kept when sane and echoed, replaced otherwise."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import uuid

import aiohttp
import pytest
import socketio

from app.auth.tokens import mint
from app.ops import context, logs
from tests.conftest import RecordingClient
from tests.system.conftest import free_port, wait_healthy, wait_until

WAIT = 10.0


async def test_a_sane_request_id_is_echoed_and_any_other_replaced(spawn):
    node = await spawn()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        for given, kept in (
            ("checkout-7f3a:retry.2", True),
            ("a" * 128, True),
            ("a" * 129, False),
            ("two words", False),
            ('"}, {"level": "ERROR', False),
            ("", False),
        ):
            headers = {"X-Request-Id": given} if given else {}
            async with session.get(node.url.rstrip("/") + "/health", headers=headers) as response:
                echoed = response.headers["X-Request-Id"]
            if kept:
                assert echoed == given
            else:
                assert echoed != given and re.fullmatch(r"[0-9a-f]{32}", echoed), echoed


def test_both_formats_carry_the_ids_and_blank_anything_shaped_like_a_token():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    for fmt in ("json", "text"):
        out = io.StringIO()
        logger = logging.getLogger(f"tests.ops.{fmt}")
        logger.propagate = False
        logger.addHandler(logs.handler(fmt, out))
        logger.setLevel(logging.INFO)
        request, connection = context.REQUEST_ID.set("req-1"), context.CONNECTION_ID.set("conn-1")
        try:
            logger.info("GET /socket.io/?EIO=4&token=%s with Authorization: Bearer %s", jwt, jwt)
        finally:
            context.REQUEST_ID.reset(request)
            context.CONNECTION_ID.reset(connection)
        logger.info("outside of any request")
        first, second = out.getvalue().splitlines()
        assert jwt not in out.getvalue() and "c2lnbmF0dXJl" not in out.getvalue()
        if fmt == "json":
            line = json.loads(first)
            assert {"time", "level", "logger", "message", "pid"} <= set(line)
            assert (line["request_id"], line["connection_id"]) == ("req-1", "conn-1")
            assert line["message"].count(logs.REDACTED) == 2
            assert "request_id" not in json.loads(second)
        else:
            assert "request_id=req-1 connection_id=conn-1" in first and "request_id" not in second


def json_lines(path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line in {path.name}: {line[:300]}")
        assert {"time", "level", "logger", "message", "pid"} <= set(record), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), line
        parsed.append(record)
    return parsed


@pytest.mark.system
async def test_json_logs_of_real_processes_carry_ids_and_never_a_token_or_a_message(procs, services, prefix, user_id):
    env = services.env(REDIS_PREFIX=prefix, LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    import config

    auth = config.load(services.env(), require=("auth",)).auth
    alice, bob = user_id("alice"), user_id("bob")
    alice_token, bob_token = mint(auth, alice, "Alice", 3600), mint(auth, bob, "Bob", 3600)
    secret = f"SECRET-CONTENT-{uuid.uuid4().hex}"
    request_id = f"ops-{uuid.uuid4().hex[:12]}"

    port = free_port()
    node = procs.start("web", ["web", "--port", str(port)], env, port=port)
    wait_healthy(node)
    worker = procs.start("worker", ["worker"], env)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        headers = {"Authorization": f"Bearer {alice_token}", "X-Request-Id": request_id}
        async with session.post(
            url + "/api/v1/rooms", json={"name": "Logs", "participants": [bob]}, headers=headers
        ) as r:
            assert r.status == 201 and r.headers["X-Request-Id"] == request_id
            room = (await r.json())["id"]
        headers = {"Authorization": f"Bearer {bob_token}"}
        body = {"content": secret + " over REST", "client_ref": "rest-1"}
        async with session.post(url + f"/api/v1/rooms/{room}/messages", json=body, headers=headers) as r:
            assert r.status == 201
        # A token where it does not belong (the query string): refused (an unknown parameter), not logged.
        async with session.get(url + f"/api/v1/rooms/{room}/messages?token={bob_token}", headers=headers) as r:
            assert r.status == 400

    a = RecordingClient()
    await a.connect(url, auth={"token": alice_token}, transports=["websocket"], wait_timeout=WAIT)
    await a.next("session:ready", timeout=WAIT)
    b = RecordingClient()  # a token in the query string, as some clients pass it
    await b.connect(f"{url}?token={bob_token}", transports=["websocket"], wait_timeout=WAIT)
    await b.next("session:ready", timeout=WAIT)
    sid = a.get_sid()
    assert (await a.ack("room:join", {"room_id": room}))["ok"]
    sent = await a.ack("message:send", {"room_id": room, "content": secret, "client_ref": "sio-1"})
    assert sent["ok"], sent
    failed = await a.ack("message:send", {"room_id": "999999999", "content": secret, "client_ref": "sio-2"})
    assert not failed["ok"]
    refused = RecordingClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(url, auth={"token": alice_token[:-4] + "AAAA"}, transports=["websocket"], wait_timeout=5)
    await a.disconnect()
    await b.disconnect()

    # The worker persists both messages (and notifies bob); then both processes stop.
    def persisted() -> bool:
        import psycopg2

        with psycopg2.connect(services.database_url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM messages WHERE room_id = %s AND client_ref IS NOT NULL", (int(room),))
            return cursor.fetchone()[0] == 2

    await wait_until(persisted, WAIT, "the worker never persisted the messages", worker)
    await asyncio.sleep(0.3)  # its notify job
    for proc in (node, worker):
        procs.signal(proc, signal.SIGTERM)
    await wait_until(lambda: not node.alive() and not worker.alive(), 15, "the processes did not stop", node, worker)

    node_lines, worker_lines = json_lines(node.log), json_lines(worker.log)
    raw = node.log.read_text() + worker.log.read_text()
    assert secret not in raw, "a message's content was logged"
    for token in (alice_token, bob_token):
        assert token not in raw and token.rsplit(".", 1)[1] not in raw, "a token was logged"
    assert any(line.get("request_id") == request_id and "POST /api/v1/rooms" in line["message"] for line in node_lines)
    connection_lines = [line for line in node_lines if line.get("connection_id") == sid]
    assert any("connected as user" in line["message"] for line in connection_lines), connection_lines
    assert any(line["message"].startswith("disconnected") for line in connection_lines), connection_lines
    assert any("connection refused: invalid_token" in line["message"] for line in node_lines)
    assert any("stopping:" in line["message"] for line in node_lines)
    job_lines = [line for line in worker_lines if line.get("job_id")]
    assert job_lines, "no worker line carries its job's id"
    assert {line["level"] for line in node_lines + worker_lines} <= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
