"""REST: rooms and their members."""

from __future__ import annotations

from app.chat import payloads
from app.chat.errors import Code
from app.rest.api import Call, Reply, Route, v1
from app.rest.schemas import AddMembersSchema, CreateGroupSchema, RoomListSchema, StartDirectSchema
from app.schemas.payloads import RoomViewSchema


async def list_rooms(call: Call) -> dict:
    return {"rooms": [payloads.room_view(view) for view in await call.chat.rooms.list(call.user)]}


async def create_group(call: Call) -> dict:
    view = await call.chat.rooms.create_group(call.user, call.data["name"], call.data["participants"])
    return payloads.room_view(view)


async def start_direct(call: Call) -> Reply:
    view, created = await call.chat.rooms.start_direct(call.user, call.data["user_id"])
    return Reply(payloads.room_view(view), 201 if created else 200)


async def get_room(call: Call) -> dict:
    return payloads.room_view(await call.chat.rooms.get(call.user, call.data["room_id"]))


async def add_members(call: Call) -> dict:
    view = await call.chat.rooms.add_members(call.user, call.data["room_id"], call.data["user_ids"])
    return payloads.room_view(view)


async def remove_member(call: Call) -> None:
    await call.chat.rooms.remove_member(call.user, call.data["room_id"], call.data["user_id"])


async def leave_room(call: Call) -> None:
    await call.chat.rooms.leave(call.user, call.data["room_id"])


ROOM = (Code.ROOM_NOT_FOUND, Code.NOT_MEMBER)
ROUTES = [
    Route("GET", v1("/rooms"), list_rooms, "List my rooms with last message and unread count", "rooms",
          response=RoomListSchema),
    Route("POST", v1("/rooms"), create_group, "Create a group room owned by me", "rooms",
          body=CreateGroupSchema, response=RoomViewSchema, status=201,
          errors=(Code.INVALID_PAYLOAD, Code.CONTENT_INVALID, Code.TOO_MANY_MEMBERS)),
    Route("POST", v1("/rooms/direct"), start_direct,
          "Start (or find) the direct room with a user: 201 when created, 200 when it existed", "rooms",
          body=StartDirectSchema, response=RoomViewSchema, status=201, alt_status=(200,),
          errors=(Code.INVALID_PAYLOAD,)),
    Route("GET", v1("/rooms/{room_id}"), get_room, "Get one room with its members", "rooms",
          response=RoomViewSchema, errors=ROOM),
    Route("POST", v1("/rooms/{room_id}/members"), add_members, "Add members to a group (owner only)", "rooms",
          body=AddMembersSchema, response=RoomViewSchema,
          errors=(*ROOM, Code.INVALID_PAYLOAD, Code.NOT_OWNER, Code.DIRECT_ROOM_FIXED, Code.TOO_MANY_MEMBERS)),
    Route("DELETE", v1("/rooms/{room_id}/members/{user_id}"), remove_member,
          "Remove a member from a group (owner only; removing yourself leaves)", "rooms", status=204,
          errors=(*ROOM, Code.NOT_OWNER, Code.DIRECT_ROOM_FIXED,
                  Code.MEMBER_NOT_FOUND)),
    Route("POST", v1("/rooms/{room_id}/leave"), leave_room,
          "Leave a group (an owner hands it to the longest-standing member)", "rooms", status=204,
          errors=(*ROOM, Code.DIRECT_ROOM_FIXED)),
]  # fmt: skip
