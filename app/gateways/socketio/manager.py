"""python-socketio's client manager, with an index of each client's rooms.

The stock manager finds a disconnecting client's rooms by scanning every
room of the namespace, and every client has a room of its own, so each
disconnect costs time in proportion to the node's connections, and many
clients dropping at once cost the square. With the index, a disconnect
costs the client's own rooms.

It also keeps which namespaces each Engine.IO session has connected, and tells the server (`bound`,
`unbound`) when a session connects its first one or is left with none: the server closes sessions that
stay without one (engine.py).
"""

from __future__ import annotations

from collections.abc import Callable

import socketio


class IndexedManager(socketio.AsyncManager):
    def __init__(self) -> None:
        super().__init__()
        self._rooms_of: dict[tuple[str, str], set] = {}
        self._connected: dict[str, set[str]] = {}  # eio_sid -> the namespaces it has connected
        self.bound: Callable[[str], None] = lambda _eio_sid: None
        self.unbound: Callable[[str], None] = lambda _eio_sid: None

    async def connect(self, sid, namespace):
        sid = await super().connect(sid, namespace)
        eio_sid = self.eio_sid_from_sid(sid, namespace)
        if eio_sid is not None:
            namespaces = self._connected.setdefault(eio_sid, set())
            namespaces.add(namespace)
            if len(namespaces) == 1:
                self.bound(eio_sid)
        return sid

    def has_namespace(self, eio_sid: str) -> bool:
        """Whether the Engine.IO session has a namespace connected."""
        return bool(self._connected.get(eio_sid))

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
        eio_sid = self.eio_sid_from_sid(sid, namespace)
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
        namespaces = self._connected.get(eio_sid)
        if namespaces is not None and namespace in namespaces:
            namespaces.discard(namespace)
            if not namespaces:
                del self._connected[eio_sid]
                self.unbound(eio_sid)

    def rooms_of(self, sid: str, namespace: str = "/") -> set:
        return self._rooms_of.get((namespace, sid), set())
