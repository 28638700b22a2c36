"""All REST routes, and `setup` that mounts them with their documents."""

from __future__ import annotations

from aiohttp import web

from app.rest import (
    attachments,
    bull_seed,
    dev,
    django_seed,
    docs_pages,
    lists,
    me,
    messages,
    nestjs_seed,
    ops,
    presence,
    rooms,
    search,
    system,
)
from app.rest.api import CONTEXT, RestContext, Route, add_routes
from app.rest.openapi import build_openapi
from config.settings import AuthConfig

ROUTES: list[Route] = [
    *system.ROUTES,
    *ops.ROUTES,
    *me.ROUTES,
    *rooms.ROUTES,
    *messages.ROUTES,
    *presence.ROUTES,
    *lists.ROUTES,
    *attachments.ROUTES,
    *search.ROUTES,
    *django_seed.ROUTES,
    *bull_seed.ROUTES,
    *nestjs_seed.ROUTES,
]


def setup(
    app: web.Application, context: RestContext, asyncapi: dict, version: str, dev_auth: AuthConfig | None = None
) -> None:
    """Mount every route. `dev_auth` (the auth settings, given only when DEV_MODE is on) adds the development
    routes of `app.rest.dev`; without it they are neither routed nor documented (404)."""
    mounted = [*ROUTES, *(dev.setup(app, dev_auth) if dev_auth is not None else ())]
    app[CONTEXT] = context
    app[system.DOCUMENTS] = {"openapi": build_openapi(mounted, version), "asyncapi": asyncapi}
    add_routes(app, mounted)
    docs_pages.add_routes(app)  # the documents as pages for people, left out of OpenAPI
