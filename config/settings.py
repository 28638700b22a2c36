"""Settings: one frozen dataclass per section, loaded once and passed down.

Every field has a default in `defaults.toml` and is overridden by the
environment variable of the same name in upper case. Values are converted
by the field's annotation and checked by the section's `check()`; any
problem raises `ConfigError` naming the variable, so a bad deployment
fails at start rather than on the first message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def doc(text: str) -> dict:
    return {"doc": text}


@dataclass(frozen=True)
class ServerConfig:
    host: str = field(metadata=doc("Interface the web node listens on."))
    port: int = field(metadata=doc("TCP port of the web node."))
    cors_origins: str = field(
        metadata=doc(
            "Comma-separated origins allowed for Socket.IO and REST; `*` for any (tokens are bearer, not cookies)."
        )
    )
    max_frame_bytes: int = field(
        metadata=doc(
            "Largest accepted WebSocket frame, polling payload or REST body; a larger frame closes that connection (1009)."
        )
    )
    transports: str = field(
        metadata=doc("Engine.IO transports, `websocket` and/or `polling` (polling across nodes needs sticky sessions).")
    )
    ping_interval: int = field(
        metadata=doc("Seconds between Engine.IO pings, and WebSocket pings on the raw WebSocket dialects.")
    )
    ping_timeout: int = field(metadata=doc("Seconds without a pong before a connection is dropped."))
    connect_timeout: float = field(
        metadata=doc(
            "Seconds an Engine.IO session may stay with no Socket.IO namespace connected (before its first connect, "
            "after a refused one or after leaving its last; the clock stops while a connect is being handled); then it "
            "is closed and counted in `chat_connect_timeouts_total`."
        )
    )
    max_pending_frames: int = field(
        metadata=doc(
            "Frames a connection may have waiting to be sent; one further behind is closed (it reconnects and catches up by seq)."
        )
    )
    shutdown_timeout: float = field(
        metadata=doc(
            "Seconds a stopped web node (SIGTERM/SIGINT) takes at most to tell its clients to reconnect elsewhere, "
            "close them and enqueue its pending batch; requests still running get as long again."
        )
    )
    reconnect_spread_ms: int = field(
        metadata=doc(
            "A stopping node tells each client to reconnect after a random delay up to this many ms "
            "(`server:shutdown`'s `reconnect_in_ms`), so they do not all arrive at once elsewhere."
        )
    )
    ready_timeout: float = field(
        metadata=doc("Seconds each check of `GET /ready` (Postgres, Redis, the queues) may take before it fails.")
    )
    ready_requires_persistence: bool = field(
        metadata=doc(
            "When true, a stalled persistence (see PERSISTENCE_STALL_AFTER) makes `GET /ready` answer 503, on every "
            "web node at once; by default its `persistence` check reports it and /ready stays 200."
        )
    )

    def check(self) -> None:
        _require(1 <= self.port <= 65535, "PORT", "must be between 1 and 65535")
        _require(0 < self.shutdown_timeout <= 300, "SHUTDOWN_TIMEOUT", "must be between 0 and 300 seconds")
        _require(0 <= self.reconnect_spread_ms <= 600_000, "RECONNECT_SPREAD_MS", "must be between 0 and 600000")
        _require(0 < self.ready_timeout <= 60, "READY_TIMEOUT", "must be between 0 and 60 seconds")
        _require(self.max_frame_bytes >= 1024, "MAX_FRAME_BYTES", "must be at least 1024")
        _require(0 < self.connect_timeout <= 300, "CONNECT_TIMEOUT", "must be between 0 and 300 seconds")
        _require(self.max_pending_frames >= 10, "MAX_PENDING_FRAMES", "must be at least 10")
        allowed = {"websocket", "polling"}
        names = set(self.transport_list)
        _require(bool(names) and names <= allowed, "TRANSPORTS", "must name websocket and/or polling")

    @property
    def transport_list(self) -> list[str]:
        return _split(self.transports)

    @property
    def cors_list(self) -> list[str] | str:
        origins = _split(self.cors_origins)
        return "*" if origins == ["*"] else origins


@dataclass(frozen=True)
class AuthConfig:
    jwt_secret: str = field(
        metadata=doc(
            "HS256 shared secret (at least 32 bytes). One of JWT_SECRET, JWT_PUBLIC_KEY or a JWKS (JWT_JWKS_URL, JWT_JWKS_FILE) is required outside DEV_MODE."
        )
    )
    jwt_public_key: str = field(metadata=doc("PEM public key (or a path to one) for RS256/ES256 tokens."))
    jwt_private_key: str = field(
        metadata=doc("PEM private key (or a path) used only by `run.py token` to mint RS256/ES256 tokens.")
    )
    jwt_algorithms: str = field(
        metadata=doc(
            "Comma-separated allow-list; default HS256 with a secret, else the public key's own algorithm (RS256 for RSA, ES256/ES384/ES512 for a P-256/P-384/P-521 key). A listed algorithm the key cannot verify fails at start. `none` is never accepted."
        )
    )
    jwt_jwks_url: str = field(
        metadata=doc(
            "URL of an identity provider's JSON Web Key Set (Firebase, Auth0, Keycloak, Cognito): RS/ES tokens are "
            "verified with the key their `kid` names. Needs JWT_ISSUER and JWT_AUDIENCE. Excludes JWT_PUBLIC_KEY."
        )
    )
    jwt_jwks_file: str = field(
        metadata=doc("Path of a JWK Set file, for offline setups; used as JWT_JWKS_URL is (one or the other).")
    )
    jwt_jwks_refresh: int = field(
        metadata=doc(
            "Fewest seconds between two loads of the JWKS for tokens naming a `kid` it does not hold (a rotation)."
        )
    )
    jwt_jwks_max_age: int = field(
        metadata=doc("Seconds the loaded JWKS is trusted; then it is loaded again (a failed load keeps the old set).")
    )
    jwt_issuer: str = field(metadata=doc("Required `iss` claim, when set (always required with a JWKS)."))
    jwt_audience: str = field(metadata=doc("Required `aud` claim, when set (always required with a JWKS)."))
    jwt_leeway: int = field(metadata=doc("Seconds of clock skew tolerated on `exp`/`nbf`."))
    dev_mode: bool = field(
        metadata=doc(
            "Development conveniences: a generated HS256 secret under DATA_DIR when none is configured, and `POST /api/v1/dev/token` (a token for any user, for the test page). Never in production."
        )
    )

    def check(self) -> None:
        algorithms = self.algorithm_list
        _require(
            all(a in SUPPORTED_ALGORITHMS for a in algorithms),
            "JWT_ALGORITHMS",
            f"must be among {sorted(SUPPORTED_ALGORITHMS)}",
        )
        uses_secret = any(a.startswith("HS") for a in algorithms)
        uses_key = any(not a.startswith("HS") for a in algorithms)
        _require(
            not uses_secret or len(self.jwt_secret.encode()) >= 32,
            "JWT_SECRET",
            "must be at least 32 bytes for HS algorithms",
        )
        _require(
            not uses_key or bool(self.jwt_public_key) or self.uses_jwks,
            "JWT_PUBLIC_KEY",
            "(or JWT_JWKS_URL or JWT_JWKS_FILE) is required for RS/ES algorithms",
        )
        _require(not (self.jwt_jwks_url and self.jwt_jwks_file), "JWT_JWKS_FILE", "excludes JWT_JWKS_URL: set one")
        _require(
            not self.jwt_jwks_url or self.jwt_jwks_url.startswith(("https://", "http://")),
            "JWT_JWKS_URL",
            "must be an https:// (or http://) URL",
        )
        _require(not (self.uses_jwks and self.jwt_public_key), "JWT_PUBLIC_KEY", "excludes a JWKS: set one")
        # A provider signs every tenant's tokens with the same keys (all Firebase projects share Google's):
        # without the issuer and audience checked, any tenant's token would be accepted.
        _require(not self.uses_jwks or bool(self.jwt_issuer), "JWT_ISSUER", "is required with a JWKS")
        _require(not self.uses_jwks or bool(self.jwt_audience), "JWT_AUDIENCE", "is required with a JWKS")
        _require(self.jwt_jwks_refresh >= 1, "JWT_JWKS_REFRESH", "must be at least 1")
        _require(self.jwt_jwks_max_age >= 1, "JWT_JWKS_MAX_AGE", "must be at least 1")

    @property
    def uses_jwks(self) -> bool:
        return bool(self.jwt_jwks_url or self.jwt_jwks_file)

    @property
    def algorithm_list(self) -> list[str]:
        """The configured list, else the kind the default comes from: HS256 with a secret, RS/ES with a key.
        Which RS/ES algorithms a key serves needs the key parsed, which this standard-library layer leaves to
        `app.auth.tokens.verification_keys` (at start, with a ConfigError for a list the key cannot serve)."""
        if self.jwt_algorithms:
            return _split(self.jwt_algorithms)
        return ["HS256"] if self.jwt_secret else ["RS256", "ES256"]


SUPPORTED_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})


@dataclass(frozen=True)
class DatabaseConfig:
    database_url: str = field(
        metadata=doc(
            "Postgres URL, e.g. `postgresql://user:pass@host:5432/chat`. Unset with `run.py`: an embedded Postgres under DATA_DIR."
        )
    )
    db_pool_size: int = field(metadata=doc("Connections (and threads) a web node uses for Postgres."))

    def check(self) -> None:
        _require(bool(self.database_url), "DATABASE_URL", "is required")
        _require(
            self.database_url.startswith(("postgres://", "postgresql://")),
            "DATABASE_URL",
            "must be a postgresql:// URL",
        )
        _require(self.db_pool_size >= 1, "DB_POOL_SIZE", "must be at least 1")


@dataclass(frozen=True)
class RedisConfig:
    redis_url: str = field(
        metadata=doc(
            "Redis URL (`redis://`, `rediss://` or `unix://`). Unset with `run.py`: an embedded Redis under DATA_DIR."
        )
    )
    redis_prefix: str = field(
        metadata=doc("Prefix of every key, channel and queue name, so deployments can share one Redis.")
    )
    redis_pool_size: int = field(
        metadata=doc(
            "Redis connections a web node opens at most; commands beyond wait for a free one (up to 5 s) rather than fail."
        )
    )

    def check(self) -> None:
        _require(bool(self.redis_url), "REDIS_URL", "is required")
        _require(
            self.redis_url.startswith(("redis://", "rediss://", "unix://")),
            "REDIS_URL",
            "must be a redis://, rediss:// or unix:// URL",
        )
        _require(bool(self.redis_prefix), "REDIS_PREFIX", "must not be empty")
        _require(self.redis_pool_size >= 2, "REDIS_POOL_SIZE", "must be at least 2 (the bus keeps one)")


@dataclass(frozen=True)
class LimitsConfig:
    max_message_length: int = field(metadata=doc("Largest message content, in characters."))
    message_rate: float = field(
        metadata=doc("Messages per second a user may send, sustained (across all devices and nodes).")
    )
    message_burst: int = field(metadata=doc("Messages a user may send in a burst above the sustained rate."))
    api_rate: float = field(metadata=doc("REST requests per second per user, sustained."))
    api_burst: int = field(metadata=doc("REST request burst per user."))
    event_rate: float = field(
        metadata=doc("Real-time events per second per connection, in any dialect, sustained (any event or frame).")
    )
    event_burst: int = field(metadata=doc("Real-time event burst per connection, in any dialect."))
    max_room_members: int = field(metadata=doc("Most members a group room may have."))
    history_page_max: int = field(metadata=doc("Largest `limit` of one history page."))
    search_query_max: int = field(metadata=doc("Longest search query, in characters."))
    search_timeout: float = field(
        metadata=doc("Seconds one search may take in Postgres; a slower one is refused as `search_too_broad`.")
    )
    catchup_limit: int = field(
        metadata=doc(
            "Most missed messages one join returns (and at most as many changed ones); one sync returns at most "
            "this many messages in all, for all its rooms, missed and changed together. The rest is paged over REST."
        )
    )
    idempotency_ttl: int = field(metadata=doc("Seconds a client_ref is remembered for deduplicating resends."))
    membership_cache_ttl: int = field(
        metadata=doc("Seconds a node trusts its cached member list of a room (changes invalidate it at once).")
    )
    user_cache_ttl: int = field(
        metadata=doc("Seconds a node trusts a cached user row (bounds how long a disabled user keeps REST access).")
    )
    system_messages: bool = field(
        metadata=doc("Put a system message in the timeline when a direct chat starts and when members change.")
    )

    def check(self) -> None:
        for name in (
            "max_message_length",
            "message_burst",
            "api_burst",
            "event_burst",
            "max_room_members",
            "history_page_max",
            "catchup_limit",
        ):
            _require(getattr(self, name) >= 1, name.upper(), "must be at least 1")
        for name in ("message_rate", "api_rate", "event_rate"):
            _require(getattr(self, name) > 0, name.upper(), "must be positive")
        _require(self.idempotency_ttl >= 60, "IDEMPOTENCY_TTL", "must be at least 60 seconds")
        _require(1 <= self.search_query_max <= 1000, "SEARCH_QUERY_MAX", "must be 1 to 1000")
        _require(self.search_timeout > 0, "SEARCH_TIMEOUT", "must be positive")


@dataclass(frozen=True)
class QueueConfig:
    persist_batch_max: int = field(metadata=doc("Most messages in one persistence job."))
    persist_batch_linger_ms: int = field(
        metadata=doc("Longest a message waits on its node for a batch to fill before the job is enqueued.")
    )
    persist_job_timeout: int = field(metadata=doc("Seconds a persistence job may run."))
    persist_retry_intervals: str = field(
        metadata=doc(
            "Comma-separated seconds between retries of a failed persistence job; their count is the number of retries."
        )
    )
    redrive_after: int = field(
        metadata=doc(
            "Seconds after which an acknowledged message still not in Postgres is enqueued again (covers crashed nodes and workers)."
        )
    )
    redrive_interval: int = field(metadata=doc("Seconds between two scans for such messages (by any one worker)."))
    persistence_stall_after: int = field(
        metadata=doc(
            "Seconds the oldest acknowledged message may wait for Postgres before persistence counts as stalled "
            "(`chat_persistence_stalled` 1, the `persistence` check of `/ready`); with no live worker it counts as "
            "stalled at once."
        )
    )

    def check(self) -> None:
        _require(1 <= self.persist_batch_max <= 10000, "PERSIST_BATCH_MAX", "must be between 1 and 10000")
        _require(self.persist_batch_linger_ms >= 0, "PERSIST_BATCH_LINGER_MS", "must not be negative")
        _require(self.persist_job_timeout >= 1, "PERSIST_JOB_TIMEOUT", "must be at least 1")
        try:
            intervals = self.retry_intervals
        except ValueError:
            intervals = [-1]
        _require(
            all(i >= 0 for i in intervals), "PERSIST_RETRY_INTERVALS", "must be comma-separated non-negative integers"
        )
        _require(self.redrive_after >= 1, "REDRIVE_AFTER", "must be at least 1")
        _require(self.redrive_interval >= 1, "REDRIVE_INTERVAL", "must be at least 1")
        _require(self.persistence_stall_after >= 1, "PERSISTENCE_STALL_AFTER", "must be at least 1")

    @property
    def retry_intervals(self) -> list[int]:
        return [int(part) for part in _split(self.persist_retry_intervals)]


@dataclass(frozen=True)
class PresenceConfig:
    presence_ttl: int = field(
        metadata=doc(
            "Seconds a connection counts as alive without a sign of life from its node; a node that dies without "
            "a goodbye has its users shown offline within PRESENCE_TTL + PRESENCE_SWEEP_INTERVAL."
        )
    )
    presence_sweep_interval: float = field(
        metadata=doc(
            "Seconds between two scans (by every web node) for connections whose node stopped refreshing them."
        )
    )
    typing_timeout: float = field(
        metadata=doc("Seconds a typing state lasts unless refreshed; repeats within half of it are not re-broadcast.")
    )

    def check(self) -> None:
        _require(self.presence_ttl >= 2, "PRESENCE_TTL", "must be at least 2")
        _require(0 < self.presence_sweep_interval <= 60, "PRESENCE_SWEEP_INTERVAL", "must be between 0 and 60")
        _require(0.5 <= self.typing_timeout <= 60, "TYPING_TIMEOUT", "must be between 0.5 and 60")


@dataclass(frozen=True)
class NotificationsConfig:
    push_webhook_url: str = field(
        metadata=doc("When set, notifications for offline users are also POSTed here (JSON, HMAC-signed).")
    )
    push_webhook_secret: str = field(
        metadata=doc("HMAC-SHA256 key of the webhook's `X-Chat-Signature` header; required with PUSH_WEBHOOK_URL.")
    )
    webhook_retry_intervals: str = field(
        metadata=doc(
            "Comma-separated seconds between retries of a failed webhook delivery; their count is the retries."
        )
    )
    webhook_timeout: float = field(metadata=doc("Seconds one webhook request may take."))
    pending_notifications_max: int = field(
        metadata=doc("Most pending notifications sent on connect (newest first; the rest over REST).")
    )
    notification_excerpt_length: int = field(metadata=doc("Characters of a message kept in its notification."))

    def check(self) -> None:
        if self.push_webhook_url:
            _require(
                self.push_webhook_url.startswith(("http://", "https://")),
                "PUSH_WEBHOOK_URL",
                "must be an http:// or https:// URL",
            )
            _require(
                len(self.push_webhook_secret.encode()) >= 16,
                "PUSH_WEBHOOK_SECRET",
                "must be at least 16 bytes when PUSH_WEBHOOK_URL is set",
            )
        try:
            intervals = self.retry_intervals
        except ValueError:
            intervals = [-1]
        _require(
            all(i >= 0 for i in intervals), "WEBHOOK_RETRY_INTERVALS", "must be comma-separated non-negative integers"
        )
        _require(self.webhook_timeout > 0, "WEBHOOK_TIMEOUT", "must be positive")
        _require(self.pending_notifications_max >= 1, "PENDING_NOTIFICATIONS_MAX", "must be at least 1")
        _require(self.notification_excerpt_length >= 10, "NOTIFICATION_EXCERPT_LENGTH", "must be at least 10")

    @property
    def retry_intervals(self) -> list[int]:
        return [int(part) for part in _split(self.webhook_retry_intervals)]


@dataclass(frozen=True)
class WorkerConfig:
    worker_queues: str = field(
        metadata=doc("Comma-separated queues a worker drains: `messages`, `presence`, `notifications`.")
    )
    worker_processes: int = field(
        metadata=doc("Worker processes started by `run.py worker`; each runs jobs in-process, never forking per job.")
    )

    def check(self) -> None:
        _require(self.worker_processes >= 1, "WORKER_PROCESSES", "must be at least 1")
        _require(bool(self.queue_list), "WORKER_QUEUES", "must name at least one queue")

    @property
    def queue_list(self) -> list[str]:
        return _split(self.worker_queues)


MIN_UPLOAD_ORPHAN_TTL = 60  # an upload is sent seconds after it is made; a shorter TTL would race the sender


@dataclass(frozen=True)
class AttachmentsConfig:
    max_upload_bytes: int = field(
        metadata=doc(
            "Largest uploaded file, in bytes; a larger upload is refused (413) as soon as that many bytes arrived. Only the upload route reads past MAX_FRAME_BYTES."
        )
    )
    upload_dir: str = field(
        metadata=doc("Folder of uploaded files (local disk storage). Unset: `uploads` under DATA_DIR.")
    )
    attachment_url_ttl: int = field(
        metadata=doc(
            "Seconds a signed download link stays valid (rounded up by at most a twelfth, so repeated links are equal and cacheable)."
        )
    )
    attachment_secret: str = field(
        metadata=doc(
            "HMAC key of download links (at least 32 bytes). Unset: derived from JWT_SECRET; required when tokens use a public key."
        )
    )
    upload_orphan_ttl: int = field(
        metadata=doc(
            "Seconds an upload may wait for a message to send it; a worker then deletes it (record and file). At least 60."
        )
    )

    def check(self) -> None:
        _require(self.max_upload_bytes >= 1, "MAX_UPLOAD_BYTES", "must be at least 1")
        _require(bool(self.upload_dir), "UPLOAD_DIR", "must not be empty")
        _require(self.attachment_url_ttl >= 10, "ATTACHMENT_URL_TTL", "must be at least 10 seconds")
        _require(
            self.upload_orphan_ttl >= MIN_UPLOAD_ORPHAN_TTL,
            "UPLOAD_ORPHAN_TTL",
            f"must be at least {MIN_UPLOAD_ORPHAN_TTL} seconds",
        )
        _require(
            len(self.attachment_secret.encode()) >= 32,
            "ATTACHMENT_SECRET",
            "must be at least 32 bytes (it is required when JWT_SECRET is not set)",
        )


@dataclass(frozen=True)
class PathsConfig:
    data_dir: str = field(metadata=doc("Folder for embedded Redis and Postgres and the development secret."))

    def check(self) -> None:
        _require(bool(self.data_dir), "DATA_DIR", "must not be empty")


@dataclass(frozen=True)
class LoggingConfig:
    log_level: str = field(metadata=doc("DEBUG, INFO, WARNING or ERROR."))
    log_format: str = field(
        metadata=doc(
            "`text` (one readable line per record) or `json` (one JSON object per line: time, level, logger, message, "
            "and the request, connection or job id). See docs/operations.md."
        )
    )

    def check(self) -> None:
        _require(self.log_format in {"text", "json"}, "LOG_FORMAT", "must be text or json")
        _require(
            self.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
            "LOG_LEVEL",
            "must be DEBUG, INFO, WARNING or ERROR",
        )


@dataclass(frozen=True)
class Settings:
    server: ServerConfig
    auth: AuthConfig
    database: DatabaseConfig
    redis: RedisConfig
    limits: LimitsConfig
    queue: QueueConfig
    presence: PresenceConfig
    notifications: NotificationsConfig
    worker: WorkerConfig
    attachments: AttachmentsConfig
    paths: PathsConfig
    logging: LoggingConfig

    def replace(self, **sections: object) -> Settings:
        return dataclasses.replace(self, **sections)


_SECTION_CLASSES = {
    "server": ServerConfig,
    "auth": AuthConfig,
    "database": DatabaseConfig,
    "redis": RedisConfig,
    "limits": LimitsConfig,
    "queue": QueueConfig,
    "presence": PresenceConfig,
    "notifications": NotificationsConfig,
    "worker": WorkerConfig,
    "attachments": AttachmentsConfig,
    "paths": PathsConfig,
    "logging": LoggingConfig,
}


def load(env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = ()) -> Settings:
    """Build Settings from defaults.toml and `env` (default: os.environ).

    `require` names the sections whose `check()` must pass (for example a
    worker needs `database` and `redis` but not `server`). Raises ConfigError.
    """
    env = os.environ if env is None else env
    defaults = tomllib.loads(DEFAULTS_FILE.read_text())
    sections = {name: _build(cls, defaults.get(name, {}), env) for name, cls in _SECTION_CLASSES.items()}
    settings = Settings(**sections)
    auth = settings.auth
    if auth.dev_mode and not auth.jwt_secret and not auth.jwt_public_key and not auth.uses_jwks:
        secret = dev_secret(Path(settings.paths.data_dir))
        settings = settings.replace(auth=dataclasses.replace(settings.auth, jwt_secret=secret))
    settings = settings.replace(attachments=_attachment_defaults(settings))
    for name in require:
        getattr(settings, name).check()
    return settings


def _attachment_defaults(settings: Settings) -> AttachmentsConfig:
    """UPLOAD_DIR under DATA_DIR, and the link key derived from JWT_SECRET, when they are not set."""
    section = settings.attachments
    if not section.upload_dir:
        section = dataclasses.replace(section, upload_dir=str(Path(settings.paths.data_dir) / "uploads"))
    if not section.attachment_secret and settings.auth.jwt_secret:
        derived = hmac.new(settings.auth.jwt_secret.encode(), b"chat attachment links", hashlib.sha256).hexdigest()
        section = dataclasses.replace(section, attachment_secret=derived)
    return section


def dev_secret(data_dir: Path) -> str:
    """The development HS256 secret kept in DATA_DIR, created on first use."""
    path = data_dir / "dev-jwt-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def options() -> list[tuple[str, str, object, str]]:
    """(section, ENV_NAME, default, description) for every setting, for docs."""
    defaults = tomllib.loads(DEFAULTS_FILE.read_text())
    rows = []
    for section, cls in _SECTION_CLASSES.items():
        for f in dataclasses.fields(cls):
            rows.append((section, f.name.upper(), defaults[section][f.name], f.metadata["doc"]))
    return rows


def _build(cls: type, defaults: Mapping[str, object], env: Mapping[str, str]):
    values = {}
    for f in dataclasses.fields(cls):
        name = f.name.upper()
        if f.name not in defaults:
            raise ConfigError(f"{name}: no default in {DEFAULTS_FILE.name}")
        raw = env.get(name)
        values[f.name] = defaults[f.name] if raw is None else _convert(name, f.type, raw)
    return cls(**values)


def _convert(name: str, kind: str, raw: str) -> object:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected {kind}, got {raw!r}") from None
    return raw


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{name} {message}")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
