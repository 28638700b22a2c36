"""The OpenAPI document: valid OpenAPI 3.1, complete (every route, every method), and true to what the code does.

Truth is checked on real traffic: the `api` helper validates every response
against the document (see conftest); here one scenario drives every
documented operation to each of its success statuses and to its usual
errors, and the request schemas are compared with what the server accepts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from app.chat.errors import DESCRIPTIONS, Code
from app.chat.model import Attachment, Message
from app.gateways.asyncapi import build_asyncapi
from app.rest.api import API_PREFIX
from app.rest.docs_pages import HTML_PAGES
from app.rest.errors import STATUS
from app.rest.system import ASYNCAPI_PATH, ASYNCAPI_ROOT_PATH, DOCUMENTS, OPENAPI_PATH, OPENAPI_ROOT_PATH
from app.storage.messages import insert_batch
from app.web import SERVICES, VERSION
from tests.api.conftest import Contract

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# The only operations outside the canonical API's prefix (/api/v1/): operations at the root, the seed services'
# own paths, where their clients expect them, and the two documents at their root paths too.
OUTSIDE_THE_PREFIX = {
    "/health",
    "/ready",
    "/metrics",
    "/api/metrics/queues",
    "/api/rooms/upload",
    "/api/rooms/check-url/",
    "/api/rooms/refresh-url/",
    "/api/conversations",
    "/api/rooms/{username}/messages",
    "/api/v2/chat/rooms",
    "/api/v2/chat/messages",
    "/api/v2/chat/reactions",
    "/api/v2/chat/reactions/{reactionId}",
    "/api/chats/conversations",
    "/api/chats/conversations/{id}/messages",
    OPENAPI_ROOT_PATH,
    ASYNCAPI_ROOT_PATH,
}

# The parts of OpenAPI 3.1 this document uses, with the rules of the specification that apply to them.
OPENAPI_31_SUBSET = {
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {
                "title": {"type": "string"},
                "version": {"type": "string"},
                "description": {"type": "string"},
            },
        },
        "paths": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {
                "type": "object",
                "propertyNames": {"enum": [*HTTP_METHODS, "parameters", "summary", "description", "servers"]},
                "additionalProperties": {"$ref": "#/$defs/operation"},
                "properties": {"parameters": {"type": "array"}, "summary": {"type": "string"}},
            },
        },
        "components": {
            "type": "object",
            "properties": {
                "schemas": {"type": "object", "additionalProperties": {"type": ["object", "boolean"]}},
                "securitySchemes": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"enum": ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"]},
                            "scheme": {"type": "string"},
                        },
                        "if": {"properties": {"type": {"const": "http"}}},
                        "then": {"required": ["scheme"]},
                    },
                },
            },
        },
    },
    "$defs": {
        "operation": {
            "type": "object",
            "required": ["responses"],
            "properties": {
                "operationId": {"type": "string"},
                "summary": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "parameters": {"type": "array", "items": {"$ref": "#/$defs/parameter"}},
                "requestBody": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {"content": {"$ref": "#/$defs/content"}, "required": {"type": "boolean"}},
                },
                "responses": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": r"^([1-5](\d\d|XX)|default)$"},
                    "additionalProperties": {
                        "type": "object",
                        "required": ["description"],
                        "properties": {"description": {"type": "string"}, "content": {"$ref": "#/$defs/content"}},
                    },
                },
                "security": {"type": "array", "items": {"type": "object"}},
            },
        },
        "parameter": {
            "type": "object",
            "required": ["name", "in"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "in": {"enum": ["query", "header", "path", "cookie"]},
                "required": {"type": "boolean"},
                "schema": {"type": ["object", "boolean"]},
            },
            "if": {"properties": {"in": {"const": "path"}}},
            "then": {"required": ["required"], "properties": {"required": {"const": True}}},
        },
        "content": {
            "type": "object",
            "additionalProperties": {"type": "object", "properties": {"schema": {"type": ["object", "boolean"]}}},
        },
    },
}


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def _schemas(node):
    """Every schema object in the document's operations (parameters, bodies, responses)."""
    if isinstance(node, dict):
        if "schema" in node and isinstance(node["schema"], dict):
            yield node["schema"]
        for value in node.values():
            yield from _schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas(value)


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


