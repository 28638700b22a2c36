"""REST: the signed-in user."""

from __future__ import annotations

from app.chat import payloads
from app.rest.api import Call, Route, v1
from app.rest.schemas import MeSchema


async def get_me(call: Call) -> dict:
    return payloads.user(call.user)


ROUTES = [Route("GET", v1("/me"), get_me, "The signed-in user, as stored from the token's claims", "users",
                response=MeSchema)]  # fmt: skip
