"""The AsyncAPI document's raw WebSocket channels as validators, and the check run on every npm `ws` client
of the real-time tier (tests/node.py's `NodeSocket`: its `url`, the `frames` it received, what it `sent`)
and on every npm `phoenix` client (tests/phoenix.py's `PhoenixSocket`, seen as such a socket).

A socket's channel is the one whose address matches its URL's path (addresses without parameters first,
as the router tries static paths first); a frame's message is the one of that channel, of its direction,
named as the frame is named: by its `x-frame-key` field (`event` or `type`) for JSON object frames; by its
event and the kind of its topic (the first of the channel's `x-topics` whose pattern the topic matches) for
Phoenix's `[join_ref, ref, topic, event, payload]` arrays. Then:

- every frame the socket received must validate against the payload of the server message of that name
  (a server message is one a `send` operation sends, or a reply). A Phoenix `phx_reply` to a frame the
  socket sent (the same ref and topic) must also have the `response` that frame's operation says
  (`x-phx-reply`: by status);
- every frame it sent that the document refuses (not JSON, not an object or not the V2 array, no documented
  name, a payload off the schema, binary) must have been refused by the server: answered by an error that
  came after it (each error answers one frame), or the connection closed with 1009 (a frame over
  MAX_FRAME_BYTES). The error is an `error` frame for the JSON object dialects; for Phoenix, a `phx_reply`
  with status `error`, the same ref and topic for a V2 array, else `phx_error`. Put the other way: every
  frame the server took without an error is documented.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import urlsplit

from tests.realtime.contract import Contract

TOO_BIG = 1009
PHOENIX_ERROR, PHOENIX_REPLY = "phx_error", "phx_reply"


def _short(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _v2(frame: object) -> bool:
    """Whether a frame is the Phoenix V2 array, as the dialect reads one (its topic and event strings)."""
    return isinstance(frame, list) and len(frame) == 5 and isinstance(frame[2], str) and isinstance(frame[3], str)


@dataclass
class ChannelFrames:
    """One raw WebSocket channel: where it is, how a frame is named, its messages' payload pointers by name
    (a string; for Phoenix, (topic kind, event)), and Phoenix's reply responses by client frame name."""

    key: str
    address: str
    frame_key: str | None  # None: Phoenix arrays, named by `topics`
    pattern: re.Pattern
    parameters: int
    topics: dict[str, re.Pattern] = field(default_factory=dict)  # Phoenix: topic kind -> the topics it takes
    client: dict[object, str] = field(default_factory=dict)  # name -> payload pointer
    server: dict[object, str] = field(default_factory=dict)
    responses: dict[object, dict[str, str]] = field(default_factory=dict)  # client name -> status -> pointer

    @property
    def phoenix(self) -> bool:
        return self.frame_key is None

    def name_of(self, frame: object) -> object | None:
        """The name of the message a frame would be, None if it has none."""
        if self.phoenix:
            if not _v2(frame):
                return None
            kind = next((kind for kind, pattern in self.topics.items() if pattern.search(frame[2])), None)
            return (kind, frame[3])
        name = frame.get(self.frame_key) if isinstance(frame, dict) else None
        return name if isinstance(name, str) else None

    def unnamed(self) -> str:
        """What a frame that has no name is not."""
        if self.phoenix:
            return "not a [join_ref, ref, topic, event, payload] array"
        return f"not an object with a string `{self.frame_key}`"

    def label(self, name: object) -> str:
        return f"{name[1]} on {name[0]}" if isinstance(name, tuple) else str(name)

    def is_error(self, frame: object) -> bool:
        if not self.phoenix:
            return isinstance(frame, dict) and frame.get(self.frame_key) == "error"
        if not _v2(frame):
            return False
        status = frame[4].get("status") if isinstance(frame[4], dict) else None
        return frame[3] == PHOENIX_ERROR or (frame[3] == PHOENIX_REPLY and status == "error")

    def answers(self, error: object, sent: object) -> bool:
        """Whether an error frame can be the answer to a frame sent: Phoenix answers a V2 array that has a ref
        with a reply of that ref and topic, anything else with phx_error."""
        if not self.phoenix:
            return True
        if _v2(sent) and sent[1] is not None:
            return error[3] == PHOENIX_REPLY and (error[1], error[2]) == (sent[1], sent[2])
        return error[3] == PHOENIX_ERROR


def _pattern(address: str) -> re.Pattern:
    parts = re.split(r"(\{[^}]+\})", address)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p) + r"\Z")


