"""python-socketio's client manager, with an index of each client's rooms.

The stock manager finds a disconnecting client's rooms by scanning every
room of the namespace, and every client has a room of its own, so each
disconnect costs time in proportion to the node's connections, and many
clients dropping at once cost the square. With the index, a disconnect
costs the client's own rooms.
"""

from __future__ import annotations

import socketio


class IndexedManager(socketio.AsyncManager):
    def __init__(self) -> None:
        super().__init__()
        self._rooms_of: dict[tuple[str, str], set] = {}

    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid, namespace, room):
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid, namespace, **kwargs):
        # As the stock manager does, but visiting only this client's rooms.
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            waiting = pending.get(namespace)
            if waiting is not None and sid in waiting:
                waiting.remove(sid)
                if not waiting:
                    del pending[namespace]

    def rooms_of(self, sid: str, namespace: str = "/") -> set:
        return self._rooms_of.get((namespace, sid), set())
