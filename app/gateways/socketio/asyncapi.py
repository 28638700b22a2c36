"""The Socket.IO protocol's channel of the AsyncAPI 3.0 document, generated from `contract`
(the document itself is assembled in `app.gateways.asyncapi`)."""

from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin

from app.gateways.socketio.contract import CLIENT_EVENTS, SERVER_EVENTS, AckErrorSchema
from app.schemas.jsonschema import to_json_schema

CHANNEL = "socket"
ADDRESS = "/socket.io/"
TITLE = "Socket.IO: the canonical protocol"

DESCRIPTION = """\
Socket.IO (Engine.IO v4) on namespace `/`, path `/socket.io/`. Connect with `auth: {token: "<JWT>"}`
(a `Bearer ` prefix is accepted; `?token=` in the URL too). A refused connection gets `connect_error`
with `data: {code, message}`.

Every client event takes an acknowledgement callback, answered `{ok: true, data}` or
`{ok: false, error: {code, message, details}}`. Without a callback a failure arrives as an `error` event."""


def _key(event: str) -> str:
    return event.replace(":", "_")


def channel(plugin: MarshmallowPlugin) -> tuple[dict, dict]:
    """The `socket` channel and its operations (keyed by event name, `:` as `_`)."""
    ref = {"$ref": f"#/channels/{CHANNEL}"}
    messages: dict = {}
    operations: dict = {}
    for name, event in CLIENT_EVENTS.items():
        key = _key(name)
        payload = to_json_schema(plugin, event.payload)
        if event.optional_payload:
            payload = {"oneOf": [payload, {"type": "null", "description": "No payload at all is read as {}."}]}
        messages[key] = {"name": name, "summary": event.summary, "payload": payload}
        messages[key + "_ack"] = {
            "name": name + " (acknowledgement)",
            "payload": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"ok": {"const": True}, "data": to_json_schema(plugin, event.ack)},
                        "required": ["ok", "data"],
                    },
                    to_json_schema(plugin, AckErrorSchema),
                ]
            },
        }
        operations[key] = {
            "action": "receive",
            "channel": ref,
            "summary": event.summary,
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{key}"}],
            "reply": {"channel": ref, "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{key}_ack"}]},
            "x-error-codes": [code.value for code in event.errors],
        }
    for name, event in SERVER_EVENTS.items():
        key = _key(name)
        messages[key] = {"name": name, "summary": event.summary, "payload": to_json_schema(plugin, event.payload)}
        operations[key] = {
            "action": "send",
            "channel": ref,
            "summary": event.summary,
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{key}"}],
        }
    socket = {"address": ADDRESS, "title": TITLE, "description": DESCRIPTION, "messages": messages}
    return socket, operations
