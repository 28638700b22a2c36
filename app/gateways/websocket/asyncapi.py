"""The raw WebSocket dialects' channels of the AsyncAPI 3.0 document, generated from `contract` (the JSON
object dialects of seeds 003 and 004) and `phoenix_contract` (seed 000's Phoenix Channels); the document
itself is assembled in `app.gateways.asyncapi`.

Per channel (keyed by dialect name): its address and parameters, the query of its WebSocket binding, and its
messages, keyed `client_<name>` (frames a client sends) and `server_<name>` (frames the server sends), so a
name used both ways (004's `typing`) stays two messages. `x-frame-key` says which field names a frame.
Operations are keyed `<channel>.<message key>`: `receive` for client frames (with a `reply` where server
frames answer one), `send` for every server frame that is not only a reply.

The Phoenix channel's frames are arrays, named by their event and the kind of their topic: its messages are
keyed `client_<topic kind>_<event>` and `server_<topic kind>_<event>`, each message's payload is the whole
frame (`prefixItems`: join_ref, ref, the topic's `pattern`, the event as a `const`, the payload), its `name`
is the event and its `x-topic` the topic kind; the channel's `x-topics` gives each kind's topic and pattern
(instead of an `x-frame-key`). A client frame's operation gives in `x-phx-reply` the schemas of the
`response` of the `phx_reply` it gets, by status (`ok`, `error`).
"""

from __future__ import annotations

from collections.abc import Callable

from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from app.gateways.websocket.contract import CHANNELS, Channel, Frame
from app.gateways.websocket.phoenix_contract import KEY as PHOENIX_KEY
from app.gateways.websocket.phoenix_contract import PHOENIX, REFS, PhoenixChannel, PhoenixFrame, Topic
from app.realtime.operations import OPERATIONS
from app.schemas.jsonschema import to_json_schema

TOKEN_QUERY = {
    "type": "object",
    "properties": {"token": {"type": "string", "description": "The JWT (the same as the canonical protocol's)."}},
    "required": ["token"],
}

# (direction "client" | "server", name, frame) -> the message's fields, its name and summary included
MessageOf = Callable[[str, str, Frame], dict]


def client_key(name: str) -> str:
    return f"client_{name}"


def server_key(name: str) -> str:
    return f"server_{name}"


def _error_codes(frame: Frame) -> list[str]:
    codes = [*OPERATIONS[frame.operation].errors, *frame.errors] if frame.operation else list(frame.errors)
    return [code.value for code in dict.fromkeys(codes)]


def _frames(
    key: str,
    client: dict[str, Frame],
    server: dict[str, Frame],
    message: MessageOf,
    prefix: str = "",
    operation_of: Callable[[Frame], dict] | None = None,
) -> tuple[dict, dict]:
    """The messages and operations of a channel's frames (or of one Phoenix topic kind's: message keys then
    start with `prefix`), client and server, each keyed by name. `operation_of(frame)` adds to a client
    frame's operation."""
    ref = {"$ref": f"#/channels/{key}"}

    def message_ref(message_key: str) -> dict:
        return {"$ref": f"#/channels/{key}/messages/{message_key}"}

    messages: dict = {}
    operations: dict = {}
    replies = {reply for frame in client.values() for reply in frame.replies}
    assert replies <= set(server), f"{key} {prefix}: a reply that is not a server frame"
    for name, frame in client.items():
        message_key = client_key(prefix + name)
        messages[message_key] = message("client", name, frame)
        operation: dict = {
            "action": "receive",
            "channel": ref,
            "summary": frame.summary,
            "messages": [message_ref(message_key)],
            "x-error-codes": _error_codes(frame),
        }
        if frame.replies:
            operation["reply"] = {
                "channel": ref,
                "messages": [message_ref(server_key(prefix + reply)) for reply in frame.replies],
            }
        if operation_of is not None:
            operation.update(operation_of(frame))
        operations[f"{key}.{message_key}"] = operation
    for name, frame in server.items():
        message_key = server_key(prefix + name)
        messages[message_key] = message("server", name, frame)
        if frame.only_a_reply:  # documented as the reply it is, in the operation it answers
            assert name in replies, f"{key} {prefix}: {name} answers no client frame"
            continue
        operations[f"{key}.{message_key}"] = {
            "action": "send",
            "channel": ref,
            "summary": frame.summary,
            "messages": [message_ref(message_key)],
        }
    return messages, operations


