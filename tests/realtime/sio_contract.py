"""The check run on every npm `socket.io-client` socket of the real-time tier (tests/sio.py's `SioSocket`): what
it met and did on its namespace, against that namespace's channel of the AsyncAPI document.

A socket's channel is the one whose `x-socketio` namespace is its URL's path (`/` for none), whatever the dialect:
the canonical protocol's `socket` on `/`, seed 001's `nestjs` on `/chat`, seed 002's `bull` on `/chat/`. Then:

- every event the socket received must be a server event of the channel, and its one argument must validate
  against that event's payload;
- every event it emitted: its acknowledgement, when it got one, must validate against the event's (an unknown
  event's: the channel's `unknownEventAck`); and when the server did not refuse the event, the event must be a
  client event of the channel and its payload (the argument(s) the channel reads: `arguments`) must validate.
  The server refused it when its acknowledgement is the refusal branch of the event's (`oneOf/1`), or, for an
  event that asked for none, when a refusal event (`refusals`) came after it. Each refusal event answers one
  emit: in emit order, the first one after it not taken yet; an emit refused through its acknowledgement takes
  one too where the channel sends both (`refusalWithAck`). (An event the document takes and the server refused
  without an acknowledgement leaves its refusal event to a later emit: there, the check is lenient.)
- a socket that connected did so with a documented handshake: its `auth` (and for a socket with a Manager of its
  own, the query string of its URL and `query` option, as text) validate against the channel's;
- each `connect_error` the server gave (not a transport's failure) must be `{message, data: Error}`.

Emits of a socket that never connected are left out: the client kept them in its buffer, unsent.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

from tests.realtime.contract import Contract, SioChannelEvents


def _short(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def namespace_of(url: str) -> str:
    """The namespace a socket.io-client socket opens for a URL: its path, kept as is (`/` for none)."""
    return urlsplit(url).path or "/"


def _text(value: object) -> str:
    """A query option's value as the client writes it in the URL (JavaScript's String(value))."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return value if isinstance(value, str) else json.dumps(value)


def _ack_value(args: list) -> object:
    """The acknowledgement's value: its one argument (several: all of them, as an array)."""
    return args[0] if len(args) == 1 else list(args)


def _handshake(contract: Contract, channel: SioChannelEvents, socket, label: str) -> list[str]:
    problems = []
    options = socket.options or {}
    if "auth" in options:
        problems += [
            f"{label} connected with an auth the document refuses: {e} in {_short(options['auth'])}"
            for e in contract.errors(channel.connection + "/auth", options["auth"])
        ]
    if socket.share is None:  # a shared Manager's query is the other socket's
        query = dict(parse_qsl(urlsplit(socket.url).query))
        given = options.get("query")
        if isinstance(given, dict):
            query.update({key: _text(value) for key, value in given.items()})
        problems += [
            f"{label} connected with a query the document refuses: {e} in {_short(query)}"
            for e in contract.errors(channel.connection + "/query", query)
        ]
    return problems


def sio_violations(contract: Contract, socket) -> list[str]:
    """What a SioSocket (tests/sio.py), or a socket that looks like one, met or did that breaks the document."""
    namespace = namespace_of(socket.url)
    label = f"{socket.name} ({namespace})"
    channel = contract.sio.get(namespace)
    if channel is None:
        if socket.events:
            return [f"{label} received events on a namespace that no channel of the AsyncAPI document has"]
        return []
    problems: list[str] = []
    for event in socket.events:
        if len(event.args) != 1:
            problems.append(f"{label} received {event.event} with {len(event.args)} arguments, not one")
            continue
        problems += [
            f"{label} received {event.event}: {e} in {_short(event.args[0])}"
            for e in contract.server_event_errors(event.event, event.args[0], channel)
        ]
    for error in socket.connect_errors:
        if "type" in error:  # the transport failed: no refusal of the server
            continue
        refusal = {key: value for key, value in error.items() if key in ("message", "data")}
        problems += [
            f"{label} got a connect_error the document does not describe: {e} in {_short(error)}"
            for e in contract.errors(channel.connection + "/connectError", refusal)
        ]
    if not socket.connects:
        return problems
    problems += _handshake(contract, channel, socket, label)

    refusals = [i for i, event in enumerate(socket.events) if event.event in channel.refusals]
    taken: set[int] = set()

    def take(after: int) -> bool:
        """Take the first refusal event at index `after` or later not taken yet; whether there was one."""
        found = next((i for i in refusals if i >= after and i not in taken), None)
        if found is not None:
            taken.add(found)
        return found is not None

    for emitted in socket.emitted:
        payload = channel.payload(emitted.args)
        if emitted.event in channel.client_events:
            refused_by_document = contract.payload_errors(emitted.event, payload, channel)
        else:
            refused_by_document = [f"{emitted.event!r}, which the channel does not take"]
        answer = socket.acknowledgement(emitted)
        if answer is not None:
            ack = _ack_value(answer)
            problems += [
                f"{label} ack of {emitted.event}: {e} in {_short(ack)}"
                for e in contract.ack_errors(emitted.event, ack, channel)
            ]
            refused = not contract.errors(channel.ack_refusal(emitted.event), ack)
            if refused and channel.refusal_with_ack:
                take(emitted.arrived)
        else:
            refused = bool(refused_by_document) and take(emitted.arrived)
        if refused_by_document and not refused:
            problems += [
                f"{label} sent {emitted.event} that the server did not refuse, but the document refuses it: {e} in "
                f"{_short(emitted.args)}"
                for e in refused_by_document
            ]
    return problems
