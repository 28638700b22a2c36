"""The AsyncAPI 3.0 document of every real-time dialect: one channel per socket (per namespace for
Socket.IO), generated from the dialects' contracts (`socketio.contract` for the canonical Socket.IO
protocol, `socketio.seed_contract` for the Socket.IO namespaces of seeds 001 and 002, `websocket.contract`
for the raw JSON WebSocket dialects of seeds 003 and 004, `websocket.phoenix_contract` for seed 000's
Phoenix Channels). Served at /api/v1/asyncapi.json and /api/asyncapi.json, rendered for people at
/api/docs/events; tests validate real frames against it."""

from __future__ import annotations

from app.chat.errors import DESCRIPTIONS
from app.gateways.socketio import asyncapi as socketio_asyncapi
from app.gateways.websocket import asyncapi as websocket_asyncapi
from app.schemas.jsonschema import new_spec

TITLE = "Chat backend: real-time dialects"

INTRODUCTION = """\
Every real-time dialect of this service, one channel per socket, all on one port and over one chat core: a
message sent in any dialect reaches the room's members in every other, with the same room, id and seq.
The Socket.IO dialects are namespaces of one Socket.IO server: their channels share the address
`/socket.io/`, and each one's `x-socketio` gives its namespace and how a client connects to it.
Tokens are the same JWTs everywhere. Each channel's description says how to connect, how a connection is
refused and how errors look. An operation with action `receive` is a frame (an event) a client sends,
`send` one the server sends; a `reply` is what answers the frame.

Channels:
"""

ERROR_CODES = "Error codes (the `code` of every error, in every dialect):\n" + "\n".join(
    f"- `{code.value}`: {text}" for code, text in DESCRIPTIONS.items()
)


def build_asyncapi(version: str) -> dict:
    spec, plugin = new_spec(TITLE, version, INTRODUCTION)
    channels, operations = socketio_asyncapi.channels(plugin)
    raw, raw_operations = websocket_asyncapi.channels(plugin)
    channels.update(raw)
    operations.update(raw_operations)
    listing = "\n".join(f"- `{key}` (`{c['address']}`): {c['title']}" for key, c in channels.items())
    description = f"{INTRODUCTION}{listing}\n\n{ERROR_CODES}"
    # Nested schemas were registered as components while converting; `#/components/schemas/X` holds in both.
    components = spec.to_dict().get("components", {}).get("schemas", {})
    return {
        "asyncapi": "3.0.0",
        "info": {"title": TITLE, "version": version, "description": description},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components},
    }
