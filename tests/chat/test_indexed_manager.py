"""The Socket.IO client manager's room index: a disconnect touches only the client's own rooms."""

from app.gateways.socketio.manager import IndexedManager


class CountingManager(IndexedManager):
    def __init__(self) -> None:
        super().__init__()
        self.left: list[tuple[str, object]] = []

    def basic_leave_room(self, sid, namespace, room):
        self.left.append((sid, room))
        super().basic_leave_room(sid, namespace, room)


def connect(manager: IndexedManager, eio_sid: str) -> str:
    """Register a connection as python-socketio's pre_connect does (without a server to draw the sid)."""
    sid = "sid-" + eio_sid
    manager.basic_enter_room(sid, "/", None, eio_sid=eio_sid)
    manager.basic_enter_room(sid, "/", sid, eio_sid=eio_sid)
    return sid


def test_a_disconnect_leaves_exactly_the_clients_rooms_and_no_others():
    manager = CountingManager()
    sids = [connect(manager, f"eio-{n}") for n in range(200)]
    for n, sid in enumerate(sids):
        manager.basic_enter_room(sid, "/", f"room:{n % 20}")
        manager.basic_enter_room(sid, "/", f"user:{n}")
    leaving = sids[7]
    manager.basic_disconnect(leaving, "/")
    assert sorted(map(str, (room for sid, room in manager.left))) == sorted(
        map(str, [None, leaving, "room:7", "user:7"])
    )
    assert all(sid == leaving for sid, _room in manager.left)
    rooms = manager.rooms["/"]
    assert leaving not in rooms["room:7"] and len(rooms["room:7"]) == 9
    assert "user:7" not in rooms and leaving not in rooms[None]
    assert manager.rooms_of(leaving) == set()
    assert manager.rooms_of(sids[8]) == {None, sids[8], "room:8", "user:8"}


def test_leaving_a_room_keeps_the_index_in_step():
    manager = IndexedManager()
    sid = connect(manager, "eio-x")
    manager.basic_enter_room(sid, "/", "room:1")
    manager.basic_leave_room(sid, "/", "room:1")
    manager.basic_disconnect(sid, "/")
    assert manager.rooms_of(sid) == set()
    assert "room:1" not in manager.rooms.get("/", {})
