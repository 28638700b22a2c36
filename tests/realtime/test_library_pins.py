"""The libraries under the Socket.IO gateway: the pinned python-socketio, python-engineio and aiohttp private
methods that app/gateways/socketio/engine.py, namespace.py and wire.py override or call are the ones they were
written against (a change under the pins fails here, naming the method)."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from importlib import metadata
from pathlib import Path

import aiohttp
import engineio
import pytest
import socketio

ROOT = Path(__file__).resolve().parents[2]


PINS = {"python-socketio": "5.18.1", "python-engineio": "4.15.1", "aiohttp": "3.14.5"}

# What the gateway overrides or calls of python-socketio, python-engineio and aiohttp that is not public, with the
# digest of its source in the pinned versions. A new version that changes one fails here: read the change, adapt
# app/gateways/socketio/engine.py (namespace.py, wire.py), then record the new digest.
PRIVATE = {
    "socketio.AsyncServer._handle_eio_message": "bef50fc0e1635921",
    "socketio.AsyncServer._handle_eio_connect": "76704886d944a7e6",
    "socketio.AsyncServer._handle_eio_disconnect": "9344593148b66fd9",
    "socketio.AsyncServer._handle_event_internal": "472e8b723a12d507",
    "socketio.AsyncServer._handle_connect": "c97c480cf777de36",
    "socketio.AsyncServer._handle_disconnect": "c0b32ada5b371230",
    "socketio.AsyncServer._handle_event": "65178105ef8b593d",
    "socketio.AsyncServer._handle_ack": "b7521c6c30972551",
    "socketio.AsyncServer._send_packet": "a00022b42c1c29e9",
    "socketio.packet.Packet.decode": "61ad7904b539f472",
    "engineio.async_socket.AsyncSocket.close": "faa2e93902543244",
    # wire.py serves WebSocket connections in place of `_websocket_handler`: it stands where the aiohttp driver
    # stood (`_async['websocket'](bound handler, server)`, called with the environ), reads with `receive`, sends
    # as `send` does, and finds the OPEN packet `_handle_connect` queued before the upgrade.
    "engineio.async_socket.AsyncSocket._upgrade_websocket": "820b83efe96adb98",
    "engineio.async_socket.AsyncSocket.receive": "a91ae36ec2fb5340",
    "engineio.async_socket.AsyncSocket.send": "0437276ccba7ab09",
    "engineio.async_socket.AsyncSocket.check_ping_timeout": "77616d5ca7809257",
    "engineio.async_server.AsyncServer._handle_connect": "5bd7edc1d1ae115a",
    "engineio.async_drivers.aiohttp.WebSocket": "96fbcb0d1f45694a",
    # ... and writes to the transport of the stream writer `prepare` returns, waiting on its `drain`.
    "aiohttp.web_ws.WebSocketResponse.prepare": "bd6bf6c6d4105c47",
    "aiohttp.web_ws.WebSocketResponse.receive": "7ba90b3668b041b1",
    "aiohttp.http_writer.StreamWriter.drain": "3c8995114497133d",
}


def _resolve(dotted: str):
    module_name, _, rest = dotted.partition(".")
    target = {"socketio": socketio, "engineio": engineio, "aiohttp": aiohttp}[module_name]
    for part in rest.split("."):
        target = getattr(target, part)
    return target


def test_the_socket_io_libraries_are_pinned_exactly_at_the_versions_the_overrides_were_written_against():
    requirements = (ROOT / "requirements.txt").read_text()
    for name, version in PINS.items():
        assert re.search(rf"^{name}=={re.escape(version)}$", requirements, re.M), f"{name} must be pinned =={version}"
        assert metadata.version(name) == version


@pytest.mark.parametrize("dotted", list(PRIVATE))
def test_the_private_methods_the_gateway_overrides_or_calls_are_unchanged(dotted):
    for module in ("aiohttp.http_writer", "aiohttp.web_ws", "engineio.async_drivers.aiohttp", "engineio.async_socket"):
        importlib.import_module(module)  # the modules the digests name, reachable from the packages `_resolve` walks

    source = inspect.getsource(_resolve(dotted))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == PRIVATE[dotted], f"{dotted} changed under the pin ({digest}): re-check the gateway's use of it"
