"""Every Redis key, channel and queue name, in one place.

All names start with REDIS_PREFIX, so several deployments (or test runs)
can share one Redis. Web nodes and workers both use these.
"""

from __future__ import annotations

from dataclasses import dataclass

# Queue names without the prefix, as operators give them to `run.py worker --queues`.
MESSAGES_QUEUE = "messages"
PRESENCE_QUEUE = "presence"
NOTIFICATIONS_QUEUE = "notifications"
QUEUES = (MESSAGES_QUEUE, PRESENCE_QUEUE, NOTIFICATIONS_QUEUE)


@dataclass(frozen=True)
class Keys:
    prefix: str

    def seq(self, room_id: str) -> str:
        """The room's sequence counter (INCR gives the next seq)."""
        return f"{self.prefix}room:{room_id}:seq"

    @property
    def outbox(self) -> str:
        """Hash of acknowledged messages not yet in Postgres: outbox_field -> message JSON."""
        return f"{self.prefix}outbox"

    @property
    def outbox_ids(self) -> str:
        """Hash: message id -> its outbox field, while the message waits in the outbox."""
        return f"{self.prefix}outbox:ids"

    @property
    def outbox_since(self) -> str:
        """Sorted set of the same fields, scored by when they were (re)enqueued, in ms."""
        return f"{self.prefix}outbox:since"

    def pending_changes(self, room_id: str) -> str:
        """Set of the ids of a room's messages with an edit or delete waiting in the outbox."""
        return f"{self.prefix}outbox:changes:{room_id}"

    def idempotency(self, sender_id: str, client_ref: str) -> str:
        # The length prefix keeps ("a:b", "c") and ("a", "b:c") apart.
        return f"{self.prefix}idem:{len(sender_id)}:{sender_id}:{client_ref}"

    def read_cursors(self, user_id: str) -> str:
        """Hash room_id -> the highest seq the user has read (their own messages count as read)."""
        return f"{self.prefix}user:{user_id}:read"

    def presence_conns(self, user_id: str) -> str:
        """Sorted set of the user's live connections (conn id), scored by when each expires (ms)."""
        return f"{self.presence_conns_prefix}{user_id}"

    @property
    def presence_conns_prefix(self) -> str:
        return f"{self.prefix}presence:conns:"

    @property
    def presence_expiry(self) -> str:
        """Sorted set of every live connection (`conn id US user id`), scored by expiry: what the sweep scans."""
        return f"{self.prefix}presence:expiry"

    @property
    def presence_status(self) -> str:
        """Hash user id -> the status the user chose (absent: online)."""
        return f"{self.prefix}presence:status"

    @property
    def last_seen(self) -> str:
        """Hash user id -> when a connection of the user was last alive (ms)."""
        return f"{self.prefix}presence:last_seen"

    def viewer_conns(self, room_id: str) -> str:
        """Sorted set of the connections viewing the room (`conn id US user id`), scored by when each
        started viewing (ms)."""
        return f"{self.viewer_conns_prefix}{room_id}"

    @property
    def viewer_conns_prefix(self) -> str:
        return f"{self.prefix}viewers:conns:"

    def viewer_users(self, room_id: str) -> str:
        """Set of the users shown viewing the room: announced as joined and not yet as left."""
        return f"{self.viewer_users_prefix}{room_id}"

    @property
    def viewer_users_prefix(self) -> str:
        return f"{self.prefix}viewers:users:"

    def viewing(self, member: str) -> str:
        """The room a connection (`conn id US user id`, as in `presence:expiry`) views, as a string."""
        return f"{self.viewing_prefix}{member}"

    @property
    def viewing_prefix(self) -> str:
        return f"{self.prefix}viewing:"

    def dirty(self, kind: str) -> str:
        """Set of what waits to be flushed to Postgres: `users`, `devices` or `reads`."""
        return f"{self.prefix}flush:{kind}"

    @property
    def flush_requested(self) -> str:
        """Set while a flush job is queued, so however many changes arrive, one job is."""
        return f"{self.prefix}flush:requested"

    def rate(self, bucket: str, key: str) -> str:
        return f"{self.prefix}rate:{bucket}:{key}"

    @property
    def node_counter(self) -> str:
        return f"{self.prefix}nodes"

    @property
    def redrive_lock(self) -> str:
        return f"{self.prefix}outbox:redrive-lock"

    @property
    def upload_sweep_lock(self) -> str:
        """Held for an interval by the worker that sweeps unsent uploads (see worker/upload_sweep.py)."""
        return f"{self.prefix}uploads:sweep-lock"

    def channel(self, topic: str) -> str:
        return f"{self.prefix}topic:{topic}"

    def topic(self, channel: str) -> str:
        return channel[len(self.prefix) + len("topic:") :]

    def queue(self, name: str) -> str:
        """The RQ queue name for one of QUEUES."""
        return f"{self.prefix}{name}"


def outbox_field(room_id: str, seq: int) -> str:
    return f"{room_id}:{seq}"


def change_field(message_id: str) -> str:
    """The outbox field of a message's pending change (edit or delete)."""
    return f"c:{message_id}"


def is_change_field(field: str) -> bool:
    return field.startswith("c:")


def parse_outbox_field(field: str) -> tuple[str, int]:
    room_id, _, seq = field.rpartition(":")
    return room_id, int(seq)