def _channel(plugin: MarshmallowPlugin, key: str, channel: Channel) -> tuple[dict, dict]:
    def message(_direction: str, name: str, frame: Frame) -> dict:
        return {"name": name, "summary": frame.summary, "payload": to_json_schema(plugin, frame.payload)}

    messages, operations = _frames(key, channel.client, channel.server, message)
    document: dict = {"address": channel.address, "title": channel.title, "description": channel.description}
    if channel.parameters:
        document["parameters"] = {name: {"description": text} for name, text in channel.parameters.items()}
    document["messages"] = messages
    document["bindings"] = {"ws": {"method": "GET", "query": TOKEN_QUERY, "bindingVersion": "0.1.0"}}
    document["x-frame-key"] = channel.frame_key
    return document, operations


# -- Phoenix Channels: array frames, by topic kind -------------------------------------------------------------


def _ref(plugin: MarshmallowPlugin, schema: type[Schema]) -> dict:
    """A reference to the schema, registered under `#/components/schemas/` if it is not yet."""
    return plugin.converter.resolve_nested_schema(schema)


def _one_of(plugin: MarshmallowPlugin, schemas: list[type[Schema]]) -> dict:
    refs = [_ref(plugin, schema) for schema in schemas]
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


def _responses(frame: PhoenixFrame, status: str) -> list[type[Schema]]:
    """The schemas of the `response` of a `phx_reply` with that status to the frame (none: never answered so)."""
    found = getattr(frame, status)
    return [] if found is None else list(found) if isinstance(found, tuple) else [found]


def _reply_payload(plugin: MarshmallowPlugin, topic: Topic) -> dict:
    """`phx_reply`'s payload on a topic kind: `{status, response}`, the responses being those its client
    frames get."""
    branches = []
    for status in ("ok", "error"):
        responses = list(dict.fromkeys(s for frame in topic.client.values() for s in _responses(frame, status)))
        if responses:
            branches.append(
                {
                    "type": "object",
                    "properties": {"status": {"const": status}, "response": _one_of(plugin, responses)},
                    "required": ["status", "response"],
                    "additionalProperties": False,
                }
            )
    return branches[0] if len(branches) == 1 else {"oneOf": branches}


def _payload(plugin: MarshmallowPlugin, topic: Topic, frame: PhoenixFrame) -> dict:
    if frame.payload is None:
        return _reply_payload(plugin, topic)
    if isinstance(frame.payload, tuple):
        return _one_of(plugin, list(frame.payload))
    return to_json_schema(plugin, frame.payload)


def _array(topic: Topic, event: str, join_ref: str, ref: str, payload: dict) -> dict:
    """The whole frame: `[join_ref, ref, topic, event, payload]`."""
    return {
        "type": "array",
        "description": f"`[join_ref, ref, topic, event, payload]` on `{topic.topic}`.",
        "prefixItems": [
            {"title": "join_ref", **REFS[join_ref]},
            {"title": "ref", **REFS[ref]},
            {"title": "topic", "type": "string", "pattern": topic.pattern, "description": f"`{topic.topic}`"},
            {"title": "event", "const": event},
            payload,
        ],
        "minItems": 5,
        "items": False,
    }


def phoenix_channel(plugin: MarshmallowPlugin, key: str = PHOENIX_KEY, channel: PhoenixChannel = PHOENIX):
    """The Phoenix channel and its operations."""
    messages: dict = {}
    operations: dict = {}
    for kind, topic in channel.topics.items():

        def message(direction: str, name: str, frame: PhoenixFrame, kind: str = kind, topic: Topic = topic) -> dict:
            join_ref, ref = ("client", "client") if direction == "client" else (frame.join_ref, frame.ref)
            return {
                "name": name,
                "title": f"{name} on {topic.topic}",
                "summary": frame.summary,
                "payload": _array(topic, name, join_ref, ref, _payload(plugin, topic, frame)),
                "x-topic": kind,
            }

        def reply_of(frame: PhoenixFrame) -> dict:
            found = {status: _responses(frame, status) for status in ("ok", "error")}
            return {"x-phx-reply": {status: _one_of(plugin, schemas) for status, schemas in found.items() if schemas}}

        found, ops = _frames(key, topic.client, topic.server, message, f"{kind}_", reply_of)
        messages.update(found)
        operations.update(ops)
    document = {
        "address": channel.address,
        "title": channel.title,
        "description": channel.description,
        "messages": messages,
        "bindings": {"ws": {"method": "GET", "query": channel.query, "bindingVersion": "0.1.0"}},
        "x-topics": {
            kind: {"topic": topic.topic, "pattern": topic.pattern, "description": topic.description}
            for kind, topic in channel.topics.items()
        },
    }
    return document, operations


def channels(plugin: MarshmallowPlugin) -> tuple[dict, dict]:
    """Every raw WebSocket channel (keyed by dialect name: Phoenix's first, as it is routed) and their operations."""
    documents: dict = {}
    documents[PHOENIX_KEY], operations = phoenix_channel(plugin)
    for key, channel in CHANNELS.items():
        documents[key], ops = _channel(plugin, key, channel)
        operations.update(ops)
    return documents, operations