async def test_the_served_document_is_the_one_the_contract_checks_use(api, openapi_document):
    for path in (OPENAPI_PATH, OPENAPI_ROOT_PATH):
        reply = await api.get(path)
        assert (reply.status, reply.headers["Content-Type"].split(";")[0]) == (200, "application/json"), path
        assert reply.body == openapi_document, path
    # The AsyncAPI document too is one document at two paths.
    asyncapi = [(await api.get(path)).body for path in (ASYNCAPI_PATH, ASYNCAPI_ROOT_PATH)]
    assert asyncapi[0] == asyncapi[1] == api.app[DOCUMENTS]["asyncapi"]


def test_the_canonical_api_is_under_v1_and_only_the_root_paths_listed_are_not(openapi_document):
    assert API_PREFIX == "/api/v1"
    paths = set(openapi_document["paths"])
    assert {path for path in paths if not path.startswith(API_PREFIX + "/")} == OUTSIDE_THE_PREFIX
    # Every root /api/ path of a canonical route is gone: the seed clients' paths (GET /api/rooms/<username>/
    # messages...) would collide with it; that one is seed 003's.
    templated = {path for path in paths if path.startswith("/api/rooms/{")}
    assert templated == {"/api/rooms/{username}/messages"}
    assert not paths & {"/api/rooms", "/api/me", "/api/rooms/{room_id}", "/api/rooms/{room_id}/messages"}
    assert {OPENAPI_PATH, ASYNCAPI_PATH, API_PREFIX + "/rooms/{room_id}/messages"} <= paths


async def test_the_document_is_valid_openapi_3_1(openapi_document):
    document = openapi_document
    try:
        from openapi_spec_validator import validate as validate_spec  # not installed in every venv
    except ImportError:
        validate_spec = None
    if validate_spec is not None:
        validate_spec(document)
    Draft202012Validator.check_schema(OPENAPI_31_SUBSET)
    Draft202012Validator(OPENAPI_31_SUBSET).validate(document)
    # Every schema is a valid JSON Schema 2020-12 (the dialect of OpenAPI 3.1).
    components = document["components"]["schemas"]
    for name, schema in components.items():
        assert Draft202012Validator(Draft202012Validator.META_SCHEMA).is_valid(schema), name
    for schema in _schemas(document["paths"]):
        Draft202012Validator.check_schema(schema)
    # Every reference resolves, to a component of the right kind.
    for ref in _refs(document):
        match = re.fullmatch(r"#/components/schemas/(\w+)", ref)
        assert match and match.group(1) in components, f"dangling $ref {ref}"
    operation_ids = []
    for path, method, operation in _operations(document):
        operation_ids.append(operation["operationId"])
        # Each {param} of the path is declared once as a required path parameter, and no other.
        declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        assert sorted(declared) == sorted(re.findall(r"{(\w+)}", path)), (method, path)
        for requirement in operation.get("security", []):
            assert set(requirement) <= set(document["components"]["securitySchemes"]), (method, path)
        assert any(status.startswith("2") for status in operation["responses"]), (method, path)
    assert len(operation_ids) == len(set(operation_ids)), "operationIds are unique"


def test_the_document_lists_every_error_code_with_its_status(openapi_document):
    description = openapi_document["info"]["description"]
    for code in Code:
        assert f"`{code.value}` ({STATUS[code]})" in description, code
    assert set(DESCRIPTIONS) == set(Code)
    # On each operation, a code is listed under the status the code is always answered with.
    for path, method, operation in _operations(openapi_document):
        for status, response in operation["responses"].items():
            for name in re.findall(r"`(\w+)`", response["description"]):
                assert str(STATUS[Code(name)]) == status, (method, path, name)


