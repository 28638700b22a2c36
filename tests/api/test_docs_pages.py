"""The API documents as pages for people: /api/docs (Swagger UI, vendored, offline) and /api/docs/events
(the AsyncAPI document rendered on the server, laid out as AsyncAPI's viewer does), each under a strict
Content-Security-Policy, each with the favicon."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path

from markupsafe import escape

from app.rest.docs_pages import DOCS_PATH, EVENTS_PATH, FAVICON_PATH, SWAGGER_UI_VERSION, events_table, markdown
from app.rest.system import ASYNCAPI_PATH, DOCUMENTS, OPENAPI_PATH

ROOT = Path(__file__).resolve().parents[2]

SCRIPT_TYPES = {"text/javascript", "application/javascript"}
ANY_URL = re.compile(r"(?:https?:)?//[\w.-]+", re.I)  # a scheme or a protocol-relative host


class _Assets(HTMLParser):
    """The URLs a page loads (scripts, style sheets, images), the ones it links to, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: dict[str, str] = {}  # url -> kind ("script", "style", "image", "spec")
        self.linked: set[str] = set()
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        assert not any(name.startswith("on") for name in found), f"inline handler on <{tag}>: {found}"
        if tag == "script":
            self._in_script = True
            assert found.get("src"), "every script is a file"
            self.loaded[found["src"]] = "script"
        elif tag == "link" and found.get("rel") == "stylesheet":
            self.loaded[found["href"]] = "style"
        elif tag == "link" and found.get("rel") == "icon":
            self.loaded[found["href"]] = "image"
        elif tag == "img":
            self.loaded[found["src"]] = "image"
        elif tag == "a":
            self.linked.add(found["href"])
        if "data-url" in found:
            self.loaded[found["data-url"]] = "spec"
        assert tag != "style", "no inline style sheet"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


async def test_the_api_docs_page_loads_only_local_assets_under_a_strict_csp(api, openapi_document):
    async with api.client.get(DOCS_PATH) as response:
        assert (response.status, response.content_type) == (200, "text/html")
        html = await response.text()
        csp = response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval, no other host
    assert directives["connect-src"] == ["'self'"]
    assert all("http" not in source and "*" not in source for sources in directives.values() for source in sources)
    page = _Assets()
    page.feed(html)
    assert page.inline_scripts == []
    script = (ROOT / "static" / "api-docs.js").read_text()
    for text, where in ((html, DOCS_PATH), (script, "static/api-docs.js")):
        assert ANY_URL.findall(text) == [], f"{where} names another host"
    assert "validatorUrl: null" in script  # else Swagger UI sends the document to an outside validator
    vendored = f"/static/vendor/swagger-ui-{SWAGGER_UI_VERSION}/"
    assert {f"{vendored}swagger-ui-bundle.js", f"{vendored}swagger-ui.css", "/static/api-docs.js"} <= set(page.loaded)
    assert (ROOT / vendored.strip("/") / "LICENSE").is_file()
    expected_types = {"script": SCRIPT_TYPES, "style": {"text/css"}, "image": {"image/png", "image/svg+xml"}}
    for url, kind in page.loaded.items():
        assert url.startswith("/") and not url.startswith("//"), url
        async with api.client.get(url) as asset:
            assert asset.status == 200, url
            if kind == "spec":
                assert await asset.json() == openapi_document
            else:
                assert asset.content_type in expected_types[kind], (url, asset.content_type)
    assert {OPENAPI_PATH, ASYNCAPI_PATH, EVENTS_PATH} <= page.linked
    for url in page.linked:
        assert url.startswith("/") and not url.startswith("//"), url
        async with api.client.get(url) as linked:
            assert linked.status == 200, url


