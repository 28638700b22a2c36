"""The raw JSON WebSocket dialects' channels of the AsyncAPI 3.0 document, generated from `contract`
(the document itself is assembled in `app.gateways.asyncapi`).

Per channel (keyed by dialect name): its address and parameters, the `token` query of its WebSocket
binding, and its messages, keyed `client_<name>` (frames a client sends) and `server_<name>` (frames the
server sends), so a name used both ways (004's `typing`) stays two messages. `x-frame-key` says which
field names a frame. Operations are keyed `<channel>.<message key>`: `receive` for client frames (with a
`reply` where server frames answer one), `send` for every server frame that is not only a reply.
"""

from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin

from app.gateways.websocket.contract import CHANNELS, Channel
from app.realtime.operations import OPERATIONS
from app.schemas.jsonschema import to_json_schema

TOKEN_QUERY = {
    "type": "object",
    "properties": {"token": {"type": "string", "description": "The JWT (the same as the canonical protocol's)."}},
    "required": ["token"],
}


def client_key(name: str) -> str:
    return f"client_{name}"


def server_key(name: str) -> str:
    return f"server_{name}"


def _channel(plugin: MarshmallowPlugin, key: str, channel: Channel) -> tuple[dict, dict]:
    ref = {"$ref": f"#/channels/{key}"}

    def message_ref(message_key: str) -> dict:
        return {"$ref": f"#/channels/{key}/messages/{message_key}"}

    messages: dict = {}
    operations: dict = {}
    replies = {reply for frame in channel.client.values() for reply in frame.replies}
    assert replies <= set(channel.server), f"{key}: a reply that is not a server frame"
    for name, frame in channel.client.items():
        message_key = client_key(name)
        messages[message_key] = {
            "name": name,
            "summary": frame.summary,
            "payload": to_json_schema(plugin, frame.payload),
        }
        operation: dict = {
            "action": "receive",
            "channel": ref,
            "summary": frame.summary,
            "messages": [message_ref(message_key)],
            "x-error-codes": [code.value for code in OPERATIONS[frame.operation].errors] if frame.operation else [],
        }
        if frame.replies:
            operation["reply"] = {"channel": ref, "messages": [message_ref(server_key(r)) for r in frame.replies]}
        operations[f"{key}.{message_key}"] = operation
    for name, frame in channel.server.items():
        message_key = server_key(name)
        messages[message_key] = {
            "name": name,
            "summary": frame.summary,
            "payload": to_json_schema(plugin, frame.payload),
        }
        if frame.only_a_reply:  # documented as the reply it is, in the operation it answers
            assert name in replies, f"{key}: {name} answers no client frame"
            continue
        operations[f"{key}.{message_key}"] = {
            "action": "send",
            "channel": ref,
            "summary": frame.summary,
            "messages": [message_ref(message_key)],
        }
    document: dict = {"address": channel.address, "title": channel.title, "description": channel.description}
    if channel.parameters:
        document["parameters"] = {name: {"description": text} for name, text in channel.parameters.items()}
    document["messages"] = messages
    document["bindings"] = {"ws": {"method": "GET", "query": TOKEN_QUERY, "bindingVersion": "0.1.0"}}
    document["x-frame-key"] = channel.frame_key
    return document, operations


def channels(plugin: MarshmallowPlugin) -> tuple[dict, dict]:
    """Every raw WebSocket channel (keyed by dialect name) and their operations."""
    documents: dict = {}
    operations: dict = {}
    for key, channel in CHANNELS.items():
        documents[key], ops = _channel(plugin, key, channel)
        operations.update(ops)
    return documents, operations
