"""The AsyncAPI document's raw WebSocket channels as validators, and the check run on every npm `ws` client
of the real-time tier (tests/node.py's `NodeSocket`: its `url`, the `frames` it received, what it `sent`).

A socket's channel is the one whose address matches its URL's path (addresses without parameters first,
as the router tries static paths first); a frame's message is the one of that channel, of its direction,
whose name is the frame's `x-frame-key` field (`event` or `type`). Then:

- every frame the socket received must be a JSON object that validates against the payload of the
  server message of that name (a server message is one a `send` operation sends, or a reply);
- every frame it sent that the document refuses (not JSON, not an object, no documented name, a payload
  off the schema, binary) must have been refused by the server: answered by an `error` frame that came
  after it (each error answers one frame), or the connection closed with 1009 (a frame over
  MAX_FRAME_BYTES). Put the other way: every frame the server took without an error is documented.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.realtime.contract import Contract

TOO_BIG = 1009


def _short(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass
class ChannelFrames:
    """One raw WebSocket channel: where it is, the field naming a frame, its messages' payload pointers by name."""

    key: str
    address: str
    frame_key: str
    pattern: re.Pattern
    parameters: int
    client: dict[str, str] = field(default_factory=dict)  # name -> payload pointer
    server: dict[str, str] = field(default_factory=dict)


def _pattern(address: str) -> re.Pattern:
    parts = re.split(r"(\{[^}]+\})", address)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p) + r"\Z")


class FrameContract:
    """The raw WebSocket channels of the AsyncAPI document (those with an `x-frame-key`) as validators."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        document = contract.document
        found: dict[str, ChannelFrames] = {}
        for key, channel in document["channels"].items():
            if "x-frame-key" in channel:
                address = channel["address"]
                found[key] = ChannelFrames(key, address, channel["x-frame-key"], _pattern(address), address.count("{"))
        for operation in document["operations"].values():
            key = operation["channel"]["$ref"].removeprefix("#/channels/")
            if key not in found:
                continue
            channel = found[key]
            if operation["action"] == "receive":
                self._add(channel.client, operation["messages"])
                self._add(channel.server, operation.get("reply", {}).get("messages", []))
            else:
                self._add(channel.server, operation["messages"])
        self.channels = sorted(found.values(), key=lambda c: (c.parameters, -len(c.address)))

    def _add(self, names: dict[str, str], refs: list[dict]) -> None:
        """Name -> payload pointer; a name is one message (an `error` may be sent and be a reply too)."""
        for ref in refs:
            pointer = ref["$ref"].removeprefix("#")
            payload = pointer + "/payload"
            name = self.contract.at(pointer)["name"]
            assert names.setdefault(name, payload) == payload, f"two messages named {name}: {names[name]}, {payload}"

    def channel_of(self, url: str) -> ChannelFrames | None:
        path = urlsplit(url).path
        return next((channel for channel in self.channels if channel.pattern.match(path)), None)

    def server_frame_errors(self, channel: ChannelFrames, frame: object) -> list[str]:
        name = frame.get(channel.frame_key) if isinstance(frame, dict) else None
        if not isinstance(name, str):
            return [f"a frame without a string `{channel.frame_key}`"]
        if name not in channel.server:
            return [f"{name!r}, which the channel does not send"]
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
        name = sent.get(channel.frame_key) if isinstance(sent, dict) else None
        if not isinstance(name, str):
            return [f"not an object with a string `{channel.frame_key}`"]
        if name not in channel.client:
            return [f"{name!r}, which the channel does not take"]
        return self.contract.errors(channel.client[name], sent)

    def violations(self, socket) -> list[str]:
        """What a NodeSocket (tests/node.py) met or did that breaks the document."""
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
            name = frame.get(channel.frame_key) if isinstance(frame, dict) else None
            problems += [
                f"{label} received {name if isinstance(name, str) else 'a frame'}: {e} in {_short(frame)}"
                for e in self.server_frame_errors(channel, frame)
            ]
        errors = [
            i
            for i, frame in enumerate(socket.frames)
            if isinstance(frame, dict) and frame.get(channel.frame_key) == "error"
        ]
        for arrived, kind, sent in socket.sent:
            refused = self.client_frame_errors(channel, kind, sent)
            if not refused:
                continue
            answer = next((i for i in errors if i >= arrived), None)
            if answer is not None:
                errors.remove(answer)  # this error answers that frame
            elif socket.close_code != TOO_BIG:
                problems.append(
                    f"{label} sent a frame that the document refuses ({'; '.join(refused)}) and the server took "
                    f"it without an error: {_short(sent)}"
                )
        return problems