async def test_every_route_of_the_router_is_documented_with_its_method_and_no_more(api):
    """Every route of the real app is an operation of the document it serves (same method), and every operation
    is a route. The only routes left out: static files, the real-time sockets (the AsyncAPI document's channel
    addresses), HEAD (aiohttp adds it beside each GET), and the pages for people listed in `docs_pages.HTML_PAGES`."""
    openapi_document = api.app[DOCUMENTS]["openapi"]
    socket_paths = {channel["address"] for channel in build_asyncapi(VERSION)["channels"].values()}
    routed, pages = set(), set()
    for route in api.app.router.routes():
        resource = route.resource
        if isinstance(resource, web.StaticResource) or route.method == "HEAD":
            continue
        path = resource.canonical if resource is not None else ""
        if path in socket_paths:
            continue
        if path in HTML_PAGES:
            pages.add((route.method, path))
        else:
            routed.add((route.method.lower(), path))
    documented = {(method, path) for path, method, _op in _operations(openapi_document)}
    assert routed == documented, {"not documented": routed - documented, "not routed": documented - routed}
    assert ("get", "/health") in routed and ("post", "/api/v1/rooms/{room_id}/messages") in routed
    assert ("post", "/api/rooms/upload") in routed and ("get", OPENAPI_ROOT_PATH) in routed
    # The list of pages is not stale: each is a GET route of the app, and none is in the document.
    assert pages == {("GET", path) for path in HTML_PAGES}
    assert not HTML_PAGES & set(openapi_document["paths"])
    assert any(isinstance(route.resource, web.StaticResource) for route in api.app.router.routes())


def test_the_contract_check_refuses_bodies_that_stray_from_the_schema(openapi_document):
    """The oracle itself can fail: a missing field, an extra field, a wrong type, a bad time are caught."""
    contract = Contract(openapi_document)
    schema = contract.schema_for("/api/v1/rooms/{room_id}/messages", "POST", 201)
    good = {
        "status": "sent",
        "id": "1",
        "room_id": "2",
        "seq": 1,
        "client_ref": None,
        "created_at": "2026-01-01T00:00:00.000Z",
        "duplicate": False,
    }
    contract.validate(schema, good)
    for bad in (
        {k: v for k, v in good.items() if k != "seq"},
        {**good, "extra": 1},
        {**good, "seq": "1"},
        {**good, "status": "queued"},
        {**good, "created_at": "yesterday"},
    ):
        with pytest.raises(AssertionError):
            contract.validate(schema, bad)
    error_schema = contract.schema_for("/api/v1/me", "GET", 401)
    with pytest.raises(AssertionError):
        contract.validate(error_schema, {"error": "x", "code": "auth_required", "status": 401})


def _file_form(content: bytes, field: str = "file") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(field, content, filename="spec.txt", content_type="text/plain")
    return form


async def _message_with_file(api, room_id: str, sender: str, attachment: dict) -> str:
    """A persisted message carrying an uploaded file (seq far past the scenario's own messages)."""
    services = api.app[SERVICES]
    message = Message(
        id=str(services.ids.next()),
        room_id=room_id,
        seq=10_000,
        sender_id=sender,
        type="file",
        content="a file",
        client_ref=None,
        created_at=datetime.now(UTC),
        attachment=Attachment.from_record(attachment),
    )
    await services.db.run(insert_batch, services.db.db, [message.record()])
    return message.id


