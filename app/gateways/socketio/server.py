"""The Socket.IO server: one python-socketio server (Engine.IO path `/socket.io/`), one namespace per
dialect, each bound to the session layer by `namespace.Namespace`.

- `/`: the canonical protocol (`canonical.py`);
- `/chat`: seed 001's NestJS gateway (`nestjs_chat.py`), ids as JSON numbers;
- `/chat/`: seed 002's service (`bull_chat.py`), `chat:*` events.

Per-connection event handling is sequential (`async_handlers=False`): a connection's messages get seqs
in the order it sent them, and no task is made per event.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.gateways.socketio.bull_chat import BullDialect
from app.gateways.socketio.canonical import CanonicalDialect
from app.gateways.socketio.engine import ChatSocketServer, EngineLog, OrjsonJSON
from app.gateways.socketio.manager import IndexedManager
from app.gateways.socketio.namespace import Namespace
from app.gateways.socketio.nestjs_chat import NestjsDialect
from app.gateways.socketio.transport import SioTransport
from app.realtime.hub import Hub


@dataclass(frozen=True)
class GatewayOptions:
    cors_origins: list[str] | str = "*"
    max_frame_bytes: int = 1_048_576
    transports: tuple[str, ...] = ("websocket", "polling")
    ping_interval: int = 25
    ping_timeout: int = 20
    connect_timeout: float = 5.0  # seconds an Engine.IO session may stay with no Socket.IO namespace connected


class SocketGateway:
    def __init__(self, hub: Hub, options: GatewayOptions):
        self.sio = ChatSocketServer(
            client_manager=IndexedManager(),
            async_mode="aiohttp",
            async_handlers=False,
            json=OrjsonJSON,
            cors_allowed_origins=options.cors_origins,
            max_http_buffer_size=options.max_frame_bytes,
            transports=list(options.transports),
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            logger=False,
            engineio_logger=EngineLog(),
            connect_timeout=options.connect_timeout,
            session_stats=hub.stats,
        )
        dialects = (CanonicalDialect(self.sio), NestjsDialect(self.sio, hub), BullDialect(self.sio, hub))
        self.namespaces = {dialect.namespace: Namespace(self.sio, hub, dialect, SioTransport) for dialect in dialects}
        # Every emit (each to one connection) is counted under its namespace's dialect.
        self.sio.stats = {ns: hub.stats.dialects[bound.dialect.name] for ns, bound in self.namespaces.items()}

    def attach(self, app) -> None:
        self.sio.attach(app)
