"""REST: the signed-in user, and the devices they connected from."""

from __future__ import annotations

from app.chat import payloads
from app.rest.api import Call, Route, v1
from app.rest.schemas import DevicesSchema, MeSchema


async def get_me(call: Call) -> dict:
    return payloads.user(call.user)


async def list_devices(call: Call) -> dict:
    return payloads.devices(await call.chat.users.devices(call.user))


ROUTES = [
    Route("GET", v1("/me"), get_me, "The signed-in user, as stored from the token's claims", "users",
          response=MeSchema),
    Route("GET", v1("/me/devices"), list_devices,
          "My devices (`device_unique_id` on connect) with their `preferred_language`, most recently seen first; a "
          "device appears once the presence flush has written it (a worker's `presence` job, usually within a "
          "second or two of connecting)", "users",
          response=DevicesSchema),
]  # fmt: skip
