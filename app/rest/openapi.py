"""The OpenAPI 3.1 document, generated from the route declarations and their marshmallow schemas."""

from __future__ import annotations

import re
from collections import defaultdict

from app.chat.errors import DESCRIPTIONS, Code
from app.chat.rules import MAX_ID_LENGTH, MAX_USERNAME_LENGTH
from app.rest.api import COMMON_ERRORS, Route
from app.rest.errors import ERROR_CODE, STATUS
from app.rest.schemas import EMOJI, ErrorResponseSchema
from app.schemas.fields import END, ID_PATTERN, USER_ID_TEXT
from app.schemas.jsonschema import new_spec, schema_name

DESCRIPTION = """\
REST API of the chat backend. Authenticate with `Authorization: Bearer <JWT>`; the routes of seed 003 (a
Django service: `/api/conversations`, `/api/rooms/...`) also take the bare token, `Authorization: <JWT>`, as
that service's clients send it (security scheme `bareToken`). Every error is `{error, details, code, status}`
with a stable `code`, except on the routes of seed 002 (a Socket.IO + Bull service: `/api/v2/chat/...`), whose
errors are that service's `{error, details, code}` with the HTTP status as `code` and the stable code in the
`X-Error-Code` header. Where an id or a text must be printable, it is as Python's `str.isprintable` says: the
patterns leave out controls, separators other than the space, format characters and the first plane's private
use area; code points Unicode has not assigned, and the private use planes, are refused too. The stable codes:

""" + "\n".join(f"- `{code.value}` ({STATUS[code]}): {text}" for code, text in DESCRIPTIONS.items())

_PATH_PARAMETER = re.compile(r"{(\w+)}")

# The token as the whole header value, no scheme (seed 003's clients: `headers: {Authorization: token}`).
BARE_TOKEN = {
    "type": "apiKey",
    "in": "header",
    "name": "Authorization",
    "description": "The JWT itself as the whole `Authorization` value, without `Bearer ` (as seed 003's clients "
    "send it). Taken only by the operations that list this scheme; `Bearer <JWT>` works there too.",
}


# What each path parameter may be, by name (what the core checks; a value outside it is answered 400 or 404).
_USER_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, **USER_ID_TEXT}
PATH_PARAMETERS: dict[str, dict] = {
    "room_id": {"type": "string", "pattern": ID_PATTERN, "description": "A room id."},
    "message_id": {"type": "string", "pattern": ID_PATTERN, "description": "A message id."},
    "user_id": {**_USER_ID, "description": "A user id (the token's `sub`), percent-encoded."},
    "kind": {"type": "string", "enum": ["room", "user"], "description": "`room` or `user` (in any case)."},
    "target_id": {**_USER_ID, "description": "The room's id (`kind` room) or the user's id (`kind` user)."},
    "emoji": {"type": "string", **EMOJI, "description": "Exactly one emoji, percent-encoded."},
    "username": {
        "type": "string",
        "pattern": rf"^[\w.@+-]{{1,{MAX_USERNAME_LENGTH}}}{END}",
        "description": f"A username: 1 to {MAX_USERNAME_LENGTH} letters, digits (of any script) or `_ . @ + -`.",
    },
}


def build_openapi(routes: list[Route], version: str) -> dict:
    spec, _plugin = new_spec("Chat backend: REST API", version, DESCRIPTION)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme("bareToken", BARE_TOKEN)
    spec.components.schema("ErrorResponse", schema=ErrorResponseSchema)
    for shape in dict.fromkeys(route.error_shape for route in routes if route.error_shape is not None):
        spec.components.schema(schema_name(shape.schema), schema=shape.schema)
    for route in routes:
        spec.path(path=route.path, operations={route.method.lower(): _operation(route)})
    document = spec.to_dict()
    for route in routes:  # what a body schema states beyond its fields (`JSON_SCHEMA`: one field or another)
        extra = getattr(route.body, "JSON_SCHEMA", None)
        if extra:
            document["components"]["schemas"][schema_name(route.body)].update(extra)
    return document


