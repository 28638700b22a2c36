"""All REST routes, and `setup` that mounts them with their documents."""

from __future__ import annotations

from aiohttp import web

from app.rest import attachments, lists, me, messages, presence, rooms, search, system
from app.rest.api import CONTEXT, RestContext, Route, add_routes
from app.rest.openapi import build_openapi

ROUTES: list[Route] = [
    *system.ROUTES,
    *me.ROUTES,
    *rooms.ROUTES,
    *messages.ROUTES,
    *presence.ROUTES,
    *lists.ROUTES,
    *attachments.ROUTES,
    *search.ROUTES,
]


def setup(app: web.Application, context: RestContext, asyncapi: dict, version: str) -> None:
    app[CONTEXT] = context
    app[system.DOCUMENTS] = {"openapi": build_openapi(ROUTES, version), "asyncapi": asyncapi}
    add_routes(app, ROUTES)
