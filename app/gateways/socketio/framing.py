"""Socket.IO framing the gateway reads before python-socketio does: what an undecodable packet was, and whether a
binary packet's framing can be followed.

No dialect uses binary attachments, so the gateway never holds one: a binary packet is checked here, and
its announced attachments are dropped as they arrive (engine.py). What makes a binary packet's framing
impossible to follow (no attachment count, more than MAX_ATTACHMENTS, a placeholder that names no attachment,
a header that cannot be read) is a `FramingError`: the connection is closed, since the frames that follow
cannot be told apart from the attachments.
"""

from __future__ import annotations

import re

import orjson
from socketio import packet as sio_packet

MAX_ATTACHMENTS = 10  # the most binary attachments one packet may announce
BINARY_TYPES = (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK)
_EVENT_NAME = re.compile(r'\s*\[\s*("(?:[^"\\]|\\.)*")')


class FramingError(ValueError):
    """A binary packet whose framing the stream cannot recover from (`namespace`: the one it named, if read)."""

    def __init__(self, message: str, namespace: str | None = None) -> None:
        super().__init__(message)
        self.namespace = namespace


class Unread(str):
    """A packet's data as sent, not decoded."""


class _UnreadJSON:
    """The json module interface, reading nothing: the data is kept as it was sent."""

    @staticmethod
    def loads(text, **_kwargs) -> Unread:
        return Unread(text)

    @staticmethod
    def dumps(obj, **_kwargs) -> str:  # pragma: no cover - headers are never encoded
        raise TypeError("a packet header is read, never written")


class _Header(sio_packet.Packet):
    json = _UnreadJSON


def header(text: str) -> sio_packet.Packet | None:
    """The packet's type, namespace, id and attachment count, read by python-socketio's own parser with its data
    left as sent (`data`: an `Unread`, or None): None when even the header cannot be read."""
    try:
        return _Header(encoded_packet=text)
    except ValueError:
        return None


def event_name(data: object) -> str | None:
    """The name an event's undecodable data starts with (`["name", ...`), None when it cannot be read."""
    if not isinstance(data, str):
        return None
    match = _EVENT_NAME.match(data)
    if match is None:
        return None
    try:
        name = orjson.loads(match.group(1))
    except ValueError:  # a lone surrogate, a bad escape
        return None
    return name if isinstance(name, str) else None


def is_binary(text: str) -> bool:
    """Whether a text packet claims to be a binary one (BINARY_EVENT or BINARY_ACK), readable or not."""
    return text[:1] in ("5", "6")


def check_binary(pkt: sio_packet.Packet) -> None:
    """Raise `FramingError` when a decoded binary packet's attachments cannot be followed: none announced, more
    than MAX_ATTACHMENTS, or a placeholder whose `num` is not an attachment of the packet."""
    count = pkt.attachment_count
    if count == 0:
        raise FramingError("a binary packet must announce its attachment count (`5<count>-`)")
    if count > MAX_ATTACHMENTS:
        raise FramingError(f"a packet may announce at most {MAX_ATTACHMENTS} binary attachments, not {count}")
    stack = [pkt.data]
    while stack:  # iterative: decoded data may nest deeper than Python recurses
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if item.get("_placeholder"):
                num = item.get("num")
                if isinstance(num, bool) or not isinstance(num, int) or not 0 <= num < count:
                    raise FramingError(
                        f"a binary attachment placeholder's num must be an integer below the attachment count "
                        f"({count}), not {orjson.dumps(num).decode()[:20]}"
                    )
            else:
                stack.extend(item.values())
