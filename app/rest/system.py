"""Routes without a token: health and the API documents.

Each document is built once and served at two paths: under the canonical API (`/api/v1/openapi.json`,
`/api/v1/asyncapi.json`) and at the root `/api/` where clients have always looked for it. Both paths are
operations of the OpenAPI document, the root one under its own operationId.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from app.chat.model import format_time
from app.rest.api import Call, Route, v1
from app.rest.schemas import HealthSchema

DOCUMENTS = web.AppKey("api_documents", dict)

OPENAPI_PATH = v1("/openapi.json")
ASYNCAPI_PATH = v1("/asyncapi.json")
OPENAPI_ROOT_PATH = "/api/openapi.json"  # the same documents, at the root
ASYNCAPI_ROOT_PATH = "/api/asyncapi.json"


async def health(call: Call) -> dict:
    return {"status": "ok", "timestamp": format_time(datetime.now(UTC))}


async def openapi_document(call: Call) -> dict:
    return call.request.app[DOCUMENTS]["openapi"]


async def asyncapi_document(call: Call) -> dict:
    return call.request.app[DOCUMENTS]["asyncapi"]


ROUTES = [
    Route("GET", "/health", health, "The process is alive, and its time", "system", response=HealthSchema, auth=False),
    Route("GET", OPENAPI_PATH, openapi_document, "This document", "system", auth=False),
    Route("GET", OPENAPI_ROOT_PATH, openapi_document, f"This document (the same as {OPENAPI_PATH})", "system",
          auth=False, name="openapi_document_at_root"),
    Route("GET", ASYNCAPI_PATH, asyncapi_document, "The AsyncAPI document of every real-time dialect",
          "system", auth=False),
    Route("GET", ASYNCAPI_ROOT_PATH, asyncapi_document,
          f"The AsyncAPI document of every real-time dialect (the same as {ASYNCAPI_PATH})", "system", auth=False,
          name="asyncapi_document_at_root"),
]  # fmt: skip
