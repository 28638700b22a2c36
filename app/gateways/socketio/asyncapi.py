"""The Socket.IO channels of the AsyncAPI 3.0 document, one per namespace of the one Socket.IO server, generated
from `contract.SOCKET` (the canonical protocol, channel `socket`) and `seed_contract.CHANNELS` (seeds 001 and 002,
channels `nestjs` and `bull`); the document itself is assembled in `app.gateways.asyncapi`.

Every channel's address is the Engine.IO path, `/socket.io/`; what tells them apart is the namespace, in the
channel's `x-socketio` with the rest of how a client connects: the transports, JSON schemas of the handshake's
query string (`query`) and of the CONNECT packet's `auth`, the `connect_error` a refusal gives (`connectError`:
`{message, data: {code, message}}`), the server events that tell a client event was refused (`refusals`; sent
even to an event that asked for an acknowledgement when `refusalWithAck`), the acknowledgement of an event the
namespace does not know (`unknownEventAck`), and which of an event's arguments is its payload (`arguments`:
`all`, the one argument, several read as an array; `first`, the first, the others ignored).

Messages are keyed by event name (`:` as `_`): a client event's payload, and its acknowledgement under
`<key>_ack`, whose payload is `oneOf: [success, refusal]`; a server event's payload. Operations: `receive` for a
client event (its `reply` the acknowledgement), `send` for a server event; keyed by the message key for the
canonical channel, `<channel>.<message key>` for the others.
"""

from __future__ import annotations

from collections.abc import Callable

from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields

from app.gateways.socketio.contract import SOCKET, OkData, Shape, SioChannel
from app.gateways.socketio.seed_contract import CHANNELS as SEED_CHANNELS
from app.schemas.jsonschema import to_json_schema
from app.schemas.payloads import ErrorSchema

CHANNEL = "socket"
ADDRESS = "/socket.io/"
TITLE = SOCKET.title
DESCRIPTION = SOCKET.description


def _key(event: str) -> str:
    return event.replace(":", "_")


def json_schema(plugin: MarshmallowPlugin, shape: Shape) -> dict:
    """A payload's shape as JSON Schema: a schema (nested ones referenced under `#/components/schemas/`), a field
    (a bare string, a list...), or the canonical `{ok: true, data}`."""
    if isinstance(shape, OkData):
        return {
            "type": "object",
            "properties": {"ok": {"const": True}, "data": to_json_schema(plugin, shape.data)},
            "required": ["ok", "data"],
        }
    if isinstance(shape, fields.Field):
        return plugin.converter.field2property(shape)
    return to_json_schema(plugin, shape)


def _connection(plugin: MarshmallowPlugin, sio: SioChannel) -> dict:
    """The channel's `x-socketio`: the namespace and how a client connects, is refused and is answered."""
    error = plugin.converter.resolve_nested_schema(ErrorSchema)  # `#/components/schemas/Error`
    return {
        "namespace": sio.namespace,
        "path": sio.path,
        "transports": list(sio.transports),
        "query": json_schema(plugin, sio.query),
        "auth": json_schema(plugin, sio.auth),
        "connectError": {
            "type": "object",
            "description": "What a refused client's `connect_error` holds: `err.message`, and `err.data`.",
            "properties": {"message": {"type": "string"}, "data": error},
            "required": ["message", "data"],
        },
        "refusals": list(sio.refusals),
        "refusalWithAck": sio.refusal_with_ack,
        "unknownEventAck": json_schema(plugin, sio.unknown_event_ack),
        "arguments": sio.arguments,
    }


def sio_channel(
    plugin: MarshmallowPlugin, key: str, sio: SioChannel, operation_key: Callable[[str], str]
) -> tuple[dict, dict]:
    """A Socket.IO channel and its operations (keyed `operation_key(message key)`)."""
    ref = {"$ref": f"#/channels/{key}"}
    messages: dict = {}
    operations: dict = {}

    def add(message_key: str, message: dict) -> None:
        assert message_key not in messages, f"{key}: two messages keyed {message_key}"
        messages[message_key] = message

    for name, event in sio.client.items():
        message_key = _key(name)
        payload = json_schema(plugin, event.payload)
        if event.optional_payload:
            payload = {"oneOf": [payload, {"type": "null", "description": "No payload at all is read as {}."}]}
        add(message_key, {"name": name, "summary": event.summary, "payload": payload})
        branches = [json_schema(plugin, event.ack), json_schema(plugin, event.ack_error)]
        add(message_key + "_ack", {"name": name + " (acknowledgement)", "payload": {"oneOf": branches}})
        operations[operation_key(message_key)] = {
            "action": "receive",
            "channel": ref,
            "summary": event.summary,
            "messages": [{"$ref": f"#/channels/{key}/messages/{message_key}"}],
            "reply": {"channel": ref, "messages": [{"$ref": f"#/channels/{key}/messages/{message_key}_ack"}]},
            "x-error-codes": [code.value for code in event.errors],
        }
    for name, event in sio.server.items():
        message_key = _key(name)
        add(message_key, {"name": name, "summary": event.summary, "payload": json_schema(plugin, event.payload)})
        operations[operation_key(message_key)] = {
            "action": "send",
            "channel": ref,
            "summary": event.summary,
            "messages": [{"$ref": f"#/channels/{key}/messages/{message_key}"}],
        }
    document = {
        "address": ADDRESS,
        "title": sio.title,
        "description": sio.description,
        "messages": messages,
        "x-socketio": _connection(plugin, sio),
    }
    return document, operations


def channel(plugin: MarshmallowPlugin) -> tuple[dict, dict]:
    """The canonical protocol's `socket` channel and its operations (keyed by event name, `:` as `_`)."""
    return sio_channel(plugin, CHANNEL, SOCKET, lambda message_key: message_key)


def channels(plugin: MarshmallowPlugin) -> tuple[dict, dict]:
    """Every Socket.IO channel (the canonical one first, then the seeds' keyed by dialect name) and their
    operations."""
    documents: dict = {}
    documents[CHANNEL], operations = channel(plugin)
    for key, sio in SEED_CHANNELS.items():
        documents[key], found = sio_channel(plugin, key, sio, lambda message_key, key=key: f"{key}.{message_key}")
        operations.update(found)
    return documents, operations
