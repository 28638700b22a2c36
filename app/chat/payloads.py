"""The canonical plain-data shapes of the core's results, shared by every transport.

REST responses, acknowledgements and events all use these, so a room or
a message looks the same wherever a client meets it. `app.schemas`
describes them for the API documents.
"""

from __future__ import annotations

from app.chat import events
from app.chat.messages import CatchUp, Page, Reacted, Sent
from app.chat.model import DeviceRecord, Favorite, Message, Receipt, User, format_time
from app.chat.reads import ReadState, Unread
from app.chat.rooms import RoomView


def user(u: User) -> dict:
    return {"id": u.id, "name": u.name, "username": u.username}


def message(m: Message) -> dict:
    return m.record()


def room_view(view: RoomView) -> dict:
    data = view.room.record()
    data.update(
        member_count=view.member_count,
        last_seq=view.last_seq,
        unread_count=view.unread,
        last_message=message(view.last_message) if view.last_message else None,
        peer=view.peer.record() if view.peer else None,
    )
    if view.members is not None:
        data["members"] = [m.record() for m in view.members]
    return data


def receipt(r: Receipt, duplicate: bool) -> dict:
    return {
        "status": "sent",
        "id": r.message_id,
        "room_id": r.room_id,
        "seq": r.seq,
        "client_ref": r.client_ref,
        "created_at": format_time(r.created_at),
        "duplicate": duplicate,
    }


def sent(result: Sent) -> dict:
    return receipt(result.receipt, result.duplicate)


def page(p: Page) -> dict:
    return {
        "messages": [message(m) for m in p.messages],
        "last_seq": p.last_seq,
        "has_more_before": p.has_more_before,
        "has_more_after": p.has_more_after,
    }


def catch_up(c: CatchUp) -> dict:
    return {
        "room_id": c.room_id,
        "last_seq": c.last_seq,
        "messages": [message(m) for m in c.messages],
        "has_more": c.has_more,
        "changed": [message(m) for m in c.changed],
        "changes_cursor": str(c.changes_cursor),
        "changes_more": c.changes_more,
    }


def changes(messages: list[Message], cursor: int, more: bool) -> dict:
    return {"messages": [message(m) for m in messages], "cursor": str(cursor), "has_more": more}


def read_state(state: ReadState) -> dict:
    return {
        "room_id": state.room_id,
        "read_seq": state.read_seq,
        "unread_count": state.unread_count,
        "total_unread": state.total_unread,
    }


def unread(u: Unread) -> dict:
    return {
        "total_unread": u.total,
        "rooms": [
            {"room_id": r.room_id, "last_seq": r.last_seq, "read_seq": r.read_seq, "unread_count": r.unread}
            for r in sorted(u.rooms.values(), key=lambda r: int(r.room_id))
        ],
    }


def deleted(m: Message) -> dict:
    return events.message_deleted(m).data


def reacted(r: Reacted) -> dict:
    return {
        **events.reaction_update(r.message, r.reactions).data,
        "emoji": r.emoji,
        "reacted": r.reacted,
        "changed": r.changed,
    }


def favorites(found: list[Favorite], favorite: bool | None = None) -> dict:
    data: dict = {"favorites": [f.record() for f in found]}
    if favorite is not None:
        data["favorite"] = favorite
    return data


def devices(found: list[DeviceRecord]) -> dict:
    return {"devices": [d.record() for d in found]}
