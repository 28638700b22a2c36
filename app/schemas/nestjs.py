"""Seed 001's shapes (a NestJS gateway), shared by its REST routes (app.rest.nestjs_seed) and its Socket.IO
namespace (app.gateways.socketio.nestjs_chat), so that a conversation and a message look the same in both.

Ids are JSON numbers where JavaScript holds them exactly (app.chat.ids.js_number); a message's id is its
numeric alias, room id * 2**32 + seq (app.chat.ids.message_alias), or its decimal string beyond the alias
range. A conversation's `sender_id` and `receiver_id` are its pair in a fixed order, the lower id first,
whoever wrote a message: direct rooms keep no creator, and a room may have been started in any dialect.
"""

from __future__ import annotations

from app.chat.ids import js_number, message_alias


def conversation_pair(member_ids: list[str]) -> tuple[str, str]:
    """(sender_id, receiver_id) of a direct room from its members: the lower id first, numbers by value before
    ids that are not numbers (those in text order); both the same for a room of one user with themselves."""
    ordered = sorted(set(member_ids), key=_order)
    return (ordered[0], ordered[-1]) if ordered else ("", "")


def _order(user_id: str) -> tuple[int, int, str]:
    number = js_number(user_id)
    return (0, number, "") if isinstance(number, int) else (1, 0, user_id)


def conversation_ref(room_id: str, member_ids: list[str]) -> dict:
    sender, receiver = conversation_pair(member_ids)
    return {"id": js_number(room_id), "sender_id": js_number(sender), "receiver_id": js_number(receiver)}


def nest_message(message: dict, conversation: dict) -> dict:
    """A message (its canonical record) with the fields of 001's `receive-message` frame."""
    alias = message_alias(message["room_id"], message["seq"])
    return {
        "id": alias if alias is not None else message["id"],
        "sender_id": js_number(message["sender_id"]),
        "conversation_id": conversation["id"],
        "timestamp": message["created_at"],
        "message_type": message["type"],
        "content": message["content"],
        "conversation": conversation,
    }
