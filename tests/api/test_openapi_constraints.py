"""The OpenAPI document states what the server checks, so that input valid to it is accepted (tests/fuzz
drives every operation with Schemathesis; these pin the constraints a generated client most often meets)."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from app.schemas.fields import USER_ID_PATTERN


def _patterns(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def _parameter(document: dict, path: str, method: str, name: str) -> dict:
    parameters = document["paths"][path][method]["parameters"]
    return next(p["schema"] for p in parameters if p["name"] == name)


def _valid(schema: dict, document: dict, value: object) -> bool:
    rooted = {**schema, "components": document["components"]}
    return Draft202012Validator(rooted).is_valid(value)


def test_patterns_are_anchored_without_dollar(openapi_document):
    found = list(_patterns(openapi_document))
    assert found
    for pattern in found:
        re.compile(pattern)
        assert not pattern.endswith("$"), f"`$` also matches before a final newline in Python: {pattern[:80]}"


def test_path_parameters_state_what_is_checked(openapi_document):
    doc = openapi_document
    message_id = _parameter(doc, "/api/v1/messages/{message_id}", "get", "message_id")
    assert [_valid(message_id, doc, v) for v in ("1", "388383657888325632", "0", "01", "x")] == [
        True, True, False, False, False
    ]  # fmt: skip
    kind = _parameter(doc, "/api/v1/me/favorites/{kind}/{target_id}", "put", "kind")
    assert kind["enum"] == ["room", "user"]
    user = _parameter(doc, "/api/v1/users/{user_id}/presence", "get", "user_id")
    assert [_valid(user, doc, v) for v in ("bob", "bob smith", " bob", "bob\n", "a\x01", "x" * 256)] == [
        True, True, False, False, False, False
    ]  # fmt: skip


def test_bodies_state_lengths_patterns_and_enums(openapi_document):
    doc = openapi_document
    schemas = doc["components"]["schemas"]
    group = schemas["CreateGroup"]
    assert [_valid(group, doc, {"name": n}) for n in ("Team", "", "   ", "x" * 201, "a\x00")] == [
        True, False, False, False, False
    ]  # fmt: skip
    assert group["additionalProperties"] is False
    send = schemas["SendMessage"]
    assert not _valid(send, doc, {})  # content, or an attachment
    assert _valid(send, doc, {"attachment_id": "12"}) and _valid(send, doc, {"content": "hi", "reply_to": None})
    assert not _valid(send, doc, {"content": "hi", "client_ref": ""})
    assert "online" in schemas["StatusBody"]["properties"]["status"]["enum"]
    assert schemas["ReactionBody"]["properties"]["emoji"]["format"] == "emoji"
    assert re.search(USER_ID_PATTERN, "josé") and not re.search(USER_ID_PATTERN, "\u200bx")


async def test_a_whole_number_written_with_a_fraction_is_an_integer(api, user_id):
    """JSON Schema's integers (and JavaScript's numbers) include 1.0: ids and seqs take it."""
    alice = user_id("alice")
    room = await api.create_group(alice, "Team", [12.0])
    assert "12" in [m["user_id"] for m in room["members"]]
    read = await api.post(f"/api/v1/rooms/{room['id']}/read", alice, json={"seq": 0.0})
    assert read.status == 200, read
    refused = await api.post(f"/api/v1/rooms/{room['id']}/read", alice, json={"seq": 0.5})
    assert (refused.status, refused.code) == (400, "invalid_payload"), refused