def _operation(route: Route) -> dict:
    operation: dict = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag]}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS.get(name, {"type": "string"})}
        for name in _PATH_PARAMETER.findall(route.path)
    ]
    if route.query is not None:
        parameters.append({"in": "query", "schema": route.query})
    for name, description in route.headers:
        parameters.append({"name": name, "in": "header", "required": False, "description": description,
                           "schema": {"type": "string"}})  # fmt: skip
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    if route.files:
        operation["requestBody"] = _multipart(route.files)
    responses: dict = {}
    for status in (route.status, *route.alt_status):
        if route.produces is not None and route.produces.startswith("text/") and status == route.status:
            responses[str(status)] = _text(route.produces, route.response)
        elif route.produces is not None and status in (route.status, 206):
            responses[str(status)] = _download(route.produces, partial=status == 206)
        elif status == 204 or route.response is None:
            responses[str(status)] = {"description": "Done."}
        else:
            responses[str(status)] = {
                # A failure status among the success ones (503 of /ready) has the same body, saying why.
                "description": "Success." if status < 400 else "Not so: the same body, saying why.",
                "content": {"application/json": {"schema": route.response}},
            }
    codes = (*COMMON_ERRORS, *route.errors) if route.auth else route.errors
    if route.body is not None:  # any body is read up to MAX_FRAME_BYTES
        codes = (*codes, Code.PAYLOAD_TOO_LARGE)
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in codes:
        by_status[STATUS[code]].append(code.value)
    listed = {status: ", ".join(f"`{name}`" for name in sorted(set(names))) for status, names in by_status.items()}
    for status, names in sorted(listed.items()):
        if route.error_shape is None:
            responses[str(status)] = {
                "description": "Error codes: " + names,
                "content": {"application/json": {"schema": "ErrorResponse"}},
            }
        else:  # the seed's body, its `code` the HTTP status; the stable code in a header
            responses[str(status)] = {
                "description": f"Error codes (in the {ERROR_CODE} header; the body's code is {status}): " + names,
                "headers": {ERROR_CODE: {"description": "The stable error code.", "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": schema_name(route.error_shape.schema)}},
            }
    operation["responses"] = responses
    if not route.auth:
        operation["security"] = []
    else:  # alternatives: either scheme will do
        operation["security"] = [{"bearer": []}, {"bareToken": []}] if route.bare_token else [{"bearer": []}]
    return operation


def _text(media_type: str, json_schema=None) -> dict:
    """A text body that is not JSON (Prometheus metrics); with `json_schema`, JSON instead when asked for."""
    if json_schema is None:
        return {"description": f"The body, as `{media_type}`.", "content": {media_type: {"schema": {"type": "string"}}}}
    return {
        "description": f"The body, as `{media_type}` by default, or JSON when asked for (see the operation).",
        "content": {media_type: {"schema": {"type": "string"}}, "application/json": {"schema": json_schema}},
    }


def _multipart(names: tuple[str, ...]) -> dict:
    """A multipart/form-data body carrying one file under any one of `names`."""
    file = {"type": "string", "contentMediaType": "application/octet-stream", "minLength": 1}  # empty: upload_empty
    return {
        "required": True,
        "description": "One file, under any one of the field names " + ", ".join(f"`{n}`" for n in names) + ".",
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {name: file for name in names}, "minProperties": 1}
            }
        },
    }


def _download(media_type: str, partial: bool = False) -> dict:
    """A streamed file (or, `partial`, the byte range asked for), with the headers that keep a browser from
    running or sniffing it."""
    text = {"schema": {"type": "string"}}
    ranges: dict = {"Accept-Ranges": {**text, "description": "`bytes`: one range may be asked for with `Range`."}}
    if partial:
        ranges["Content-Range"] = {**text, "description": "`bytes <first>-<last>/<size>`."}
    description = (
        "The bytes of the one range asked for with `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` (several ranges, "
        "or a range sent with an `If-Range` other than the file's ETag, are answered with the whole file)."
        if partial
        else "The file's bytes, as its Content-Type (decided from the bytes at upload)."
    )
    return {
        "description": description,
        "headers": {
            **ranges,
            "Content-Disposition": {
                **text,
                "description": "`inline` for PNG, JPEG, GIF and WebP images; `attachment` for anything else. "
                "The name is in `filename*` (RFC 6266).",
            },
            "X-Content-Type-Options": {**text, "description": "`nosniff`."},
            "Content-Security-Policy": {**text, "description": "`default-src 'none'; sandbox`."},
            "Cache-Control": {**text, "description": "`private, max-age=<seconds until the link expires>`."},
        },
        "content": {media_type: {"schema": {"type": "string", "contentMediaType": media_type}}},
    }