class FrameContract:
    """The raw WebSocket channels of the AsyncAPI document (those with an `x-frame-key`, or Phoenix's
    `x-topics`) as validators."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        document = contract.document
        found: dict[str, ChannelFrames] = {}
        for key, channel in document["channels"].items():
            if "x-frame-key" in channel or "x-topics" in channel:
                address = channel["address"]
                found[key] = ChannelFrames(
                    key,
                    address,
                    channel.get("x-frame-key"),
                    _pattern(address),
                    address.count("{"),
                    {kind: re.compile(topic["pattern"]) for kind, topic in channel.get("x-topics", {}).items()},
                )
        for operation_key, operation in document["operations"].items():
            key = operation["channel"]["$ref"].removeprefix("#/channels/")
            if key not in found:
                continue
            channel = found[key]
            if operation["action"] == "receive":
                [name] = self._add(channel, channel.client, operation["messages"])
                self._add(channel, channel.server, operation.get("reply", {}).get("messages", []))
                if "x-phx-reply" in operation:  # the schemas themselves: pointers to them
                    pointer = f"/operations/{operation_key}/x-phx-reply/"
                    channel.responses[name] = {status: pointer + status for status in operation["x-phx-reply"]}
            else:
                self._add(channel, channel.server, operation["messages"])
        self.channels = sorted(found.values(), key=lambda c: (c.parameters, -len(c.address)))

    def _add(self, channel: ChannelFrames, names: dict[object, str], refs: list[dict]) -> list[object]:
        """Name -> payload pointer; a name is one message (an `error` may be sent and be a reply too)."""
        added = []
        for ref in refs:
            pointer = ref["$ref"].removeprefix("#")
            payload = pointer + "/payload"
            message = self.contract.at(pointer)
            name = (message["x-topic"], message["name"]) if channel.phoenix else message["name"]
            assert names.setdefault(name, payload) == payload, f"two messages named {name}: {names[name]}, {payload}"
            added.append(name)
        return added

    def channel_of(self, url: str) -> ChannelFrames | None:
        path = urlsplit(url).path
        return next((channel for channel in self.channels if channel.pattern.match(path)), None)

    def server_frame_errors(self, channel: ChannelFrames, frame: object) -> list[str]:
        name = channel.name_of(frame)
        if name is None:
            return [f"a frame {channel.unnamed()}"]
        if name not in channel.server:
            return [f"{channel.label(name)!r}, which the channel does not send"]
        return self.contract.errors(channel.server[name], frame)

    def client_frame_errors(self, channel: ChannelFrames, kind: str, sent: object) -> list[str]:
        """Why the document refuses a frame a client sent (none: it is documented)."""
        if kind == "binary":
            return ["a binary frame"]
        if kind == "text":
            try:
                sent = json.loads(sent)
            except ValueError:
                return ["text that is not JSON"]
        name = channel.name_of(sent)
        if name is None:
            return [channel.unnamed()]
        if name not in channel.client:
            return [f"{channel.label(name)!r}, which the channel does not take"]
        return self.contract.errors(channel.client[name], sent)

    def reply_errors(self, channel: ChannelFrames, sent: object, reply: list) -> list[str]:
        """Phoenix: why a phx_reply is not the answer the document gives to the frame it answers."""
        name = channel.name_of(sent)
        responses = channel.responses.get(name)
        if responses is None or not isinstance(reply[4], dict):
            return []  # no answer documented (a frame the document refuses), or not a reply (already reported)
        status = reply[4].get("status")
        if status not in responses:
            return [f"a {channel.label(name)} is never answered {status!r}"]
        return self.contract.errors(responses[status], reply[4].get("response"))

    def violations(self, socket) -> list[str]:
        """What a NodeSocket (tests/node.py), or a socket that looks like one, met or did that breaks the document."""
        label = f"{socket.name} ({urlsplit(socket.url).path})"
        channel = self.channel_of(socket.url)
        if channel is None:
            if socket.frames or socket.texts or socket.binaries:
                return [f"{label} received frames on a path that no channel of the AsyncAPI document has"]
            return []
        label = f"{socket.name} ({channel.key} {urlsplit(socket.url).path})"
        problems = [f"{label} received a text frame that is not JSON: {_short(text)}" for text in socket.texts]
        problems += [f"{label} received a binary frame: {_short(data)}" for data in socket.binaries]
        for frame in socket.frames:
            name = channel.name_of(frame)
            problems += [
                f"{label} received {'a frame' if name is None else channel.label(name)}: {e} in {_short(frame)}"
                for e in self.server_frame_errors(channel, frame)
            ]
        if channel.phoenix:
            problems += self._reply_violations(label, channel, socket)
        errors = [i for i, frame in enumerate(socket.frames) if channel.is_error(frame)]
        for arrived, kind, sent in socket.sent:
            refused = self.client_frame_errors(channel, kind, sent)
            if not refused:
                continue
            answer = next((i for i in errors if i >= arrived and channel.answers(socket.frames[i], sent)), None)
            if answer is not None:
                errors.remove(answer)  # this error answers that frame
            elif socket.close_code != TOO_BIG:
                problems.append(
                    f"{label} sent a frame that the document refuses ({'; '.join(refused)}) and the server took "
                    f"it without an error: {_short(sent)}"
                )
        return problems

    def _reply_violations(self, label: str, channel: ChannelFrames, socket) -> list[str]:
        """Each phx_reply answering a frame the socket sent (the last one before it with its ref and topic)."""
        problems = []
        for index, frame in enumerate(socket.frames):
            if not (_v2(frame) and frame[3] == PHOENIX_REPLY and frame[1] is not None):
                continue
            request = None
            for arrived, kind, sent in socket.sent:
                if arrived <= index and kind == "json" and _v2(sent) and (sent[1], sent[2]) == (frame[1], frame[2]):
                    request = sent
            if request is not None:
                problems += [
                    f"{label} got a phx_reply to {_short(request)}: {e} in {_short(frame)}"
                    for e in self.reply_errors(channel, request, frame)
                ]
        return problems


def phoenix_socket(socket) -> SimpleNamespace:
    """A tests/phoenix.py PhoenixSocket as the NodeSocket `violations` reads: its URL (the client adds
    /websocket to its endpoint), the frames it received as the wire's arrays, the frames the client wrote.
    A close with 1009 on any of its connections excuses the refused frames that were not answered."""
    return SimpleNamespace(
        name=socket.name,
        url=socket.endpoint + "/websocket",
        frames=[list(frame) for frame in socket.frames],
        texts=[],
        binaries=[],
        sent=list(socket.sent),
        close_code=TOO_BIG if any(close.code == TOO_BIG for close in socket.closes) else None,
    )
