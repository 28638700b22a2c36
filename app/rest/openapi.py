"""The OpenAPI 3.1 document, generated from the route declarations and their marshmallow schemas."""

from __future__ import annotations

import re
from collections import defaultdict

from app.chat.errors import DESCRIPTIONS, Code
from app.rest.api import COMMON_ERRORS, Route
from app.rest.errors import STATUS
from app.rest.schemas import ErrorResponseSchema
from app.schemas.jsonschema import new_spec

DESCRIPTION = """\
REST API of the chat backend. Authenticate with `Authorization: Bearer <JWT>`. Every error is
`{error, details, code, status}` with a stable `code`:

""" + "\n".join(f"- `{code.value}` ({STATUS[code]}): {text}" for code, text in DESCRIPTIONS.items())

_PATH_PARAMETER = re.compile(r"{(\w+)}")


def build_openapi(routes: list[Route], version: str) -> dict:
    spec, _plugin = new_spec("Chat backend: REST API", version, DESCRIPTION)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("ErrorResponse", schema=ErrorResponseSchema)
    for route in routes:
        spec.path(path=route.path, operations={route.method.lower(): _operation(route)})
    return spec.to_dict()


def _operation(route: Route) -> dict:
    operation: dict = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag]}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(route.path)
    ]
    if route.query is not None:
        parameters.append({"in": "query", "schema": route.query})
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    responses: dict = {}
    for status in (route.status, *route.alt_status):
        if status == 204 or route.response is None:
            responses[str(status)] = {"description": "Done."}
        else:
            responses[str(status)] = {
                "description": "Success.",
                "content": {"application/json": {"schema": route.response}},
            }
    codes = (*COMMON_ERRORS, *route.errors) if route.auth else route.errors
    if route.body is not None:  # any body is read up to MAX_FRAME_BYTES
        codes = (*codes, Code.PAYLOAD_TOO_LARGE)
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in codes:
        by_status[STATUS[code]].append(code.value)
    for status, names in sorted(by_status.items()):
        responses[str(status)] = {
            "description": "Error codes: " + ", ".join(f"`{name}`" for name in sorted(set(names))),
            "content": {"application/json": {"schema": "ErrorResponse"}},
        }
    operation["responses"] = responses
    operation["security"] = [{"bearer": []}] if route.auth else []
    return operation