async def test_every_operation_answers_as_documented(api, user_id, token, contract, openapi_document):
    """Drive each documented operation to its success statuses and usual errors; `api` validates every reply."""
    owner, bob, carol, outsider = user_id("owner"), user_id("bob"), user_id("carol"), user_id("outsider")
    statuses = []

    async def expect(status: int, method: str, path: str, user: str | None = None, **kwargs):
        reply = await api.call(method, path, user, **kwargs)
        assert reply.status == status, reply
        statuses.append((method, path, status))
        return reply

    await expect(200, "GET", "/health")
    await expect(200, "GET", "/ready")
    await expect(200, "GET", "/metrics")
    await expect(400, "GET", "/metrics", params={"format": "xml"})
    await expect(200, "GET", "/api/metrics/queues")
    for path in (OPENAPI_PATH, OPENAPI_ROOT_PATH):
        await expect(200, "GET", path)
    for path in (ASYNCAPI_PATH, ASYNCAPI_ROOT_PATH):
        asyncapi = await expect(200, "GET", path)
        assert asyncapi.body["asyncapi"].startswith(("2.", "3."))
    await expect(200, "GET", "/api/v1/me", owner, name="Owner")
    await expect(401, "GET", "/api/v1/me")
    await expect(401, "GET", "/api/v1/rooms", headers={"Authorization": "Bearer not-a-token"})
    room = (await expect(201, "POST", "/api/v1/rooms", owner, json={"name": "Spec", "participants": [bob]})).body
    rid = room["id"]
    await expect(400, "POST", "/api/v1/rooms", owner, json={"name": ""})
    await expect(400, "POST", "/api/v1/rooms", owner, json={"name": "x\x00"})
    await expect(200, "GET", "/api/v1/rooms", owner)
    await expect(201, "POST", "/api/v1/rooms/direct", owner, json={"user_id": carol})
    direct = (await expect(200, "POST", "/api/v1/rooms/direct", carol, json={"user_id": owner})).body
    await expect(400, "POST", "/api/v1/rooms/direct", owner, json={})
    await expect(200, "GET", f"/api/v1/rooms/{rid}", bob)
    await expect(403, "GET", f"/api/v1/rooms/{rid}", outsider)
    await expect(404, "GET", "/api/v1/rooms/777777777777", owner)
    await expect(200, "POST", f"/api/v1/rooms/{rid}/members", owner, json={"user_ids": [carol, outsider]})
    await expect(403, "POST", f"/api/v1/rooms/{rid}/members", bob, json={"user_ids": [carol]})
    await expect(409, "POST", f"/api/v1/rooms/{direct['id']}/members", owner, json={"user_ids": [bob]})
    await expect(400, "POST", f"/api/v1/rooms/{rid}/members", owner, json={"user_ids": []})
    await expect(201, "POST", f"/api/v1/rooms/{rid}/messages", bob, json={"content": "hi", "client_ref": "spec-1"})
    await expect(200, "POST", f"/api/v1/rooms/{rid}/messages", bob, json={"content": "hi", "client_ref": "spec-1"})
    await expect(201, "POST", f"/api/v1/rooms/{rid}/messages", carol, json={"content": "x", "client_ref": "spec-2"})
    await expect(
        409, "POST", f"/api/v1/rooms/{direct['id']}/messages", carol, json={"content": "x", "client_ref": "spec-2"}
    )
    await expect(400, "POST", f"/api/v1/rooms/{rid}/messages", bob, json={"content": " "})
    await expect(400, "POST", f"/api/v1/rooms/{rid}/messages", bob, json={"content": 1})
    await expect(404, "POST", "/api/v1/rooms/777777777777/messages", bob, json={"content": "x"})
    await expect(200, "GET", f"/api/v1/rooms/{rid}/messages", carol, params={"limit": "1"})
    await expect(400, "GET", f"/api/v1/rooms/{rid}/messages", carol, params={"limit": "0"})
    await expect(404, "GET", "/api/v1/rooms/777777777777/messages", carol)
    await expect(204, "DELETE", f"/api/v1/rooms/{rid}/members/{outsider}", owner)
    await expect(403, "GET", f"/api/v1/rooms/{rid}/messages", outsider)
    await expect(403, "POST", f"/api/v1/rooms/{rid}/messages", outsider, json={"content": "x"})
    await expect(404, "DELETE", f"/api/v1/rooms/{rid}/members/{outsider}", owner)
    await expect(403, "DELETE", f"/api/v1/rooms/{rid}/members/{carol}", bob)
    await expect(409, "DELETE", f"/api/v1/rooms/{direct['id']}/members/{carol}", owner)
    await expect(204, "POST", f"/api/v1/rooms/{rid}/leave", carol)
    await expect(403, "POST", f"/api/v1/rooms/{rid}/leave", carol)
    await expect(409, "POST", f"/api/v1/rooms/{direct['id']}/leave", carol)
    await expect(404, "POST", "/api/v1/rooms/777777777777/leave", carol)
    # Presence, reads and notifications.
    await expect(200, "GET", f"/api/v1/users/{bob}/presence", owner)
    await expect(404, "GET", f"/api/v1/users/{owner}/presence", "stranger-" + owner)
    await expect(200, "PUT", "/api/v1/me/status", owner, json={"status": "available"})
    await expect(400, "PUT", "/api/v1/me/status", owner, json={"status": "sleepy"})
    await expect(200, "POST", f"/api/v1/rooms/{rid}/read", owner, json={"seq": 1})
    await expect(200, "POST", f"/api/v1/rooms/{rid}/read", owner, json={})
    await expect(409, "POST", f"/api/v1/rooms/{rid}/read", owner, json={"seq": 99})
    await expect(403, "POST", f"/api/v1/rooms/{rid}/read", outsider, json={})
    await expect(200, "GET", "/api/v1/me/unread", bob)
    await expect(200, "GET", "/api/v1/notifications", bob)
    await expect(400, "GET", "/api/v1/notifications", bob, params={"limit": "0"})
    await expect(200, "POST", "/api/v1/notifications/ack", bob, json={"ids": ["1"]})
    await expect(400, "POST", "/api/v1/notifications/ack", bob, json={"ids": []})
    # Search (nothing is persisted here: no worker runs; tests/api/v1/test_search.py finds things).
    await expect(200, "GET", "/api/v1/search", bob, params={"q": "hi", "room_id": rid})
    await expect(400, "GET", "/api/v1/search", bob, params={"q": "!!!"})
    await expect(403, "GET", "/api/v1/search", outsider, params={"q": "hi", "room_id": rid})
    # Rich messages: edit, delete, reactions; favorites and people.
    mid = (await expect(201, "POST", f"/api/v1/rooms/{rid}/messages", bob, json={"content": "edit me"})).body["id"]
    await expect(200, "GET", f"/api/v1/messages/{mid}", owner)
    await expect(404, "GET", f"/api/v1/messages/{mid}", outsider)
    await expect(200, "PATCH", f"/api/v1/messages/{mid}", bob, json={"content": "edited"})
    await expect(403, "PATCH", f"/api/v1/messages/{mid}", owner, json={"content": "not mine"})
    await expect(400, "PATCH", f"/api/v1/messages/{mid}", bob, json={"content": ""})
    await expect(200, "POST", f"/api/v1/messages/{mid}/reactions", owner, json={"emoji": "👍"})
    await expect(400, "POST", f"/api/v1/messages/{mid}/reactions", owner, json={"emoji": "plus one"})
    await expect(200, "DELETE", f"/api/v1/messages/{mid}/reactions/%F0%9F%91%8D", owner)
    await expect(200, "DELETE", f"/api/v1/messages/{mid}", owner)  # the room's owner
    await expect(409, "DELETE", f"/api/v1/messages/{mid}", bob)
    await expect(200, "GET", f"/api/v1/rooms/{rid}/changes", bob, params={"since": "0"})
    await expect(403, "GET", f"/api/v1/rooms/{rid}/changes", outsider)
    await expect(400, "GET", f"/api/v1/rooms/{rid}/changes", bob, params={"since": "x"})
    await expect(404, "DELETE", "/api/v1/messages/777777777777", bob)
    await expect(200, "PUT", f"/api/v1/me/favorites/room/{rid}", bob)
    await expect(200, "PUT", f"/api/v1/me/favorites/user/{owner}", bob)
    await expect(404, "PUT", "/api/v1/me/favorites/user/nobody-here-at-all", bob)
    await expect(403, "PUT", f"/api/v1/me/favorites/room/{rid}", outsider)
    await expect(400, "PUT", f"/api/v1/me/favorites/planet/{rid}", bob)
    await expect(200, "DELETE", f"/api/v1/me/favorites/room/{rid}", bob)
    await expect(200, "GET", "/api/v1/me/favorites", bob)
    await expect(200, "GET", "/api/v1/me/people", bob)
    await expect(200, "GET", "/api/v1/me/devices", bob)  # empty here (no socket); tests/api/test_devices.py fills it
    # Attachments: uploads (ours and the seed's path), downloads through signed links, links by message.
    uploaded = (await expect(201, "POST", "/api/v1/attachments", bob, data=_file_form(b"spec\n"))).body
    await expect(201, "POST", "/api/rooms/upload", bob, data=_file_form(b"seed\n", "myFile"))
    await expect(400, "POST", "/api/v1/attachments", bob, data=_file_form(b""))
    await expect(400, "POST", "/api/rooms/upload", bob, json={"myFile": "x"})
    await expect(401, "POST", "/api/v1/attachments", data=_file_form(b"x"))
    await expect(200, "GET", uploaded["url"])
    await expect(206, "GET", uploaded["url"], headers={"Range": "bytes=0-1"})
    await expect(416, "GET", uploaded["url"], headers={"Range": "bytes=99-"})
    await expect(403, "GET", uploaded["url"].replace("sig=", "sig=0"))
    file_mid = await _message_with_file(api, rid, bob, uploaded)
    for path in (f"/api/v1/messages/{file_mid}/attachment-url", f"/api/v1/messages/{file_mid}/attachment-url/check"):
        await expect(200, "GET", path, owner)
        await expect(404, "GET", path, outsider)  # as for an unknown id
        await expect(404, "GET", path.replace(file_mid, "777777777777"), owner)
    for path in ("/api/rooms/refresh-url/", "/api/rooms/check-url/"):
        await expect(200, "GET", path, owner, params={"message_id": file_mid})
        await expect(400, "GET", path, owner)
    # Seed 003's conversations, by username (carol gets hers by signing in with it), with a bare token too.
    await expect(200, "GET", "/api/v1/me", headers={"Authorization": f"Bearer {token(carol, username=carol)}"})
    await expect(200, "GET", "/api/conversations", owner)
    await expect(200, "GET", "/api/conversations", headers={"Authorization": token(owner)})
    await expect(401, "GET", "/api/conversations", headers={"Authorization": "garbage"})
    await expect(200, "GET", f"/api/rooms/{carol}/messages", owner)
    await expect(404, "GET", f"/api/rooms/{user_id('nobody')}/messages", owner)
    await expect(400, "GET", f"/api/rooms/{carol}/messages", carol)
    # Seed 001's conversations: numeric user ids, as its clients send them.
    one, two = (str(n * 10**10 + int(owner[-8:], 16)) for n in (1, 2))  # owner's unique hex suffix
    pair = {"sender_id": int(one), "receiver_id": int(two)}
    created = (await expect(201, "POST", "/api/chats/conversations", one, json=pair)).body
    conversation = f"/api/chats/conversations/{created['id']}"
    await expect(200, "POST", "/api/chats/conversations", two, json=pair)
    await expect(400, "POST", "/api/chats/conversations", one, json={"sender_id": one, "receiver_id": int(two)})
    await expect(403, "POST", "/api/chats/conversations", owner, json=pair)
    await expect(200, "GET", f"{conversation}/messages", two, params={"page": "1", "limit": "20"})
    await expect(400, "GET", f"{conversation}/messages", two, params={"page": "0"})
    await expect(403, "GET", f"{conversation}/messages", owner)
    await expect(404, "GET", "/api/chats/conversations/777777777777/messages", owner)
    # Seed 002's chat v2: its errors in its own shape (`code` the HTTP status, the stable code in X-Error-Code).
    v2 = "/api/v2/chat"
    body = {"name": "V2", "participants": [bob]}
    v2_room = (await expect(201, "POST", f"{v2}/rooms", owner, json=body)).body["id"]
    await expect(400, "POST", f"{v2}/rooms", owner, json={"participants": [bob]})
    await expect(200, "GET", f"{v2}/rooms", bob, headers={"x-tenant-tag": "acme"})
    await expect(401, "GET", f"{v2}/rooms")
    v2_mid = (await api.send(bob, v2_room, "react to me"))["id"]
    await expect(200, "GET", f"{v2}/messages", owner, params={"roomId": v2_room, "limit": "10"})
    await expect(400, "GET", f"{v2}/messages", owner)
    await expect(403, "GET", f"{v2}/messages", outsider, params={"roomId": v2_room})
    await expect(404, "GET", f"{v2}/messages", owner, params={"roomId": "777777777777"})
    party = {"messageId": v2_mid, "emoji": "🎉"}
    reaction = (await expect(201, "POST", f"{v2}/reactions", owner, json=party)).body
    await expect(200, "POST", f"{v2}/reactions", owner, json=party)
    await expect(400, "POST", f"{v2}/reactions", owner, json={"messageId": v2_mid, "emoji": "party"})
    await expect(404, "POST", f"{v2}/reactions", outsider, json=party)
    await expect(404, "DELETE", f"{v2}/reactions/{reaction['id']}", bob)  # not bob's
    await expect(200, "DELETE", f"{v2}/reactions/{reaction['id']}", owner)
    await expect(200, "GET", "/metrics", headers={"Accept": "application/json"})  # the seed's JSON, validated

    # Each documented success status of each operation was met, and validated by the contract.
    documented_successes = {
        (path, method.upper(), int(status))
        for path, method, operation in _operations(openapi_document)
        for status in operation["responses"]
        if status.startswith("2")
    }
    assert documented_successes <= contract.seen, documented_successes - contract.seen
    # And every reply of the scenario, errors included, was a documented status of a documented operation.
    for method, path, status in statuses:
        template, _operation = contract.operation(method, path.partition("?")[0])
        assert (template, method, status) in contract.seen


