"""The API documents as pages for people: Swagger UI on the OpenAPI document, tables of the real-time events.

Everything is served from this process (Swagger UI is vendored under static/vendor/), so the pages work
offline and carry a strict Content-Security-Policy: no inline script, no other host.
"""

from __future__ import annotations

import json

import aiohttp_jinja2
from aiohttp import web

from app.rest.system import ASYNCAPI_PATH, DOCUMENTS, OPENAPI_PATH

SWAGGER_UI_VERSION = "5.35.0"  # swagger-ui-dist from npm, in static/vendor/swagger-ui-<version>/
SWAGGER_UI = f"/static/vendor/swagger-ui-{SWAGGER_UI_VERSION}"

DOCS_PATH = "/api/docs"
EVENTS_PATH = "/api/docs/events"

# The routes that are pages for people, not operations of the JSON API: the OpenAPI document leaves them out
# on purpose (tests/api/test_openapi.py checks every other route of the router is documented). Static files
# under /static/ and the real-time sockets (the AsyncAPI channels) are not routes of this kind either.
HTML_PAGES = frozenset({"/", DOCS_PATH, EVENTS_PATH})

# Swagger UI sets inline styles and inlines its icons as data: URIs; a "try it out" image reply is shown
# from a blob: URL. Scripts come from this origin only, and the page talks to this origin only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVENTS_CSP = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

DIRECTIONS = {"receive": "client → server", "send": "server → client"}


def _secured(response: web.Response, policy: str) -> web.Response:
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def api_docs(request: web.Request) -> web.Response:
    context = {
        "swagger_ui": SWAGGER_UI,
        "swagger_ui_version": SWAGGER_UI_VERSION,
        "events_path": EVENTS_PATH,
        "openapi_path": OPENAPI_PATH,
        "asyncapi_path": ASYNCAPI_PATH,
    }
    return _secured(aiohttp_jinja2.render_template("api-docs.html", request, context), DOCS_CSP)


async def api_events(request: web.Request) -> web.Response:
    context = {
        "docs_path": DOCS_PATH,
        "events_path": EVENTS_PATH,
        "asyncapi_path": ASYNCAPI_PATH,
        **events_table(request.app[DOCUMENTS]["asyncapi"]),
    }
    return _secured(aiohttp_jinja2.render_template("api-events.html", request, context), EVENTS_CSP)


def _resolve(document: dict, ref: str) -> dict:
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _pretty(schema: object) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False)


def events_table(document: dict) -> dict:
    """What the events page shows, taken from the AsyncAPI document: per channel (socket), its address,
    parameters and description, then each of its operations with its payload schema and the schemas of
    what answers it (an acknowledgement, a reply frame); then the shared schemas they refer to. Plain
    data: the template escapes it."""
    channels = {
        key: {
            "key": key,
            "title": channel.get("title") or key,
            "address": channel["address"],
            "description": channel.get("description", ""),
            "parameters": [
                {"name": name, "description": parameter.get("description", "")}
                for name, parameter in channel.get("parameters", {}).items()
            ],
            "events": [],
        }
        for key, channel in document["channels"].items()
    }
    events = []
    for operation_key, operation in document["operations"].items():
        [message_ref] = operation["messages"]
        message = _resolve(document, message_ref["$ref"])
        replies = [_resolve(document, ref["$ref"]) for ref in operation.get("reply", {}).get("messages", [])]
        channel_key = operation["channel"]["$ref"].removeprefix("#/channels/")
        topics = document["channels"][channel_key].get("x-topics", {})  # Phoenix: a message is of one topic kind
        event = {
            "anchor": f"op-{operation_key}",
            "name": message["name"],
            "topic": topics.get(message.get("x-topic"), {}).get("topic"),
            "direction": DIRECTIONS[operation["action"]],
            "summary": operation.get("summary") or message.get("summary", ""),
            "errors": operation.get("x-error-codes", []),
            "payload": _pretty(message.get("payload", {})),
            "replies": [{"name": reply["name"], "payload": _pretty(reply.get("payload", {}))} for reply in replies],
        }
        channels[channel_key]["events"].append(event)
        events.append(event)
    schemas = [{"name": name, "schema": _pretty(schema)} for name, schema in document["components"]["schemas"].items()]
    info = document["info"]
    return {
        "title": info["title"],
        "version": info["version"],
        "description": info.get("description", ""),
        "channels": list(channels.values()),
        "events": events,
        "schemas": schemas,
    }


def add_routes(app: web.Application) -> None:
    app.router.add_get(DOCS_PATH, api_docs, name="api_docs")
    app.router.add_get(EVENTS_PATH, api_events, name="api_events")
