"""REST routes for development only: a token for any user, so QA can sign in from the bundled test page.

`POST /api/v1/dev/token` with `{user_id, name?, username?, ttl?}` answers `{token, user_id, expires_at}`: a token
signed exactly like `python run.py token USER_ID --name NAME --username U` signs one (the first allowed algorithm, with
JWT_SECRET, the development secret in DATA_DIR, or JWT_PRIVATE_KEY). Anyone who can reach the route can
become anyone, so it exists only when DEV_MODE is on: `routes.setup` mounts these routes (and documents them
in the OpenAPI document) only then. With DEV_MODE off they are not registered at all and the path answers
404 like any unknown path; nothing here is reachable in production.

The route needs no token and is not rate limited (authentication is what it hands out).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from app.auth.tokens import mint
from app.chat.errors import ChatError, Code
from app.chat.model import format_time
from app.chat.rules import check_text, check_user_id, check_username
from app.rest.api import Call, Route, v1
from app.schemas.fields import Identifier
from app.schemas.payloads import TIME
from config.settings import AuthConfig

DEV_AUTH = web.AppKey("dev_auth", AuthConfig)  # the settings tokens are minted with; set only in DEV_MODE
MAX_NAME_LENGTH = 200
DEFAULT_TTL = 86400
MAX_TTL = 7 * 86400


class DevTokenBodySchema(Schema):
    class Meta:
        unknown = RAISE

    user_id = Identifier(required=True, metadata={"description": "Who to sign in as (the token's `sub`)."})
    name = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_NAME_LENGTH),
        metadata={"description": "Display name claim (`name`); shown to others as it is, always as text."},
    )
    username = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "Username claim (`username`), by which seed 003's clients address people."},
    )
    ttl = fields.Integer(
        load_default=DEFAULT_TTL,
        validate=validate.Range(min=60, max=MAX_TTL),
        metadata={"description": "Lifetime in seconds (60 to 604800; default a day)."},
    )


class DevTokenSchema(Schema):
    token = fields.String(required=True, metadata={"description": "A signed JWT: `Authorization: Bearer <token>`."})
    user_id = fields.String(required=True)
    expires_at = fields.String(required=True, metadata=TIME)


async def mint_dev_token(call: Call) -> dict:
    data = call.data
    user_id, name = data["user_id"], data["name"]
    check_user_id(user_id)  # what the token verifier accepts as a `sub`
    if name is not None:
        check_text(name, "name")
    if data["username"] is not None:
        check_username(data["username"])
    try:
        token = mint(call.request.app[DEV_AUTH], user_id, name, data["ttl"], username=data["username"])
    except ValueError as exc:  # RS/ES algorithms without JWT_PRIVATE_KEY
        raise ChatError(Code.UNAVAILABLE, f"cannot mint development tokens: {exc}") from None
    expires_at = format_time(datetime.fromtimestamp(int(time.time()) + data["ttl"], UTC))
    return {"token": token, "user_id": user_id, "expires_at": expires_at}


ROUTES = [
    Route("POST", v1("/dev/token"), mint_dev_token,
          "DEV_MODE only (absent otherwise): a signed token for any user, for the test page and QA", "development",
          body=DevTokenBodySchema, response=DevTokenSchema, status=201, auth=False,
          errors=(Code.INVALID_PAYLOAD, Code.CONTENT_INVALID, Code.UNAVAILABLE)),
]  # fmt: skip


def setup(app: web.Application, auth: AuthConfig) -> list[Route]:
    """Keep the settings the routes mint with; return the routes for the caller to mount and document."""
    app[DEV_AUTH] = auth
    return ROUTES