async def test_the_413_of_a_body_route_is_documented_and_validates(api_with, user_id):
    api = await api_with(MAX_FRAME_BYTES=1024)
    owner = user_id("owner")
    reply = await api.post("/api/v1/rooms", owner, json={"name": "x" * 2000})
    assert (reply.status, reply.code) == (413, "payload_too_large")
    assert ("/api/v1/rooms", "POST", 413) in api.contract.seen


def _accepts(contract: Contract, schema: dict, instance: object) -> bool:
    try:
        contract.validate(schema, instance)
    except AssertionError:
        return False
    return True


REQUEST_BODIES = [
    ("/api/v1/rooms", {"name": "T"}),
    ("/api/v1/rooms", {"name": "T", "participants": ["p-1", 77]}),
    ("/api/v1/rooms", {"participants": []}),
    ("/api/v1/rooms", {"name": "T", "topic": "unknown"}),
    ("/api/v1/rooms", {"name": 3}),
    ("/api/v1/rooms", {"name": "T", "participants": [True]}),
    ("/api/v1/rooms", {"name": "T", "participants": [1.5]}),
    ("/api/v1/rooms/direct", {"user_id": 77}),
    ("/api/v1/rooms/direct", {"user_id": None}),
    ("/api/v1/rooms/direct", {"user_id": ""}),
    ("/api/v1/rooms/{room_id}/members", {"user_ids": ["x"]}),
    ("/api/v1/rooms/{room_id}/members", {"user_ids": []}),
    ("/api/v1/rooms/{room_id}/members", {"user_ids": ["x"], "role": "owner"}),
    ("/api/v1/rooms/{room_id}/messages", {"content": "hi"}),
    ("/api/v1/rooms/{room_id}/messages", {"content": "hi", "client_ref": None, "type": "text"}),
    ("/api/v1/rooms/{room_id}/messages", {"content": "hi", "type": "image"}),
    ("/api/v1/rooms/{room_id}/messages", {"content": "hi", "client_ref": 9}),
    ("/api/v1/rooms/{room_id}/messages", {"content": None}),
    ("/api/v1/rooms/{room_id}/messages", {"text": "hi"}),
]


