"""Composition root of the web process: every adapter built from settings and wired to the core.

Building opens nothing; connections open lazily or in the application's
cleanup context, which also closes them in reverse order on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import aiohttp_jinja2
import emoji
import jinja2
import redis
import redis.asyncio as aioredis
from aiohttp import web

from app.auth.tokens import TokenVerifier
from app.chat.attachments import AttachmentOptions
from app.chat.errors import ChatError, Code
from app.chat.events import NOTIFICATION_BATCH, SYSTEM_TOPIC, USER_DISABLED, Event
from app.chat.ids import MAX_NODE, Snowflake, SystemClock
from app.chat.rules import Limits
from app.chat.service import Chat, build_chat
from app.files.local import LocalBlobStore
from app.gateways import websocket
from app.gateways.asyncapi import build_asyncapi
from app.gateways.socketio.server import GatewayOptions, SocketGateway
from app.jobs.batcher import PersistBatcher
from app.jobs.flush import FlushRequester
from app.jobs.queues import enqueue_flush, enqueue_persist, open_queue
from app.ops import node as node_ops
from app.realtime.hub import Hub, SessionOptions
from app.rest import routes
from app.rest.api import RestContext
from app.rest.errors import HANDLER_ARGS, error_middleware
from app.state.bus import RedisBus
from app.state.keys import MESSAGES_QUEUE, PRESENCE_QUEUE, Keys
from app.state.message_log import RedisMessageLog
from app.state.presence import RedisPresence
from app.state.rate_limit import RedisRateLimiter
from app.state.viewers import RedisViewers
from app.storage import migrate
from app.storage.attachments import PgAttachmentStore
from app.storage.database import AsyncDatabase, open_database
from app.storage.favorites import PgFavoriteStore
from app.storage.messages import PgMessageStore
from app.storage.notifications import PgNotificationStore
from app.storage.reactions import PgReactionStore
from app.storage.rooms import PgRoomStore
from app.storage.search import PgSearchIndex
from app.storage.users import PgUserStore
from config import ConfigError, Settings

log = logging.getLogger(__name__)

VERSION = "0.1.0"
REDIS_WAIT = 5.0  # seconds a command may wait for a free Redis connection
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Services:
    settings: Settings
    keys: Keys
    redis: aioredis.Redis
    rq_redis: redis.Redis
    db: AsyncDatabase
    bus: RedisBus
    batcher: PersistBatcher
    flush: FlushRequester
    ids: Snowflake
    chat: Chat
    verifier: TokenVerifier
    hub: Hub  # every real-time session of this node, whatever its dialect
    socketio: SocketGateway


SERVICES = web.AppKey("services", Services)


def limits(settings: Settings) -> Limits:
    s = settings.limits
    return Limits(
        max_message_length=s.max_message_length,
        message_rate=s.message_rate,
        message_burst=s.message_burst,
        max_room_members=s.max_room_members,
        history_page_max=s.history_page_max,
        catchup_limit=s.catchup_limit,
        idempotency_ttl=s.idempotency_ttl,
        membership_cache_ttl=s.membership_cache_ttl,
        user_cache_ttl=s.user_cache_ttl,
        presence_ttl=settings.presence.presence_ttl,
        typing_timeout=settings.presence.typing_timeout,
        pending_notifications_max=settings.notifications.pending_notifications_max,
        search_query_max=s.search_query_max,
        system_messages=s.system_messages,
    )


def attachment_options(settings: Settings) -> AttachmentOptions:
    s = settings.attachments
    if not s.attachment_secret:
        raise ConfigError("ATTACHMENT_SECRET is required when JWT_SECRET is not set")
    return AttachmentOptions(s.attachment_secret.encode(), s.max_upload_bytes, s.attachment_url_ttl)


def build_services(settings: Settings) -> Services:
    keys = Keys(settings.redis.redis_prefix)
    # A blocking pool: under a burst, commands wait for a connection instead of failing
    # (redis-py's default pool raises "Too many connections" past 100).
    async_redis = aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(
            settings.redis.redis_url, max_connections=settings.redis.redis_pool_size, timeout=REDIS_WAIT
        )
    )
    rq_redis = redis.Redis.from_url(settings.redis.redis_url)
    db = AsyncDatabase(
        open_database(settings.database.database_url, application_name="chat-web"), settings.database.db_pool_size
    )
    queue_settings = settings.queue
    batcher = PersistBatcher(
        functools.partial(
            enqueue_persist,
            open_queue(rq_redis, keys, MESSAGES_QUEUE),
            timeout=queue_settings.persist_job_timeout,
            retry_intervals=queue_settings.retry_intervals,
        ),
        batch_max=queue_settings.persist_batch_max,
        linger_ms=queue_settings.persist_batch_linger_ms,
    )
    flush = FlushRequester(functools.partial(enqueue_flush, open_queue(rq_redis, keys, PRESENCE_QUEUE)))
    bus = RedisBus(async_redis, keys)
    ids = Snowflake(node=0)  # the real node number is drawn at start-up
    attachment_store = PgAttachmentStore(db)
    chat = build_chat(
        user_store=PgUserStore(db),
        room_store=PgRoomStore(db),
        message_store=PgMessageStore(db),
        log=RedisMessageLog(async_redis, keys, redrive_after_s=queue_settings.redrive_after),
        persist=batcher,
        presence_state=RedisPresence(async_redis, keys, settings.presence.presence_ttl),
        notification_store=PgNotificationStore(db),
        reaction_store=PgReactionStore(db),
        favorite_store=PgFavoriteStore(db),
        flush=flush,
        bus=bus,
        ids=ids,
        clock=SystemClock(),
        limits=limits(settings),
        attachment_store=attachment_store,
        blobs=LocalBlobStore(settings.attachments.upload_dir),
        attachment_options=attachment_options(settings),
        is_emoji=emoji.is_emoji,
        search_index=PgSearchIndex(db, settings.limits.search_timeout),
        viewer_state=RedisViewers(async_redis, keys, settings.presence.presence_ttl),
    )
    server = settings.server
    verifier = TokenVerifier(settings.auth)
    hub = Hub(
        chat,
        verifier,
        bus,
        SessionOptions(
            event_rate=settings.limits.event_rate,
            event_burst=settings.limits.event_burst,
            max_pending_frames=server.max_pending_frames,
        ),
    )
    gateway = SocketGateway(
        hub,
        GatewayOptions(
            cors_origins=server.cors_list,
            max_frame_bytes=server.max_frame_bytes,
            transports=tuple(server.transport_list),
            ping_interval=server.ping_interval,
            ping_timeout=server.ping_timeout,
            connect_timeout=server.connect_timeout,
        ),
    )
    return Services(settings, keys, async_redis, rq_redis, db, bus, batcher, flush, ids, chat, verifier, hub, gateway)


def create_app(settings: Settings) -> web.Application:
    services = build_services(settings)
    app = web.Application(
        client_max_size=settings.server.max_frame_bytes, middlewares=[error_middleware], handler_args=HANDLER_ARGS
    )
    app[SERVICES] = services
    services.socketio.attach(app)
    websocket.mount(app, services.hub, settings.server.max_frame_bytes, settings.server.ping_interval)
    context = RestContext(
        services.chat,
        services.verifier,
        RedisRateLimiter(services.redis, services.keys),
        settings.limits.api_rate,
        settings.limits.api_burst,
    )
    dev_auth = settings.auth if settings.auth.dev_mode else None  # the dev token route exists only in DEV_MODE
    routes.setup(app, context, build_asyncapi(VERSION), VERSION, dev_auth=dev_auth)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=True)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", ROOT / "static")
    app.cleanup_ctx.append(_lifecycle)
    node_ops.setup(app, services)  # /ready, /metrics, and the graceful stop (on_shutdown)
    return app


# The test page (templates/index.html, static/): scripts, styles, images and connections from this origin only,
# no inline code, and Trusted Types required, so no string ever reaches an HTML sink (innerHTML and the like).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def _index(request: web.Request) -> web.Response:
    context = {"version": VERSION, "dev_mode": request.app[SERVICES].settings.auth.dev_mode}
    response = aiohttp_jinja2.render_template("index.html", request, context)
    response.headers.update(PAGE_HEADERS)
    return response


async def _lifecycle(app: web.Application):
    services = app[SERVICES]
    await _check_schema(services.db)
    services.ids.assign(await services.redis.incr(services.keys.node_counter) % (MAX_NODE + 1))
    await services.bus.start(functools.partial(_route_event, services))
    stop = asyncio.Event()
    housekeeping = asyncio.create_task(_housekeeping(services, stop), name="presence-housekeeping")
    log.info("web node ready (node number %d)", services.ids.node)
    yield
    # Stopped by an event, not by cancellation: redis-py can swallow a CancelledError mid-command.
    stop.set()
    await asyncio.wait_for(housekeeping, HOUSEKEEPING_STOP_TIMEOUT)
    await services.batcher.close()
    await services.flush.close()
    await services.bus.stop()
    await services.redis.aclose()
    services.rq_redis.close()
    await asyncio.get_running_loop().run_in_executor(None, services.db.close)


TYPING_CHECK_INTERVAL = 0.25
HOUSEKEEPING_STOP_TIMEOUT = 10.0


KEEP_ALIVE_CHUNK = 500


async def _keep_alive(services: Services) -> None:
    """Push this node's connections' presence forward, a chunk at a time. Each chunk keeps only the
    connections still open just before it is sent: one closed meanwhile must not be brought back."""
    conns = services.hub.live_connections()
    for start in range(0, len(conns), KEEP_ALIVE_CHUNK):
        chunk = [conn for conn in conns[start : start + KEEP_ALIVE_CHUNK] if services.hub.is_open(conn[1])]
        await services.chat.presence.keep_alive(chunk)


async def _housekeeping(services: Services, stop: asyncio.Event) -> None:
    """Until `stop` is set: presence keep-alive of this node's connections (every third of
    PRESENCE_TTL), the sweep of connections whose node died (every PRESENCE_SWEEP_INTERVAL), and
    typing expiry."""
    presence = services.settings.presence
    loop = asyncio.get_running_loop()
    next_keep_alive = next_sweep = loop.time()
    while not stop.is_set():
        now = loop.time()
        try:
            if now >= next_keep_alive:
                next_keep_alive = now + presence.presence_ttl / 3
                await _keep_alive(services)
            if now >= next_sweep:
                next_sweep = now + presence.presence_sweep_interval
                await services.chat.presence.sweep()
            await services.chat.typing.expire()
        except Exception:
            log.exception("presence housekeeping failed; trying again")
        pause = min(TYPING_CHECK_INTERVAL, max(0.01, min(next_keep_alive, next_sweep) - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


async def _route_event(services: Services, topic: str, event: Event) -> None:
    if event.name == NOTIFICATION_BATCH:  # on `system`, for the sessions here
        await services.hub.deliver(topic, event)
    elif topic == SYSTEM_TOPIC:
        services.chat.on_system_event(event)
        if event.name == USER_DISABLED:
            error = ChatError(Code.USER_DISABLED, "this user was disabled")
            await services.hub.disconnect_user(event.data["user_id"], error)
    else:
        await services.hub.deliver(topic, event)


async def _check_schema(db: AsyncDatabase) -> None:
    pending = await db.run(lambda: {v for v, _ in migrate.available()} - migrate.applied(db.db))
    if pending:
        raise RuntimeError(f"the database lacks migrations {sorted(pending)}: run `python run.py migrate`")
