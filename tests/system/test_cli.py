"""`run.py`'s commands as an operator runs them: help, migrations, tokens, disabling users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit, urlunsplit

import jwt
import psycopg2
import pytest

import config
from app.auth.tokens import TokenVerifier
from app.chat.model import Profile
from app.storage.migrate import available
from tests.system.conftest import RUN_PY

pytestmark = pytest.mark.system

COMMANDS = ["web", "worker", "migrate", "token", "user"]


def run_py(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RUN_PY), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def get(url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def refused_soon(url: str, token: str, timeout: float = 5.0, wanted: int = 403) -> tuple[int, dict]:
    """GET `url` until it answers `wanted` (nodes learn of a disabled or enabled user over pub/sub, not when
    their user cache expires), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(url, token)
        if status == wanted or time.monotonic() > deadline:
            return status, body
        time.sleep(0.05)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_of_run_py_and_of_every_command(command, system_env):
    args = [command, "--help"] if command else ["--help"]
    done = run_py(*args, env=system_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: run.py {command or ''}".rstrip()), done.stdout
    assert done.stderr == ""
    if command is None:
        assert all(name in done.stdout for name in COMMANDS)
    text = " ".join(done.stdout.split())  # argparse wraps lines
    for words in HELP_SAYS[command]:
        assert words in text, (command, words, text)


# What each help page must say: what the command does in full, not only its name.
HELP_SAYS = {
    None: ["embedded Postgres and Redis", "one web node and one worker"],
    "web": ["Socket.IO", "Phoenix Channels", "REST API", "test page", "run.py migrate"],
    "worker": ["messages", "presence", "notifications", "outbox redrive", "rides out Redis and Postgres"],
    "migrate": ["migrations not applied yet", "schema is up to date"],
    "token": ["development secret in DATA_DIR", "--username"],
    "user": ["on every node at once", "closes their live connections", "disable: refuse and disconnect",
             "the user's id"],
}  # fmt: skip


def test_migrate_applies_the_schema_once_and_is_safe_to_run_again(services, system_env):
    database = f"chat_test_{services.run_id}_migrate"
    parts = urlsplit(services.admin_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
    admin = psycopg2.connect(services.admin_url)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    try:
        versions = [version for version, _path in available()]
        first = run_py("migrate", env=system_env(DATABASE_URL=url))
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "applied: " + ", ".join(versions)
        for _ in range(2):
            again = run_py("migrate", env=system_env(DATABASE_URL=url))
            assert again.returncode == 0, again.stderr
            assert again.stdout.strip() == "the schema is up to date"
        with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            assert {"users", "rooms", "memberships", "messages"} <= {row[0] for row in cursor.fetchall()}
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def test_a_printed_token_is_accepted_by_a_web_node(nodes, system_env):
    user = f"alice-{uuid.uuid4().hex[:8]}"
    done = run_py("token", user, "--name", "Alice", env=system_env())
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    status, me = get(f"{nodes[0].url}/api/v1/me", token)
    assert status == 200 and me["id"] == user and me["name"] == "Alice", me
    # A token from another secret is refused.
    forged = run_py("token", user, env=system_env(JWT_SECRET="another-secret-" + "y" * 40)).stdout.strip()
    status, error = get(f"{nodes[0].url}/api/v1/me", forged)
    assert status == 401 and error["code"] == "invalid_token", error


async def test_token_with_a_username_carries_the_claim_and_an_invalid_username_is_refused(system_env):
    env = system_env()
    auth = config.load(env, require=("auth",)).auth
    done = run_py("token", "ada-1", "--name", "Ada", "--username", "ada.lovelace@example.org", env=env)
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), env["JWT_SECRET"], algorithms=["HS256"])
    assert (claims["sub"], claims["name"], claims["username"]) == ("ada-1", "Ada", "ada.lovelace@example.org")
    assert await TokenVerifier(auth).verify(done.stdout.strip()) == Profile("ada-1", "Ada", "ada.lovelace@example.org")
    plain = run_py("token", "ada-1", env=env)
    assert "username" not in jwt.decode(plain.stdout.strip(), env["JWT_SECRET"], algorithms=["HS256"])

    for bad in ("ada lovelace", "", "x" * 151, "a/b"):
        done = run_py("token", "ada-1", "--username", bad, env=env)
        assert (done.returncode, done.stdout) == (2, ""), (bad, done)
        assert "error: argument --username: " in done.stderr and "must be 1 to 150" in done.stderr, done.stderr


def test_token_without_a_secret_signs_with_the_development_secret_unless_dev_mode_is_off(system_env, tmp_path):
    env = system_env(DATA_DIR=str(tmp_path))
    del env["JWT_SECRET"]
    done = run_py("token", "alice", env=env)
    assert done.returncode == 0, done.stderr
    secret = (tmp_path / "dev-jwt-secret").read_text().strip()
    assert jwt.decode(done.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "alice"

    done = run_py("token", "alice", env={**env, "DEV_MODE": "0"})
    assert done.returncode == 2
    assert done.stderr.startswith("configuration error: JWT_"), done.stderr  # no secret, no key: refused


async def test_a_disabled_user_is_refused_on_every_node_and_disconnected(nodes, system_env, sys_token, sio):
    user = f"mallory-{uuid.uuid4().hex[:8]}"
    token = sys_token(user)
    for node in nodes:  # both nodes know (and cache) the user as active
        status, _ = await asyncio.to_thread(get, f"{node.url}/api/v1/rooms", token)
        assert status == 200
    client = await sio(nodes[1], user)

    done = await asyncio.to_thread(run_py, "user", "disable", user, env=system_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{user}: disabled"
    for node in nodes:
        status, error = await asyncio.to_thread(refused_soon, f"{node.url}/api/v1/rooms", token)
        assert status == 403 and error["code"] == "user_disabled", (node.name, status, error)
    notice = await client.next("error", timeout=10)
    assert notice["code"] == "user_disabled"
    deadline = time.monotonic() + 10
    while client.connected:
        assert time.monotonic() < deadline, "the disabled user's connection stayed open"
        await asyncio.sleep(0.05)

    unknown = await asyncio.to_thread(run_py, "user", "disable", f"nobody-{uuid.uuid4().hex[:8]}", env=system_env())
    assert unknown.returncode == 1 and unknown.stderr.startswith("no user ")
    enabled = await asyncio.to_thread(run_py, "user", "enable", user, env=system_env())
    assert enabled.returncode == 0 and enabled.stdout.strip() == f"{user}: enabled"
    for node in nodes:  # at once on every node, not after USER_CACHE_TTL (30 s)
        status, body = await asyncio.to_thread(refused_soon, f"{node.url}/api/v1/rooms", token, 5.0, 200)
        assert status == 200, (node.name, status, body)
