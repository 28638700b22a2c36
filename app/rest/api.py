"""Route declarations and the one adapter that turns them into aiohttp handlers.

A route names its method and path, its request schema (JSON body or query
string), its response schema and status, and the error codes it may
answer. The adapter authenticates, applies the per-user rate limit,
validates the input, calls the handler with a `Call`, and writes JSON.

The canonical API lives under `API_PREFIX` (`/api/v1`): its routes declare their paths with `v1("/rooms")`.
The root `/api/...` paths belong to the seed services' clients (the seed-compatible routes keep them), and
operations stay at the root (`/health`, `/ready`, `/metrics`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from marshmallow import Schema

from app.auth.tokens import TokenVerifier
from app.chat.errors import ChatError, Code
from app.chat.model import User
from app.chat.ports import RateLimiter
from app.chat.service import Chat
from app.rest.errors import ERROR_SHAPE, ErrorShape
from app.schemas.fields import load


@dataclass(frozen=True)
class RestContext:
    chat: Chat
    verifier: TokenVerifier
    limiter: RateLimiter
    api_rate: float
    api_burst: int


CONTEXT = web.AppKey("rest_context", RestContext)

# Where the canonical API is mounted: the seed services' clients use root `/api/...` paths that would collide
# with it (a seed's `GET /api/rooms/<username>/messages` against `GET /api/rooms/{room_id}/messages`).
API_PREFIX = "/api/v1"


def v1(path: str) -> str:
    """The path of a canonical route: `v1("/rooms/{room_id}")` is `/api/v1/rooms/{room_id}`."""
    return API_PREFIX + path


@dataclass(frozen=True)
class Call:
    """What a handler gets: the core, the caller, and the validated input (path parameters included)."""

    chat: Chat
    user: User | None  # None on routes without authentication
    data: dict
    request: web.Request


@dataclass(frozen=True)
class Reply:
    """A handler's answer when the status depends on the outcome (the route's status otherwise)."""

    body: dict | None
    status: int


# A handler that streams its answer (a download) prepares and returns its own StreamResponse.
Handler = Callable[[Call], Awaitable[dict | list | Reply | web.StreamResponse | None]]

# Errors any authenticated route may answer.
COMMON_ERRORS = (
    Code.AUTH_REQUIRED,
    Code.INVALID_TOKEN,
    Code.TOKEN_EXPIRED,
    Code.USER_DISABLED,
    Code.RATE_LIMITED,
    Code.UNAVAILABLE,
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    response: type[Schema] | Schema | None = None  # an instance for a JSON array: `ItemSchema(many=True)`
    status: int = 200
    errors: tuple[Code, ...] = ()
    alt_status: tuple[int, ...] = field(default=())  # other success statuses, e.g. 200 for an existing room
    auth: bool = True
    # A multipart/form-data upload: the file field names accepted (any one of them). The handler reads the
    # body itself (`call.request.multipart()`), so it is not bound by MAX_FRAME_BYTES.
    files: tuple[str, ...] = ()
    produces: str | None = None  # the media type of a success body that is not JSON (a download)
    # The operationId (and aiohttp route name) when one handler serves two routes; the handler's name otherwise.
    name: str | None = None
    # Also take the bare token as the whole `Authorization` value (`Authorization: <JWT>`), as seed 003's own
    # client code sends it, besides `Bearer <JWT>`. Only for the seed's routes: the canonical API wants `Bearer`.
    bare_token: bool = False
    # Errors in another body than the canonical one, as the seed's clients expect (see app/rest/errors.py).
    error_shape: ErrorShape | None = None
    # Optional request headers the route takes, documented as (name, description): e.g. a header the seed's
    # clients send that is accepted and ignored.
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def operation_id(self) -> str:
        return self.name or self.handler.__name__


def bearer_token(request: web.Request, bare: bool = False) -> str | None:
    """The credentials of an `Authorization: Bearer <token>` header (scheme case-insensitive), else None.

    With `bare`, a value of one word (no scheme, as in `Authorization: <token>`) is the token too; a value
    naming another scheme (`Basic ...`) is still no token."""
    value = request.headers.get("Authorization", "").strip()
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if bare and value and not any(ch.isspace() for ch in value):
        return value
    return None


async def authenticate(request: web.Request, context: RestContext, bare_token: bool = False) -> User:
    """The signed-in caller, rate limited. Raises AUTH_REQUIRED, INVALID_TOKEN, TOKEN_EXPIRED,
    USER_DISABLED or RATE_LIMITED. `bare_token`: see `Route.bare_token`."""
    profile = await context.verifier.verify(bearer_token(request, bare_token))
    user = await context.chat.users.sign_in(profile)
    retry_after = await context.limiter.acquire("api", user.id, context.api_rate, context.api_burst)
    if retry_after:
        raise ChatError(Code.RATE_LIMITED, "too many requests; slow down", {"retry_after": round(retry_after, 3)})
    return user


def adapt(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    body_schema = route.body() if route.body else None
    query_schema = route.query() if route.query else None

    async def handle(request: web.Request) -> web.StreamResponse:
        if route.error_shape is not None:  # first: every failure of the request is answered in it
            request[ERROR_SHAPE] = route.error_shape
        context = request.app[CONTEXT]
        user = await authenticate(request, context, route.bare_token) if route.auth else None
        data: dict = {}
        if query_schema is not None:
            data.update(load(query_schema, dict(request.query)))
        if body_schema is not None:
            data.update(load(body_schema, await _json_body(request)))
        data.update(request.match_info)
        result = await route.handler(Call(context.chat, user, data, request))
        if isinstance(result, web.StreamResponse):
            return result
        if isinstance(result, Reply):
            body, status = result.body, result.status
        else:
            body, status = result, route.status
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    handle.__name__ = route.operation_id
    return handle


async def _json_body(request: web.Request) -> object:
    if not request.can_read_body:
        raise ChatError(Code.INVALID_PAYLOAD, "a JSON body is required")
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ChatError(Code.INVALID_PAYLOAD, "the body is not valid JSON") from None


def add_routes(app: web.Application, routes: list[Route]) -> None:
    for route in routes:
        app.router.add_route(route.method, route.path, adapt(route), name=route.operation_id)
