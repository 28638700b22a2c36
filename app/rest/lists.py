"""REST: my favorites and the people I share rooms with."""

from __future__ import annotations

from app.chat import payloads
from app.chat.errors import Code
from app.rest.api import Call, Route, v1
from app.schemas.payloads import FavoriteSetSchema, FavoritesSchema, PeopleSchema


async def list_favorites(call: Call) -> dict:
    return payloads.favorites(await call.chat.lists.favorites(call.user))


async def add_favorite(call: Call) -> dict:
    on, found = await call.chat.lists.set_favorite(call.user, call.data["kind"], call.data["target_id"], True)
    return payloads.favorites(found, on)


async def remove_favorite(call: Call) -> dict:
    on, found = await call.chat.lists.set_favorite(call.user, call.data["kind"], call.data["target_id"], False)
    return payloads.favorites(found, on)


async def list_people(call: Call) -> dict:
    return {"people": await call.chat.lists.people(call.user)}


FAVORITE_ERRORS = (Code.ROOM_NOT_FOUND, Code.NOT_MEMBER, Code.USER_NOT_FOUND, Code.INVALID_PAYLOAD)

ROUTES = [
    Route("GET", v1("/me/favorites"), list_favorites, "My favorite rooms and people, oldest first", "lists",
          response=FavoritesSchema),
    Route("PUT", v1("/me/favorites/{kind}/{target_id}"), add_favorite,
          "Mark a room I belong to (`kind` room) or a person (`kind` user) as a favorite", "lists",
          response=FavoriteSetSchema, errors=FAVORITE_ERRORS),
    Route("DELETE", v1("/me/favorites/{kind}/{target_id}"), remove_favorite, "Unmark a favorite", "lists",
          response=FavoriteSetSchema, errors=FAVORITE_ERRORS),
    Route("GET", v1("/me/people"), list_people, "Everyone who shares a room with me, with presence", "lists",
          response=PeopleSchema),
]  # fmt: skip
