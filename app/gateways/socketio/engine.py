"""python-socketio, adapted: what the gateway needs of it that it does not expose.

- orjson for every packet (python-socketio wants a `json` module whose `dumps` returns str);
- whether the client asked for an acknowledgement, so a failure without one becomes an `error` event;
- an `error` event, not a logged traceback, for a malformed packet or an event that is not
  `[name, ...args]`;
- `connect` and `disconnect` sent by a client are unknown events, not calls of the server's handlers.
"""

from __future__ import annotations

from contextvars import ContextVar

import orjson
import socketio
from socketio import packet

from app.chat.errors import Code
from app.realtime.stats import DialectStats

ACK_WANTED: ContextVar[bool] = ContextVar("ack_wanted", default=False)


class OrjsonJSON:
    """The json module interface python-socketio expects, on orjson (which returns bytes)."""

    @staticmethod
    def dumps(obj, **_kwargs) -> str:
        # Validation details of list items are keyed by index (ints): write them as JSON keys.
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def loads(text, **_kwargs):
        return orjson.loads(text)


class ChatSocketServer(socketio.AsyncServer):
    """python-socketio's server with the adaptations listed above."""

    stats: dict[str, DialectStats] = {}  # by namespace, set by the gateway: every emit (to one connection) is counted

    async def emit(self, event, *args, **kwargs):
        stats = self.stats.get(kwargs.get("namespace") or "/")
        if stats is not None:
            stats.sent_event(event)
        return await super().emit(event, *args, **kwargs)

    async def _handle_event(self, eio_sid, namespace, id, data):
        # An event is `[name, ...args]` with a string name; python-socketio indexes it unchecked.
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ValueError("an event packet must hold an array starting with the event name")
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        ACK_WANTED.set(id is not None)
        if data[0] in self.reserved_events:
            # `connect` and `disconnect` name the server's own handlers: from a client they are unknown events.
            answer = await self.handlers[namespace or "/"]["*"](data[0], sid, *data[1:])
            if id is not None:
                await self._send_packet(
                    eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=[answer])
                )
            return
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)

    async def _handle_eio_message(self, eio_sid, data):
        try:
            await super()._handle_eio_message(eio_sid, data)
        except ValueError:
            error = {"code": Code.INVALID_PAYLOAD.value, "message": "malformed Socket.IO packet", "event": None}
            stats = self.stats.get("/")
            if stats is not None:
                stats.sent_event("error")
            await self._send_packet(eio_sid, self.packet_class(packet.EVENT, namespace="/", data=["error", error]))
