"""Helpers of the REST tier: a client that speaks for users and checks every response against the API contract.

`api` calls the real application (real Postgres and Redis). Every response
it sees is checked against the invariants every REST response must keep:

- it carries an X-Request-Id header;
- an error body is exactly `{error, details, code, status}`, `status` repeating the HTTP status; on the routes
  answering in a seed's error shape (seed 002's `{error, details, code}`, `code` the HTTP status), exactly that,
  with the stable code in the X-Error-Code header;
- when the path and method are documented in the OpenAPI document, the status is documented for
  that operation, the body validates (JSON Schema 2020-12, `$ref`s resolved into
  `#/components/schemas`) against the schema the document gives for that status (for a JSON body; a
  documented alternative that is not JSON, such as Prometheus text, is not parsed), and an error's
  stable code is one of the codes the document lists for that status; a documented body-less status
  (204) has no body.

So the contract is exercised by every test of the tier, not just by the OpenAPI tests.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from multidict import CIMultiDictProxy

from app.rest import routes
from app.rest.openapi import build_openapi
from app.web import SERVICES, VERSION, create_app

ERROR_KEYS = {"error", "details", "code", "status"}
SEED_002_ERROR_KEYS = {"error", "details", "code"}  # seed 002's routes: `code` is the HTTP status
ERROR_CODE = "X-Error-Code"  # the stable code, on routes whose error body has no place for it
_MISSING = object()
# The one time format on the wire: ISO 8601, UTC, milliseconds, `Z`.
WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@dataclass
class Reply:
    """A response as the tests see it: status, parsed JSON body (None when empty), headers."""

    method: str
    path: str
    status: int
    body: Any
    headers: CIMultiDictProxy
    raw: bytes

    @property
    def code(self) -> str | None:
        """The stable error code: the body's, or the X-Error-Code header's where the body's `code` is the status."""
        if ERROR_CODE in self.headers:
            return self.headers[ERROR_CODE]
        return self.body.get("code") if isinstance(self.body, dict) else None

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status} {self.raw[:500]!r}>"