@pytest.mark.parametrize(("template", "body"), REQUEST_BODIES, ids=[f"{t}:{b}" for t, b in REQUEST_BODIES])
async def test_the_documented_request_body_schemas_accept_what_the_server_accepts(api, user_id, template, body):
    """Shape only: a body the document allows passes the server's schema, and one it forbids is refused."""
    owner = user_id("owner")
    room_id = (await api.create_group(owner, "Bodies", [user_id("member")]))["id"]
    operation = api.contract.document["paths"][template]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    documented_ok = _accepts(api.contract, schema, body)
    reply = await api.post(template.replace("{room_id}", room_id), owner, json=body)
    server_ok = not (
        reply.status == 400 and reply.code == "invalid_payload" and "fields" in (reply.body["details"] or {})
    )
    assert documented_ok == server_ok, reply


QUERIES = [
    {"limit": "5"},
    {"limit": "0"},
    {"limit": "x"},
    {"before": "3", "after": "1"},
    {"before": "-1"},
    {"after": "-1"},
    {"before": "1.5"},
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(q) for q in QUERIES])
async def test_the_documented_history_parameters_accept_what_the_server_accepts(api, user_id, query):
    owner = user_id("owner")
    room_id = (await api.create_group(owner, "Query"))["id"]
    parameters = {
        p["name"]: p["schema"]
        for p in api.contract.document["paths"]["/api/v1/rooms/{room_id}/messages"]["get"]["parameters"]
        if p["in"] == "query"
    }
    documented_ok = True
    for name, text in query.items():
        try:
            value: object = int(text)
        except ValueError:
            value = text
        try:
            Draft202012Validator(parameters[name]).validate(value)
        except ValidationError:
            documented_ok = False
    reply = await api.get(f"/api/v1/rooms/{room_id}/messages", owner, params=query)
    assert documented_ok == (reply.status == 200), reply
