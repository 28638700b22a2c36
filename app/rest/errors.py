"""Errors on REST: `{error, details, code, status}` with the HTTP status of the code.

A route whose seed's clients expect another error body declares its `ErrorShape` (`Route.error_shape`); the
adapter marks the request with it and this middleware writes that body instead, for every failure of the
request (authentication, validation, the handler, a body too large, an unexpected error), with the stable
code in the `X-Error-Code` header since such a body has no place for it.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from marshmallow import Schema

from app.chat.errors import ChatError, Code
from app.ops import context

log = logging.getLogger(__name__)

STATUS: dict[Code, int] = {
    Code.INVALID_PAYLOAD: 400,
    Code.CONTENT_EMPTY: 400,
    Code.CONTENT_TOO_LONG: 400,
    Code.CONTENT_INVALID: 400,
    Code.UNKNOWN_EVENT: 400,
    Code.AUTH_REQUIRED: 401,
    Code.INVALID_TOKEN: 401,
    Code.TOKEN_EXPIRED: 401,
    Code.USER_MISMATCH: 401,
    Code.USER_DISABLED: 403,
    Code.NOT_MEMBER: 403,
    Code.NOT_OWNER: 403,
    Code.ROOM_NOT_FOUND: 404,
    Code.MEMBER_NOT_FOUND: 404,
    Code.USER_NOT_FOUND: 404,
    Code.UNKNOWN_STATUS: 400,
    Code.READ_BEYOND_LAST: 409,
    Code.MESSAGE_NOT_FOUND: 404,
    Code.NOT_SENDER: 403,
    Code.MESSAGE_DELETED: 409,
    Code.SYSTEM_MESSAGE: 403,
    Code.REPLY_NOT_FOUND: 400,
    Code.INVALID_EMOJI: 400,
    Code.REACTION_NOT_FOUND: 404,
    Code.UNKNOWN_MESSAGE_TYPE: 400,
    Code.SEARCH_QUERY_INVALID: 400,
    Code.SEARCH_TOO_BROAD: 400,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.DIRECT_ROOM_FIXED: 409,
    Code.TOO_MANY_MEMBERS: 409,
    Code.DUPLICATE_CLIENT_REF: 409,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.RATE_LIMITED: 429,
    Code.INTERNAL_ERROR: 500,
    Code.UNAVAILABLE: 503,
    Code.UPLOAD_MISSING_FILE: 400,
    Code.UPLOAD_EMPTY: 400,
    Code.UPLOAD_TOO_LARGE: 413,
    Code.ATTACHMENT_NOT_FOUND: 404,
    Code.NO_ATTACHMENT: 404,
    Code.LINK_INVALID: 403,
    Code.LINK_EXPIRED: 403,
    Code.RANGE_NOT_SATISFIABLE: 416,
}

_HTTP_CODES = {
    400: Code.INVALID_PAYLOAD,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    413: Code.PAYLOAD_TOO_LARGE,
}
REQUEST_ID = "X-Request-Id"
REQUEST_ID_KEY = web.RequestKey("request_id", str)
ERROR_CODE = "X-Error-Code"  # the stable code, where the route's error body has no place for it


# The longest request line and header line the server reads. aiohttp's parser refuses a longer one before any
# handler or middleware runs, with a plain-text 400 of its own: at its default (8190 bytes) a token a little
# over 8 KB was refused that way, without the error body or a code. Above MAX_TOKEN_BYTES (16 KiB), so a long
# token reaches the verifier and is refused in the error body (`invalid_token`); a header line longer than this
# still meets aiohttp's plain 400 (at most 128 headers of this size are read: 4 MiB).
MAX_HEADER_BYTES = 32 * 1024


class _ServerLog(logging.LoggerAdapter):
    """aiohttp's server logger (`aiohttp.server`), with a malformed request (a header with a control character,
    a line too long: the parser's 4xx errors) logged at WARNING without a traceback: a client's bad input is
    not the server's error. Anything else is logged as aiohttp logs it."""

    def exception(self, msg, *args, exc_info=True, **kwargs) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(error, HttpProcessingError) and 400 <= (error.code or 0) < 500:
            self.warning(msg + " (%d): %s", *args, error.code, error.message or type(error).__name__, **kwargs)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


# The application's `handler_args` (aiohttp's RequestHandler options).
HANDLER_ARGS = {
    "max_line_size": MAX_HEADER_BYTES,
    "max_field_size": MAX_HEADER_BYTES,
    "logger": _ServerLog(logging.getLogger("aiohttp.server"), {}),
}


@dataclass(frozen=True)
class ErrorShape:
    """An error body other than the canonical one, for the routes of a seed service whose clients expect their
    own. `body(error, status)` writes it; `schema` describes it (the OpenAPI document names the component after
    the schema). The stable code goes in the X-Error-Code header."""

    schema: type[Schema]
    body: Callable[[ChatError, int], dict]


ERROR_SHAPE = web.RequestKey("error_shape", ErrorShape)  # set by the adapter for a route that has one


def error_response(exc: ChatError, shape: ErrorShape | None = None) -> web.Response:
    status = STATUS[exc.code]
    if shape is None:
        body = {"error": exc.message, "details": exc.details, "code": exc.code.value, "status": status}
    else:
        body = shape.body(exc, status)
    response = web.json_response(body, status=status)
    if shape is not None:
        response.headers[ERROR_CODE] = exc.code.value
    if exc.code is Code.RATE_LIMITED and exc.details and "retry_after" in exc.details:
        # Rounded up: a client that waits the whole seconds it is told must be let in.
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.details["retry_after"])))
    if exc.code in (Code.AUTH_REQUIRED, Code.INVALID_TOKEN, Code.TOKEN_EXPIRED):
        response.headers["WWW-Authenticate"] = 'Bearer realm="chat"'
    if exc.code is Code.RANGE_NOT_SATISFIABLE and exc.details and "size" in exc.details:
        response.headers["Content-Range"] = f"bytes */{exc.details['size']}"  # RFC 9110: the file's length
    return response


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Every failure becomes the error JSON; nothing escapes as an HTML page or a traceback."""
    started = time.perf_counter()
    request_id = context.request_id(request.headers.get(REQUEST_ID))  # the caller's if sane, else a new one
    request[REQUEST_ID_KEY] = request_id
    context.REQUEST_ID.set(request_id)  # on every line logged while handling it (the request's own task)
    try:
        response = await handler(request)
    except ChatError as exc:
        response = error_response(exc, request.get(ERROR_SHAPE))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        fallback = Code.INVALID_PAYLOAD if exc.status < 500 else Code.INTERNAL_ERROR
        error = ChatError(_HTTP_CODES.get(exc.status, fallback), exc.reason.lower())
        response = error_response(error, request.get(ERROR_SHAPE))
        if "Allow" in exc.headers:  # a 405 must name the methods the route accepts
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception("request %s %s failed (request id %s)", request.method, request.path, request_id)
        error = ChatError(Code.INTERNAL_ERROR, f"internal error (request id {request_id})")
        response = error_response(error, request.get(ERROR_SHAPE))
    if not response.prepared:  # a WebSocket has sent its headers long before it returns
        response.headers[REQUEST_ID] = request_id
    # The path only: a query string may carry a token (Socket.IO's `?token=`) or a link's signature.
    log.debug("%s %s -> %d in %.1f ms", request.method, request.path, response.status, _ms_since(started))
    return response


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