async def test_the_events_page_shows_every_event_and_schema_of_the_asyncapi_document(api):
    asyncapi = api.app[DOCUMENTS]["asyncapi"]
    async with api.client.get(EVENTS_PATH) as response:
        assert (response.status, response.content_type) == (200, "text/html")
        html = await response.text()
        csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no script at all
    assert "img-src 'self'" in csp  # the favicon
    page = _Assets()
    page.feed(html)
    assert [url for url, kind in page.loaded.items() if kind == "script"] == []
    assert ANY_URL.findall(html) == []
    table = events_table(asyncapi)
    assert len(table["events"]) == len(asyncapi["operations"])
    # Grouped per channel (socket): each shows its address and every message it has, as an event or an answer.
    assert [channel["key"] for channel in table["channels"]] == list(asyncapi["channels"])
    assert {"socket", "phoenix", "fastapi", "django", "django-notifications", "django-conversation-notifications"} <= {
        channel["key"] for channel in table["channels"]
    }
    # Phoenix's messages are of a kind of topic: each event says which.
    phoenix = next(channel for channel in table["channels"] if channel["key"] == "phoenix")
    topics = {"phoenix", "chat:{room_id}", "notifications:{user_id}", "*"}
    assert {event["topic"] for event in phoenix["events"]} == topics
    assert "<small>on <code>chat:{room_id}</code></small>" in html
    for channel in table["channels"]:
        events = channel["events"]
        shown = {e["name"] for e in events} | {reply["name"] for e in events for reply in e["replies"]}
        assert shown == {m["name"] for m in asyncapi["channels"][channel["key"]]["messages"].values()}, channel["key"]
        assert f'id="channel-{channel["key"]}"' in html
        assert f"<code>{escape(channel['address'])}</code>" in html
        assert channel["description_html"] in html and channel["description_html"]
    for event in table["events"]:
        assert f'id="{event["anchor"]}"' in html
        assert f"<code>{escape(event['name'])}</code>" in html, event["name"]
        assert escape(event["payload"]) in html
        assert all(escape(reply["payload"]) in html for reply in event["replies"])
    for schema in asyncapi["components"]["schemas"]:
        assert f'id="schema-{schema}"' in html


async def test_the_events_page_renders_markdown_and_schemas_as_trees_not_raw_text(api):
    """As AsyncAPI's viewer shows a document: descriptions as Markdown (no backtick, no preformatted block),
    each payload as its properties with their types, folded (<details>) so that the page stays short."""
    asyncapi = api.app[DOCUMENTS]["asyncapi"]
    async with api.client.get(EVENTS_PATH) as response:
        html = await response.text()
    intro = asyncapi["info"]["description"]
    assert "`" in intro and "<pre" not in html.split('id="channel-')[0]  # the introduction is not a <pre>
    assert markdown(intro) in html and "`" not in str(markdown(intro))
    assert "<li><code>invalid_payload</code>: " in html  # the list of error codes is a list
    table = events_table(asyncapi)
    send = next(e for e in table["events"] if e["name"] == "message:send")
    names = {child["name"]: child for child in send["payload_view"]["children"]}
    assert names["room_id"]["required"] and not names["content"]["required"]
    assert names["type"]["type"] == "string" and any("one of" in c for c in names["type"]["constraints"])
    assert '<code class="prop-name">room_id</code>' in html
    # Every payload is folded: what shows first is one line per operation.
    assert html.count('<details class="payload') == len(table["events"]) + sum(
        len(e["replies"]) for e in table["events"]
    )
    assert "<details open" not in html
    # A shared schema is named, with a link to it, not repeated.
    assert re.search(r'<a class="type ref" href="#schema-[\w-]+">', html)


def test_markdown_is_a_small_safe_subset():
    assert str(markdown("A `code` and **bold**\nwrapped line.\n\n- one\n  more\n- two")) == (
        "<p>A <code>code</code> and <strong>bold</strong> wrapped line.</p><ul><li>one more</li><li>two</li></ul>"
    )
    assert str(markdown("<b>`<i>`</b>")) == "<p>&lt;b&gt;<code>&lt;i&gt;</code>&lt;/b&gt;</p>"


async def test_the_favicon_is_served_where_browsers_ask_for_it(api):
    async with api.client.get(FAVICON_PATH) as response:
        assert (response.status, response.content_type) == (200, "image/svg+xml")
        assert (await response.read()) == (ROOT / "static" / "favicon.svg").read_bytes()
    for path in (DOCS_PATH, EVENTS_PATH):
        async with api.client.get(path) as response:
            page = _Assets()
            page.feed(await response.text())
        assert page.loaded.get("/static/favicon.svg") == "image", path


async def test_the_events_page_renders_the_document_as_text(api):
    """Autoescaping is on: markup in the document (it is ours, but still) shows as text, never as HTML."""
    document = copy.deepcopy(api.app[DOCUMENTS]["asyncapi"])
    document["info"]["description"] = "<script>alert(1)</script>"
    next(iter(document["operations"].values()))["summary"] = '<img src=x onerror="alert(2)">'
    document["channels"]["fastapi"]["description"] = "<iframe src=/>"
    document["channels"]["django"]["parameters"]["username"]["description"] = "<b>who</b>"
    api.app[DOCUMENTS]["asyncapi"] = document
    async with api.client.get(EVENTS_PATH) as response:
        html = await response.text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "<iframe" not in html and "&lt;iframe src=/&gt;" in html
    assert "<b>who" not in html and "&lt;b&gt;who&lt;/b&gt;" in html