class Contract:
    """The OpenAPI document as an oracle for real responses."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self.seen: set[tuple[str, str, int]] = set()  # (path template, method, status) checked
        self._templates = []
        for template, item in document["paths"].items():
            parts = re.split(r"\{\w+\}", template)
            pattern = re.compile("^" + "[^/]+".join(re.escape(part) for part in parts) + "$")
            self._templates.append((template.count("{"), template, pattern, item))
        self._templates.sort(key=lambda entry: entry[0])  # static paths win over templated ones

    def operation(self, method: str, path: str) -> tuple[str, dict] | None:
        for _params, template, pattern, item in self._templates:
            if pattern.match(path) and method.lower() in item:
                return template, item[method.lower()]
        return None

    def schema_for(self, template: str, method: str, status: int) -> dict | None:
        response = self.document["paths"][template][method.lower()]["responses"][str(status)]
        content = response.get("content")
        if not content or "application/json" not in content:
            return None  # no body, or not JSON (a download)
        return content["application/json"]["schema"]

    def validate(self, schema: dict, instance: object) -> None:
        """Validate `instance` against a schema of the document, its `$ref`s resolved in the document."""
        rooted = {**schema, "components": self.document.get("components", {})}
        errors = sorted(Draft202012Validator(rooted, format_checker=FORMATS).iter_errors(instance), key=str)
        assert not errors, "response does not match the documented schema:\n" + "\n".join(
            f"- at {list(e.absolute_path)}: {e.message}" for e in errors
        )

    def check(self, reply: Reply) -> None:
        found = self.operation(reply.method, reply.path.split("?")[0])
        if found is None:
            return  # not a documented path and method (unknown routes, 405)
        template, operation = found
        responses = operation["responses"]
        assert str(reply.status) in responses, (
            f"contract: {reply.method} {template} answered {reply.status}, which the OpenAPI document does not "
            f"list (documented: {sorted(responses)}); {reply!r}"
        )
        self.seen.add((template, reply.method.upper(), reply.status))
        schema = self.schema_for(template, reply.method, reply.status)
        if schema is None:
            if reply.status == 204:
                assert reply.raw == b"", f"contract: a 204 has no body; {reply!r}"
            return
        media = reply.headers.get("Content-Type", "").split(";")[0].strip()
        content = responses[str(reply.status)]["content"]
        if media != "application/json" and media in {documented.split(";")[0].strip() for documented in content}:
            return  # a documented body that is not JSON, beside the JSON one (Prometheus text at /metrics)
        assert reply.body is not None, f"contract: a JSON body is documented; {reply!r}"
        self.validate(schema, reply.body)
        if reply.status >= 400:
            listed = set(re.findall(r"`(\w+)`", responses[str(reply.status)]["description"]))
            assert reply.code in listed, (
                f"contract: {reply.method} {template} answered {reply.status} `{reply.code}`, but the document "
                f"lists only {sorted(listed)} for {reply.status}"
            )


class Api:
    """Speaks to the app for users (`user=` picks whose token goes in `Authorization: Bearer`)."""

    def __init__(self, client, mint: Callable[..., str], contract: Contract) -> None:
        self.client = client
        self.app = client.server.app
        self.contract = contract
        self._mint = mint
        self._tokens: dict[str, str] = {}

    def token(self, user: str, name: str | None = None) -> str:
        if name is not None or user not in self._tokens:
            self._tokens[user] = self._mint(user, name)
        return self._tokens[user]

    def auth(self, user: str, name: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, name)}"}

    async def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        *,
        json: object = _MISSING,
        data: bytes | str | None = None,
        params: dict | None = None,
        headers: dict | None = None,
        name: str | None = None,
    ) -> Reply:
        all_headers = dict(self.auth(user, name)) if user is not None else {}
        all_headers.update(headers or {})
        kwargs: dict = {"headers": all_headers}
        if json is not _MISSING:
            kwargs["data"] = orjson.dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        elif data is not None:
            kwargs["data"] = data
        if params is not None:
            kwargs["params"] = params
        async with self.client.request(method, path, **kwargs) as response:
            raw = await response.read()
            body = orjson.loads(raw) if raw and response.content_type == "application/json" else None
            reply = Reply(method.upper(), path, response.status, body, response.headers, raw)
        self._check_invariants(reply)
        return reply

    def _check_invariants(self, reply: Reply) -> None:
        assert reply.headers.get("X-Request-Id"), f"every response carries X-Request-Id; {reply!r}"
        if reply.status >= 400 and ERROR_CODE in reply.headers:  # a seed's error shape (the document says which)
            assert reply.headers.get("Content-Type", "").startswith("application/json"), reply
            assert isinstance(reply.body, dict) and set(reply.body) == SEED_002_ERROR_KEYS, (
                f"a seed 002 error body is exactly {sorted(SEED_002_ERROR_KEYS)}; {reply!r}"
            )
            assert reply.body["code"] == reply.status, reply
            assert isinstance(reply.body["error"], str) and reply.body["error"], reply
            assert reply.body["details"] is None or isinstance(reply.body["details"], str), reply
            assert re.fullmatch(r"[a-z_]+", reply.headers[ERROR_CODE]), reply
        elif reply.status >= 400:
            assert reply.headers.get("Content-Type", "").startswith("application/json"), reply
            assert isinstance(reply.body, dict) and set(reply.body) == ERROR_KEYS, (
                f"an error body is exactly {sorted(ERROR_KEYS)}; {reply!r}"
            )
            assert reply.body["status"] == reply.status, reply
            assert isinstance(reply.body["error"], str) and reply.body["error"], reply
            assert isinstance(reply.body["code"], str) and reply.body["code"], reply
            assert reply.body["details"] is None or isinstance(reply.body["details"], dict), reply
        self.contract.check(reply)

    async def get(self, path: str, user: str | None = None, **kwargs) -> Reply:
        return await self.call("GET", path, user, **kwargs)

    async def post(self, path: str, user: str | None = None, **kwargs) -> Reply:
        return await self.call("POST", path, user, **kwargs)

    async def delete(self, path: str, user: str | None = None, **kwargs) -> Reply:
        return await self.call("DELETE", path, user, **kwargs)

    # Shortcuts that must succeed; they keep the tests about one thing each.

    async def create_group(self, owner: str, name: str = "Team", participants: list[str] = ()) -> dict:
        reply = await self.post("/api/v1/rooms", owner, json={"name": name, "participants": list(participants)})
        assert reply.status == 201, reply
        return reply.body

    async def direct(self, user: str, other: str) -> dict:
        reply = await self.post("/api/v1/rooms/direct", user, json={"user_id": other})
        assert reply.status in (200, 201), reply
        return reply.body

    async def send(self, user: str, room_id: str, content: str, client_ref: str | None = None) -> dict:
        reply = await self.post(
            f"/api/v1/rooms/{room_id}/messages", user, json={"content": content, "client_ref": client_ref}
        )
        assert reply.status == 201, reply
        return reply.body

    async def history(self, user: str, room_id: str, **params) -> dict:
        reply = await self.get(f"/api/v1/rooms/{room_id}/messages", user, params={k: str(v) for k, v in params.items()})
        assert reply.status == 200, reply
        return reply.body

    async def room(self, user: str, room_id: str) -> dict:
        reply = await self.get(f"/api/v1/rooms/{room_id}", user)
        assert reply.status == 200, reply
        return reply.body

    async def rooms(self, user: str) -> list[dict]:
        reply = await self.get("/api/v1/rooms", user)
        assert reply.status == 200, reply
        return reply.body["rooms"]


@pytest.fixture(scope="session")
def openapi_document() -> dict:
    """The document the app serves, built the way the app builds it (a test checks they are equal)."""
    return build_openapi(routes.ROUTES, VERSION)


@pytest.fixture
def contract(openapi_document) -> Contract:
    return Contract(openapi_document)


@pytest.fixture
async def api(client, token, contract) -> Api:
    return Api(client, token, contract)


@pytest.fixture
def api_with(aiohttp_client, make_settings, token, contract) -> Callable[..., Awaitable[Api]]:
    """api_with(**ENV) -> an Api on an app built from settings with those variables changed."""

    async def build(mint: Callable[..., str] | None = None, **env: object) -> Api:
        client = await aiohttp_client(create_app(make_settings(**env)))
        return Api(client, mint or token, contract)

    return build


def members_of(room: dict) -> list[str]:
    return [m["user_id"] for m in room["members"]]


def role_of(room: dict, user: str) -> str | None:
    return next((m["role"] for m in room["members"] if m["user_id"] == user), None)


def field_errors(reply: Reply) -> dict:
    """The per-field part of an invalid_payload's details (schema errors nest it under `fields`)."""
    details = reply.body["details"] or {}
    return details.get("fields", details)


async def stored_messages(api: Api, room_id: str) -> list[tuple[int, str, str, str]]:
    """(seq, id, sender_id, content) of the room's rows in Postgres, read through the app's pool."""
    from app.storage.models import MessageRow

    def read() -> list[tuple[int, str, str, str]]:
        query = MessageRow.select().where(MessageRow.room_id == int(room_id)).order_by(MessageRow.seq)
        return [(row.seq, str(row.id), row.sender_id, row.content) for row in query]

    return await api.app[SERVICES].db.run(read)


async def everything_enqueued(api: Api, timeout: float = 5.0) -> None:
    """Wait (bounded) until the node's persistence batcher has handed every acknowledged message to RQ."""
    batcher = api.app[SERVICES].batcher
    deadline = time.monotonic() + timeout
    # The batcher lingers a few ms before enqueueing; its flusher task is gone once nothing is pending.
    while batcher._pending or batcher._flusher is not None:
        assert time.monotonic() < deadline, "the batcher did not enqueue within the timeout"
        await asyncio.sleep(0.01)
