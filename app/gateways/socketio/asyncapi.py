"""The AsyncAPI 3.0 document of the Socket.IO protocol, generated from `contract`."""

from __future__ import annotations

from app.chat.errors import DESCRIPTIONS
from app.gateways.socketio.contract import CLIENT_EVENTS, SERVER_EVENTS, AckErrorSchema
from app.schemas.jsonschema import new_spec, to_json_schema

DESCRIPTION = """\
Socket.IO (Engine.IO v4) on namespace `/`, path `/socket.io/`. Connect with `auth: {token: "<JWT>"}`
(a `Bearer ` prefix is accepted; `?token=` in the URL too). A refused connection gets `connect_error`
with `data: {code, message}`.

Every client event takes an acknowledgement callback, answered `{ok: true, data}` or
`{ok: false, error: {code, message, details}}`. Without a callback a failure arrives as an `error` event.

Error codes:
""" + "\n".join(f"- `{code.value}`: {text}" for code, text in DESCRIPTIONS.items())


def _key(event: str) -> str:
    return event.replace(":", "_")


def build_asyncapi(version: str) -> dict:
    spec, plugin = new_spec("Chat backend: Socket.IO protocol", version, DESCRIPTION)
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
            "channel": {"$ref": "#/channels/socket"},
            "summary": event.summary,
            "messages": [{"$ref": f"#/channels/socket/messages/{key}"}],
            "reply": {
                "channel": {"$ref": "#/channels/socket"},
                "messages": [{"$ref": f"#/channels/socket/messages/{key}_ack"}],
            },
            "x-error-codes": [code.value for code in event.errors],
        }
    for name, event in SERVER_EVENTS.items():
        key = _key(name)
        messages[key] = {"name": name, "summary": event.summary, "payload": to_json_schema(plugin, event.payload)}
        operations[key] = {
            "action": "send",
            "channel": {"$ref": "#/channels/socket"},
            "summary": event.summary,
            "messages": [{"$ref": f"#/channels/socket/messages/{key}"}],
        }
    # Nested schemas were registered as components while converting; `#/components/schemas/X` holds in both.
    components = spec.to_dict().get("components", {}).get("schemas", {})
    document = {
        "asyncapi": "3.0.0",
        "info": {"title": "Chat backend: Socket.IO protocol", "version": version, "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "channels": {"socket": {"address": "/socket.io/", "messages": messages}},
        "operations": operations,
        "components": {"schemas": components},
    }
    return document
