"""The AsyncAPI contract as validators, and the check run on every python-socketio client of the real-time tier
(npm socket.io-client sockets: sio_contract.py; raw WebSockets: ws_contract.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:chat:asyncapi"
SOCKET_CHANNEL = "#/channels/socket"  # the canonical Socket.IO protocol; the raw WebSockets: ws_contract.py
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _date_time(value: object) -> bool:
    """The one time format on the wire: ISO 8601 in UTC with milliseconds and a `Z`."""
    if not isinstance(value, str):
        return True
    if not _TIME.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@dataclass
class SioChannelEvents:
    """One Socket.IO channel of the document (a namespace): its client events by name (payload pointer, ack
    pointer), its server events by name (payload pointer), and the pointers and facts of its `x-socketio`."""

    key: str
    namespace: str
    client_events: dict[str, tuple[str, str]] = field(default_factory=dict)
    server_events: dict[str, str] = field(default_factory=dict)
    refusals: frozenset[str] = frozenset()  # the server events that tell that a client event was refused
    refusal_with_ack: bool = False  # sent even when the event asked for an acknowledgement
    arguments: str = "all"  # "all": the one argument is the payload (several: an array); "first": the first

    @property
    def connection(self) -> str:
        return f"/channels/{self.key}/x-socketio"

    @property
    def ack_failure(self) -> str:
        """The acknowledgement of an event the namespace does not know."""
        return self.connection + "/unknownEventAck"

    def ack_refusal(self, event: str) -> str:
        """The refusal branch of an event's acknowledgement (`oneOf: [success, refusal]`)."""
        return self.client_events[event][1] + "/oneOf/1" if event in self.client_events else self.ack_failure

    def payload(self, args: list) -> object:
        """What the server reads as an event's payload, from its arguments."""
        if self.arguments == "first":
            return args[0] if args else None
        return args[0] if len(args) == 1 else (list(args) or None)


class Contract:
    """The AsyncAPI document as validators: `errors(pointer, payload)` for any schema in it, and the Socket.IO
    channels' client events (payload + acknowledgement) and server events by name: `sio`, by namespace; the
    canonical channel's (namespace `/`) also as `client_events`, `server_events` and `ack_failure`."""

    def __init__(self, document: dict) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(DOCUMENT_URI, resource)
        self._formats = jsonschema.FormatChecker()
        self._formats.checks("date-time", raises=ValueError)(_date_time)
        channels: dict[str, SioChannelEvents] = {}
        for key, channel in document["channels"].items():
            connection = channel.get("x-socketio")
            if connection is not None:
                channels[key] = SioChannelEvents(
                    key,
                    connection["namespace"],
                    refusals=frozenset(connection["refusals"]),
                    refusal_with_ack=connection["refusalWithAck"],
                    arguments=connection["arguments"],
                )
        for operation in document["operations"].values():
            channel = channels.get(operation["channel"]["$ref"].removeprefix("#/channels/"))
            if channel is None:
                continue
            [message_ref] = operation["messages"]
            pointer = message_ref["$ref"].removeprefix("#")
            name = self.at(pointer)["name"]
            if operation["action"] == "receive":
                [reply_ref] = operation["reply"]["messages"]
                channel.client_events[name] = (pointer + "/payload", reply_ref["$ref"].removeprefix("#") + "/payload")
            else:
                assert operation["action"] == "send", operation
                channel.server_events[name] = pointer + "/payload"
        self.sio: dict[str, SioChannelEvents] = {channel.namespace: channel for channel in channels.values()}
        assert len(self.sio) == len(channels), "two Socket.IO channels of one namespace"
        self.socket = channels[SOCKET_CHANNEL.removeprefix("#/channels/")]
        self.client_events = self.socket.client_events  # name -> (payload pointer, ack pointer)
        self.server_events = self.socket.server_events  # name -> payload pointer
        self.ack_failure = self.socket.ack_failure  # what an unknown event is answered (the refusal of any event)
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def at(self, pointer: str) -> dict:
        """The node of the document at a JSON pointer."""
        node = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, pointer: str, payload: object) -> list[str]:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = self._validators[pointer] = jsonschema.Draft202012Validator(
                {"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=self._registry, format_checker=self._formats
            )
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(payload)
        ]

    def ack_errors(self, event: str, ack: object, channel: SioChannelEvents | None = None) -> list[str]:
        channel = channel or self.socket
        if event in channel.client_events:
            return self.errors(channel.client_events[event][1], ack)
        return self.errors(channel.ack_failure, ack)

    def payload_errors(self, event: str, payload: object, channel: SioChannelEvents | None = None) -> list[str]:
        return self.errors((channel or self.socket).client_events[event][0], payload)

    def server_event_errors(self, event: str, payload: object, channel: SioChannelEvents | None = None) -> list[str]:
        channel = channel or self.socket
        if event not in channel.server_events:
            return [f"the server sent {event!r}, which the document does not describe"]
        return self.errors(channel.server_events[event], payload)

    def error_object_errors(self, payload: object) -> list[str]:
        return self.errors("/components/schemas/Error", payload)


def contract_violations(contract: Contract, client) -> list[str]:
    """What a recording client (see conftest.Client) met that breaks the contract."""
    problems = []
    for name, data in client.received:
        problems += [
            f"{client.label} received {name}: {e} in {data!r}" for e in contract.server_event_errors(name, data)
        ]
    for event, sent, answer in client.acks:
        problems += [f"{client.label} ack of {event}: {e} in {answer!r}" for e in contract.ack_errors(event, answer)]
        accepted = isinstance(answer, dict) and answer.get("ok") is True
        if accepted and event in contract.client_events:
            problems += [
                f"{client.label} sent {event} that the server accepted, but the document refuses it: {e} in {sent!r}"
                for e in contract.payload_errors(event, sent)
            ]
    for data in client.connect_errors:
        inner = data.get("data") if isinstance(data, dict) else None
        problems += [f"{client.label} connect_error: {e} in {data!r}" for e in contract.error_object_errors(inner)]
    return problems
