"""The test page as served: its policy, its scripts, its vendored client. No browser needed for these."""

from __future__ import annotations

import hashlib
import re
import urllib.request
from html.parser import HTMLParser

from tests.browser.conftest import ROOT, WAIT_MS

STATIC = ROOT / "static"
# The vendored Socket.IO client: `dist/socket.io.min.js` of the npm package socket.io-client, unchanged.
SOCKET_IO_VERSION = "4.8.4"
SOCKET_IO_SHA256 = "d5d79a35039e860b32bdef4795528b05c2f788d4b2d9dacc913120e2878f7b3f"
# What would turn a string into markup or code. The page builds its DOM from nodes and text only.
HTML_SINKS = re.compile(
    r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\s*\(|new\s+Function\b|createContextualFragment"
    r"|DOMParser|\bsetTimeout\s*\(\s*[\"'`]"
)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.inline_handlers: list[str] = []
        self.refs: list[str] = []
        self.styles = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.inline_handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "style" or "style" in attributes:
            self.styles += 1
        for name in ("src", "href"):
            if (attributes.get(name) or "").startswith("/static/"):
                self.refs.append(attributes[name])


def _get(url: str) -> tuple[dict, str]:
    with urllib.request.urlopen(url, timeout=WAIT_MS / 1000) as response:
        return dict(response.headers), response.read().decode()


def test_the_page_is_served_with_a_strict_content_security_policy(browser_node):
    headers, _html = _get(browser_node.url + "/")
    policy = {
        part.strip().split()[0]: part.strip().split()[1:]
        for part in headers["Content-Security-Policy"].split(";")
        if part.strip()
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["base-uri"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["require-trusted-types-for"] == ["'script'"]
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_has_no_inline_code_and_only_local_assets_that_exist(browser_node):
    _headers, html = _get(browser_node.url + "/")
    refs = _Refs()
    refs.feed(html)
    assert refs.scripts and all(script.get("src", "").startswith("/static/") for script in refs.scripts)
    assert not refs.inline_handlers and not refs.styles
    assert not re.search(r"https?://", re.sub(r"<!--.*?-->", "", html, flags=re.S)), "nothing from another origin"
    assert f"/static/vendor/socket.io-{SOCKET_IO_VERSION}.min.js" in refs.refs
    for ref in refs.refs:
        assert (ROOT / ref.lstrip("/")).is_file(), ref
        assert _get(browser_node.url + ref)[1], ref


def test_the_vendored_socket_io_client_is_the_pinned_release_with_its_license():
    client = STATIC / "vendor" / f"socket.io-{SOCKET_IO_VERSION}.min.js"
    assert hashlib.sha256(client.read_bytes()).hexdigest() == SOCKET_IO_SHA256
    assert client.read_text().startswith(f"/*!\n * Socket.IO v{SOCKET_IO_VERSION}")
    assert "MIT License" in (STATIC / "vendor" / f"socket.io-{SOCKET_IO_VERSION}.LICENSE").read_text()


def test_the_page_scripts_never_turn_strings_into_markup_or_code():
    scripts = sorted((STATIC / "app").glob("*.js"))
    assert scripts
    for script in scripts:
        for number, line in enumerate(script.read_text().splitlines(), 1):
            assert not HTML_SINKS.search(line), f"{script.relative_to(ROOT)}:{number}: {line.strip()}"
        for imported in re.findall(r'from "(\./[^"]+)"', script.read_text()):
            assert (script.parent / imported).is_file(), f"{script.name} imports a missing {imported}"
