"""What the flush job takes from Redis: last-seen times, statuses, devices and read cursors that
changed since the last flush (synchronous Redis, for workers).

Marks are taken with SPOP, so two flush jobs never write the same change
twice; a job that fails puts its marks back before raising, so RQ's retry
(or the next flush) writes them. Redis holds the current values; a mark
only says which ones to copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import redis

from app.state.keys import Keys


@dataclass
class Taken:
    users: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    last_seen: dict[str, int] = field(default_factory=dict)  # user id -> ms
    statuses: dict[str, str] = field(default_factory=dict)  # user id -> chosen status
    device_rows: list[tuple[str, str, str | None, int]] = field(default_factory=list)  # user, device, language, ms
    read_rows: list[tuple[int, str, int]] = field(default_factory=list)  # room, user, seq

    def __bool__(self) -> bool:
        return bool(self.users or self.devices or self.reads)


class FlushSource:
    def __init__(self, connection: redis.Redis, keys: Keys) -> None:
        self._redis = connection
        self._keys = keys

    def clear_request(self) -> None:
        """Called first by a flush job: a change marked from now on requests the next job."""
        self._redis.delete(self._keys.flush_requested)

    def take(self, limit: int) -> Taken:
        k = self._keys
        with self._redis.pipeline(transaction=False) as pipe:
            for kind in ("users", "devices", "reads"):
                pipe.spop(k.dirty(kind), limit)
            users, devices, reads = ([m.decode() for m in found or ()] for found in pipe.execute())
        taken = Taken(users, devices, reads)
        parsed = [orjson.loads(entry) for entry in devices]
        seen_ids = list(dict.fromkeys(users + [user_id for user_id, _, _ in parsed]))
        pairs = []
        for entry in reads:
            room_id, _, user_id = entry.partition(":")
            pairs.append((room_id, user_id))
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(k.last_seen, seen_ids or ["-"])
            pipe.hmget(k.presence_status, users or ["-"])
            for room_id, user_id in pairs:
                pipe.hget(k.read_cursors(user_id), room_id)
            seen, statuses, *cursors = pipe.execute()
        taken.last_seen = {u: int(float(v)) for u, v in zip(seen_ids, seen, strict=False) if v is not None}
        taken.statuses = {u: v.decode() for u, v in zip(users, statuses, strict=False) if v is not None}
        taken.device_rows = [
            (user_id, device_id, language, taken.last_seen[user_id])
            for user_id, device_id, language in parsed
            if user_id in taken.last_seen
        ]
        taken.read_rows = [
            (int(room_id), user_id, int(cursor))
            for (room_id, user_id), cursor in zip(pairs, cursors, strict=True)
            if cursor is not None
        ]
        return taken

    def restore(self, taken: Taken) -> None:
        """Put the marks back (the write to Postgres failed)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for kind, members in (("users", taken.users), ("devices", taken.devices), ("reads", taken.reads)):
                if members:
                    pipe.sadd(self._keys.dirty(kind), *members)
            pipe.execute()

    def waiting(self) -> int:
        with self._redis.pipeline(transaction=False) as pipe:
            for kind in ("users", "devices", "reads"):
                pipe.scard(self._keys.dirty(kind))
            return sum(pipe.execute())
