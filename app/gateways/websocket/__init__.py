"""Raw JSON WebSocket dialects on aiohttp: seed 004's per-user socket (`fastapi_chat`), seed 003's
conversation and notification sockets (`django_chat`) and seed 000's Phoenix Channels (`phoenix`), on one
frame loop (`binding`).

Paths are exactly what the seed documents' clients use. 003's `/ws/<username>/` and 004's `/ws/<user_id>`
share `/ws/`: the trailing slash tells them apart, and `/ws/notifications/...` is 003's.
"""

from __future__ import annotations

from aiohttp import web

from app.gateways.websocket.binding import handler
from app.gateways.websocket.django_chat import (
    ConversationDialect,
    ConversationNotificationsDialect,
    NotificationsDialect,
)
from app.gateways.websocket.fastapi_chat import FastapiDialect
from app.gateways.websocket.phoenix import PhoenixDialect
from app.realtime.hub import Hub


def mount(app: web.Application, hub: Hub, max_frame_bytes: int, ping_interval: float) -> None:
    """Route every raw WebSocket dialect (static paths first: aiohttp tries routes in order)."""
    routes = [
        ("/socket/websocket", PhoenixDialect()),
        ("/ws/notifications/", NotificationsDialect()),
        ("/ws/notifications/{username}/", ConversationNotificationsDialect()),
        ("/ws/{username}/", ConversationDialect(hub)),
        ("/ws/{user_id}", FastapiDialect()),
    ]
    for path, dialect in routes:
        app.router.add_get(path, handler(hub, dialect, max_frame_bytes, ping_interval), name=dialect.name)
