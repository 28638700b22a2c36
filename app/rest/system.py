"""Routes without a token: health and the API documents."""

from __future__ import annotations

from aiohttp import web

from app.rest.api import Call, Route
from app.rest.schemas import HealthSchema

DOCUMENTS = web.AppKey("api_documents", dict)


async def health(call: Call) -> dict:
    return {"status": "ok"}


async def openapi_document(call: Call) -> dict:
    return call.request.app[DOCUMENTS]["openapi"]


async def asyncapi_document(call: Call) -> dict:
    return call.request.app[DOCUMENTS]["asyncapi"]


ROUTES = [
    Route("GET", "/health", health, "The process is alive", "system", response=HealthSchema, auth=False),
    Route("GET", "/api/openapi.json", openapi_document, "This document", "system", auth=False),
    Route("GET", "/api/asyncapi.json", asyncapi_document, "The AsyncAPI document of the Socket.IO protocol",
          "system", auth=False),
]  # fmt: skip
