"""The API documents as pages for people: Swagger UI on the OpenAPI document, and the real-time events.

Everything is served from this process (Swagger UI is vendored under static/vendor/), so the pages work
offline and carry a strict Content-Security-Policy: no inline script, no other host. The events page is
rendered here, with no script at all, laid out as AsyncAPI's own viewer lays a document out (a sidebar of
channels and operations; per operation its payload as a tree of properties; descriptions as Markdown).
AsyncAPI's viewer itself (`@asyncapi/react-component`'s standalone bundle) cannot run under a CSP without
`'unsafe-eval'`: docs/architecture.md, "API documents".
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

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
FAVICON_PATH = "/favicon.ico"  # what browsers ask for when a page names no icon: the SVG one, static/favicon.svg
FAVICON = Path(__file__).resolve().parents[2] / "static" / "favicon.svg"
HTML_PAGES = frozenset({"/", DOCS_PATH, EVENTS_PATH, FAVICON_PATH})

# Swagger UI sets inline styles and inlines its icons as data: URIs; a "try it out" image reply is shown
# from a blob: URL. Scripts come from this origin only, and the page talks to this origin only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVENTS_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

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


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(FAVICON, headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"})


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    return _BOLD.sub(r"<strong>\1</strong>", _CODE.sub(r"<code>\1</code>", html.escape(text)))


def inline_markdown(text: str) -> str:
    """One line of the document's Markdown (a summary): `code` and **bold**, the rest escaped."""
    return _inline(text or "")


def markdown(text: str) -> str:
    """The Markdown of the document's descriptions, as HTML: paragraphs (hard-wrapped lines joined), "- " lists
    (an indented line continues an item), `code` and **bold**. The text is escaped first, so these few tags
    are the only markup that can come out of it (the template shows it with `|safe`, and nothing else)."""
    out: list[str] = []
    paragraph: list[str] = []
    items: list[list[str]] = []

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(' '.join(item))}</li>" for item in items) + "</ul>")
            items.clear()

    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith(("- ", "* ")):
            if paragraph:
                flush()
            items.append([line[2:]])
        elif items and raw[:1].isspace():
            items[-1].append(line)
        else:
            if items:
                flush()
            paragraph.append(line)
    flush()
    return "".join(out)


SCHEMA_PREFIX = "#/components/schemas/"
CONSTRAINTS = (
    ("minLength", "min length {}"),
    ("maxLength", "max length {}"),
    ("minimum", ">= {}"),
    ("maximum", "<= {}"),
    ("exclusiveMinimum", "> {}"),
    ("exclusiveMaximum", "< {}"),
    ("minItems", "min items {}"),
    ("maxItems", "max items {}"),
    ("pattern", "pattern {}"),
    ("default", "default {}"),
)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def schema_view(schema: object) -> dict:
    """A JSON Schema as the tree the page shows (as AsyncAPI's viewer does): its type, description and
    constraints, then its properties (each with its name and whether it is required), its items or its
    alternatives, each a view of its own. A reference to a shared schema is shown by name, with a link."""
    if not isinstance(schema, dict):
        return {"type": "any" if schema is True else "nothing", "description": "", "constraints": [], "children": []}
    ref = schema.get("$ref", "")
    if ref.startswith(SCHEMA_PREFIX):
        name = ref.removeprefix(SCHEMA_PREFIX)
        return {
            "type": name,
            "ref": name,
            "description": markdown(schema.get("description", "")),
            "constraints": [],
            "children": [],
        }
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    constraints = [label.format(_json(schema[key])) for key, label in CONSTRAINTS if key in schema]
    if "const" in schema:
        constraints.insert(0, f"= {_json(schema['const'])}")
    if "enum" in schema:
        constraints.insert(0, "one of " + ", ".join(_json(value) for value in schema["enum"]))
    if "format" in schema:
        kinds = [f"{k} ({schema['format']})" if k == "string" else k for k in kinds] or [schema["format"]]
    children: list[dict] = []
    required = set(schema.get("required", []))
    for name, sub in (schema.get("properties") or {}).items():
        children.append({"name": name, "required": name in required, **schema_view(sub)})
    if isinstance(schema.get("additionalProperties"), dict):
        children.append({"name": "<any name>", "required": False, **schema_view(schema["additionalProperties"])})
    elif schema.get("additionalProperties") is False and schema.get("properties"):
        constraints.append("no other properties")
    items = schema.get("items")
    if isinstance(items, dict):
        item = schema_view(items)
        kinds = [f"array of {item['type']}" if k == "array" else k for k in kinds]
        if item.get("ref"):
            children.append({"name": "items", "required": False, **item})
        else:
            constraints += item["constraints"]
            children += item["children"]
    elif isinstance(items, list):  # a tuple (Phoenix's frames): one view per position
        children += [{"name": f"[{i}]", "required": True, **schema_view(sub)} for i, sub in enumerate(items)]
    for keyword in ("oneOf", "anyOf", "allOf"):
        for i, sub in enumerate(schema.get(keyword) or []):
            label = {"oneOf": "one of", "anyOf": "any of", "allOf": "all of"}[keyword]
            children.append({"name": f"{label} #{i + 1}", "required": False, **schema_view(sub)})
    if not kinds:
        kinds = ["object"] if schema.get("properties") else [] if children else ["any"]
    return {
        "type": " | ".join(kinds) or next((c["name"].split(" #")[0] for c in children), "any"),
        "description": markdown(schema.get("description", "")),
        "constraints": constraints,
        "children": children,
    }


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
    data: the template escapes it, but for the `*_html` fields (Markdown made here, escaped first) and the
    schema views' `description`, which it shows with `|safe`."""
    channels = {
        key: {
            "key": key,
            "title": channel.get("title") or key,
            "address": channel["address"],
            "description": channel.get("description", ""),
            "description_html": markdown(channel.get("description", "")),
            "parameters": [
                {
                    "name": name,
                    "description": parameter.get("description", ""),
                    "description_html": inline_markdown(parameter.get("description", "")),
                }
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
            "summary_html": inline_markdown(operation.get("summary") or message.get("summary", "")),
            "errors": operation.get("x-error-codes", []),
            "action": operation["action"],
            "payload": _pretty(message.get("payload", {})),
            "payload_view": schema_view(message.get("payload", {})),
            "replies": [
                {
                    "name": reply["name"],
                    "payload": _pretty(reply.get("payload", {})),
                    "view": schema_view(reply.get("payload", {})),
                }
                for reply in replies
            ],
        }
        channels[channel_key]["events"].append(event)
        events.append(event)
    schemas = [
        {"name": name, "schema": _pretty(schema), "view": schema_view(schema)}
        for name, schema in document["components"]["schemas"].items()
    ]
    info = document["info"]
    return {
        "title": info["title"],
        "version": info["version"],
        "description": info.get("description", ""),
        "description_html": markdown(info.get("description", "")),
        "channels": list(channels.values()),
        "events": events,
        "schemas": schemas,
    }


def add_routes(app: web.Application) -> None:
    app.router.add_get(DOCS_PATH, api_docs, name="api_docs")
    app.router.add_get(EVENTS_PATH, api_events, name="api_events")
    app.router.add_get(FAVICON_PATH, favicon, name="favicon")
