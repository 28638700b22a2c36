"""The AsyncAPI contract as validators, and the check run on every client of the real-time tier."""

from __future__ import annotations

import re
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


class Contract:
    """The AsyncAPI document as validators: `errors(pointer, payload)` for any schema in it, and the Socket.IO
    channel's client events (payload + acknowledgement) and server events by name."""

    def __init__(self, document: dict) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(DOCUMENT_URI, resource)
        self._formats = jsonschema.FormatChecker()
        self._formats.checks("date-time", raises=ValueError)(_date_time)
        self.client_events: dict[str, tuple[str, str]] = {}  # name -> (payload pointer, ack pointer)
        self.server_events: dict[str, str] = {}  # name -> payload pointer
        for operation in document["operations"].values():
            if operation["channel"]["$ref"] != SOCKET_CHANNEL:
                continue
            [message_ref] = operation["messages"]
            pointer = message_ref["$ref"].removeprefix("#")
            name = self.at(pointer)["name"]
            if operation["action"] == "receive":
                [reply_ref] = operation["reply"]["messages"]
                self.client_events[name] = (pointer + "/payload", reply_ref["$ref"].removeprefix("#") + "/payload")
            else:
                assert operation["action"] == "send", operation
                self.server_events[name] = pointer + "/payload"
        # The failure branch is the same in every acknowledgement: it also describes unknown events' answers.
        any_ack = next(iter(self.client_events.values()))[1]
        self.ack_failure = any_ack + "/oneOf/1"

    def at(self, pointer: str) -> dict:
        """The node of the document at a JSON pointer."""
        node = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, pointer: str, payload: object) -> list[str]:
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=self._registry, format_checker=self._formats
        )
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(payload)
        ]

    def ack_errors(self, event: str, ack: object) -> list[str]:
        if event in self.client_events:
            return self.errors(self.client_events[event][1], ack)
        return self.errors(self.ack_failure, ack)

    def payload_errors(self, event: str, payload: object) -> list[str]:
        return self.errors(self.client_events[event][0], payload)

    def server_event_errors(self, event: str, payload: object) -> list[str]:
        if event not in self.server_events:
            return [f"the server sent {event!r}, which the document does not describe"]
        return self.errors(self.server_events[event], payload)

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
