"""Local delivery: from a topic's event to the connections of this node that follow the topic.

`LocalDelivery` is the one seam between fan-out and Socket.IO: the first
implementation uses python-socketio's rooms; a faster one (frame encoded
once, written straight to each WebSocket, no task per recipient) can
replace it without touching anything else.

`Fences` make a join's catch-up and the live stream meet without a gap
or a duplicate: while a connection joins a room, live messages to it are
held back; once the join has read the room's current seq S, messages up
to S travel in the join's acknowledgement and live ones after S are
delivered. The bus delivers a room's messages in seq order, so a fence
is dropped at the first message past it.
"""

from __future__ import annotations

from typing import Protocol

import socketio


class LocalDelivery(Protocol):
    async def follow(self, sid: str, topic: str) -> None: ...

    async def unfollow(self, sid: str, topic: str) -> None: ...

    async def deliver(self, topic: str, name: str, data: dict, skip: list[str]) -> None: ...


class SocketIORooms:
    """LocalDelivery on python-socketio's rooms (one Socket.IO room per topic)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def follow(self, sid: str, topic: str) -> None:
        await self._sio.enter_room(sid, topic)

    async def unfollow(self, sid: str, topic: str) -> None:
        await self._sio.leave_room(sid, topic)

    async def deliver(self, topic: str, name: str, data: dict, skip: list[str]) -> None:
        await self._sio.emit(name, data, room=topic, skip_sid=skip or None)


PENDING = -1


class Fences:
    def __init__(self) -> None:
        self._by_topic: dict[str, dict[str, int]] = {}

    def hold(self, topic: str, sid: str) -> None:
        """Hold back every live message to `sid` in `topic` until `release`."""
        self._by_topic.setdefault(topic, {})[sid] = PENDING

    def release(self, topic: str, sid: str, upto: int) -> None:
        """Messages up to `upto` reached `sid` another way; deliver the ones after it."""
        fences = self._by_topic.get(topic)
        if fences is not None and sid in fences:
            fences[sid] = upto

    def drop(self, topic: str, sid: str) -> None:
        fences = self._by_topic.get(topic)
        if fences is not None:
            fences.pop(sid, None)
            if not fences:
                del self._by_topic[topic]

    def skip(self, topic: str, seq: int) -> list[str]:
        """The connections that must not get the message `seq` of `topic` live."""
        fences = self._by_topic.get(topic)
        if not fences:
            return []
        skipped = []
        for sid, upto in list(fences.items()):
            if upto == PENDING or seq <= upto:
                skipped.append(sid)
            else:
                del fences[sid]
        if not fences:
            del self._by_topic[topic]
        return skipped
