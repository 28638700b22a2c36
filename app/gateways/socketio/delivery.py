"""Local delivery: from a topic's event to the connections of this node that follow the topic.

`LocalDelivery` is the one seam between fan-out and Socket.IO.
`DirectDelivery` keeps python-socketio's rooms as the index of who follows
what, but sends by itself: the frame is encoded once per event and put on
each recipient's Engine.IO queue, with no task per recipient (python-socketio's
`emit` creates one each). A recipient that has fallen more than
MAX_PENDING_FRAMES behind is disconnected rather than buffered for without
bound; it reconnects and catches up by seq.

`Fences` make a join's catch-up and the live stream meet without a gap
or a duplicate. While a connection joins a room, live messages to it are
held back (kept, not dropped). The join reads the room's current seq S
and sends the messages up to S in its acknowledgement; then the held
messages after S are delivered, in order, and the fence opens: live
messages up to S are skipped, later ones delivered. The bus delivers a
room's messages in seq order, so the fence is dropped at the first
message past it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from app.gateways.socketio.stats import GatewayStats

log = logging.getLogger(__name__)
NAMESPACE = "/"


class LocalDelivery(Protocol):
    async def follow(self, sid: str, topic: str) -> None: ...

    async def unfollow(self, sid: str, topic: str) -> None: ...

    async def deliver(self, topic: str, name: str, data: dict, skip: list[str]) -> None: ...


class DirectDelivery:
    """LocalDelivery on python-socketio's rooms (one room per topic), sending each frame itself."""

    def __init__(self, sio: socketio.AsyncServer, max_pending_frames: int, stats: GatewayStats | None = None) -> None:
        self._sio = sio
        self._max_pending = max_pending_frames
        self._closing: set[str] = set()
        self._stats = stats

    async def follow(self, sid: str, topic: str) -> None:
        await self._sio.enter_room(sid, topic)

    async def unfollow(self, sid: str, topic: str) -> None:
        await self._sio.leave_room(sid, topic)

    async def deliver(self, topic: str, name: str, data: dict, skip: list[str]) -> None:
        followers = self._sio.manager.rooms.get(NAMESPACE, {}).get(topic)
        if not followers:
            return
        event = self._sio.packet_class(sio_packet.EVENT, namespace=NAMESPACE, data=[name, data]).encode()
        frame = eio_packet.Packet(eio_packet.MESSAGE, data=event)
        sockets = self._sio.eio.sockets
        skipped = set(skip)
        sent = 0
        for sid, eio_sid in list(followers.items()):
            if sid in skipped:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            if socket.queue.qsize() >= self._max_pending:
                self._drop_slow(eio_sid, socket)
                continue
            socket.queue.put_nowait(frame)
            sent += 1
        if self._stats is not None:
            self._stats.sent_event(name, sent)

    def _drop_slow(self, eio_sid: str, socket) -> None:
        if eio_sid in self._closing:
            return
        self._closing.add(eio_sid)
        if self._stats is not None:
            self._stats.slow_consumers_cut += 1
        log.warning("disconnecting a connection more than %d frames behind", self._max_pending)
        # What it has not read is dropped: after reconnecting it catches up by seq.
        while True:
            try:
                socket.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            socket.queue.task_done()
        # A peer that stopped reading keeps a WebSocket send blocked for ever: cut the connection.
        request = self._sio.environ.get(eio_sid, {}).get("aiohttp.request")
        transport = request.transport if request is not None else None
        if transport is not None:
            transport.abort()
        task = asyncio.get_running_loop().create_task(socket.close(wait=False, abort=True))
        task.add_done_callback(lambda _task: self._closing.discard(eio_sid))


HELD = -1


class Fences:
    def __init__(self) -> None:
        self._by_topic: dict[str, dict[str, int]] = {}
        self._held: dict[tuple[str, str], list[dict]] = {}

    def hold(self, topic: str, sid: str) -> None:
        """Keep every live message to `sid` in `topic` back until `release`."""
        self._by_topic.setdefault(topic, {})[sid] = HELD
        self._held[(topic, sid)] = []

    def take_held(self, topic: str, sid: str, after: int) -> list[dict]:
        """The messages held back so far with a seq above `after`, in order; the hold stays.
        Deliver them, then take again with the last seq delivered, until none is left."""
        held = self._held.get((topic, sid))
        if not held:
            return []
        later = sorted((message for message in held if message["seq"] > after), key=lambda message: message["seq"])
        held.clear()
        return later

    def release(self, topic: str, sid: str, upto: int) -> None:
        """Messages up to `upto` reached `sid` another way: skip those, deliver the ones after."""
        self._held.pop((topic, sid), None)
        fences = self._by_topic.get(topic)
        if fences is not None and sid in fences:
            fences[sid] = upto

    def drop(self, topic: str, sid: str) -> None:
        self._held.pop((topic, sid), None)
        fences = self._by_topic.get(topic)
        if fences is not None:
            fences.pop(sid, None)
            if not fences:
                del self._by_topic[topic]

    def skip(self, topic: str, message: dict) -> list[str]:
        """The connections that must not get `message` (a room's message, with its seq) live now;
        it is kept for those whose join is still in progress."""
        fences = self._by_topic.get(topic)
        if not fences:
            return []
        seq = message["seq"]
        skipped = []
        for sid, upto in list(fences.items()):
            if upto == HELD:
                skipped.append(sid)
                self._held[(topic, sid)].append(message)
            elif seq <= upto:
                skipped.append(sid)
            else:
                del fences[sid]
        if not fences:
            del self._by_topic[topic]
        return skipped
