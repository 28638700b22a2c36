"""The subcommands of `run.py` that belong to the web side."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os

import redis

from app.auth.tokens import mint
from app.chat.events import SYSTEM_TOPIC, user_disabled, user_enabled
from app.cli.instance import cannot_listen
from app.state.bus import envelope
from app.state.keys import Keys
from app.storage import migrate
from app.storage.database import open_database
from app.storage.users import set_active
from config import Settings

log = logging.getLogger(__name__)


def configure_logging(level: str, fmt: str = "text") -> None:
    """LOG_LEVEL and LOG_FORMAT (`text` or `json`) for this process; see app/ops/logs.py."""
    from app.ops import logs

    logs.configure(level, fmt)


def serve_web(settings: Settings) -> None:
    from aiohttp import web

    from app.web import create_app

    try:
        import uvloop
    except ImportError:  # optional: the standard loop works, slower
        uvloop = None
    app = create_app(settings)
    # Everything allocated so far lives as long as the process: keep the collector from
    # scanning it again and again, and let it run less often under load (measured in docs).
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    server = settings.server
    try:
        web.run_app(
            app,
            host=server.host,
            port=server.port,
            access_log=None,
            # After the node's own drain (app.ops.shutdown), requests still running get this long.
            shutdown_timeout=server.shutdown_timeout,
            print=_listening,  # called once the port is bound
            loop=uvloop.new_event_loop() if uvloop else asyncio.new_event_loop(),
        )
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise cannot_listen(server.host, server.port, exc) from None


def _listening(text: str) -> None:
    log.info(text.strip())
    # Started by the all-in-one: tell it the port is bound (it says "serving on" then).
    ready = os.environ.pop("CHAT_READY_FD", None)
    if ready:
        try:
            os.write(int(ready), b"1")
            os.close(int(ready))
        except (OSError, ValueError):
            pass


def run_migrations(settings: Settings) -> list[str]:
    db = open_database(settings.database.database_url, application_name="chat-migrate")
    try:
        return migrate.migrate(db)
    finally:
        db.close()


def make_token(settings: Settings, user_id: str, name: str | None, ttl: int, username: str | None = None) -> str:
    """A signed token for the user; raises ChatError(INVALID_PAYLOAD) for an invalid username."""
    return mint(settings.auth, user_id, name, ttl, username=username)


def set_user_active(settings: Settings, user_id: str, active: bool) -> bool:
    """Enable or disable a user, on every node at once: nodes forget their cached row, and
    disabling also closes the user's live connections."""
    db = open_database(settings.database.database_url, application_name="chat-admin")
    try:
        found = set_active(user_id, active)
    finally:
        db.close()
    if found:
        keys = Keys(settings.redis.redis_prefix)
        event = user_enabled(user_id) if active else user_disabled(user_id)
        redis.Redis.from_url(settings.redis.redis_url).publish(
            keys.channel(SYSTEM_TOPIC), envelope(event.name, event.data)
        )
    return found
