"""A room's ordered messages, read from Postgres merged with the not-yet-persisted ones.

Sequence numbers are gap-free, so a reader knows exactly which seqs a
range must hold and fetches only the missing ones from the message log.
Edits and deletes not yet persisted wait in the log too, and are applied
over what Postgres holds. The order of the three reads matters: Postgres, then the log, then
Postgres again for what neither had. A message persisted between the
first two reads leaves the log but is then in Postgres, so it can never
vanish from a read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.chat.model import Message
from app.chat.ports import MessageLog, MessageStore

Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Changed:
    """A page of changed messages. `through`: the version up to which the page is complete when there are
    more changes after it (ask again from there); None when it holds every change."""

    messages: list[Message]
    through: int | None


class Timeline:
    def __init__(self, store: MessageStore, log: MessageLog) -> None:
        self._store = store
        self._log = log

    async def last_seq(self, room_id: str) -> int:
        return (await self.last_seqs([room_id]))[room_id]

    async def last_seqs(self, room_ids: Sequence[str]) -> dict[str, int]:
        """Current seq of each room, seeding missing counters from Postgres."""
        if not room_ids:
            return {}
        seqs = await self._log.last_seqs(room_ids)
        missing = [room_id for room_id, seq in seqs.items() if seq is None]
        if missing:
            await self.seed(missing)
            seqs.update(await self._log.last_seqs(missing))
        return {room_id: seq or 0 for room_id, seq in seqs.items()}

    async def seed(self, room_ids: Sequence[str]) -> None:
        persisted = await self._store.max_seqs(room_ids)
        for room_id in room_ids:
            await self._log.seed(room_id, persisted.get(room_id, 0))

    async def read(self, room_id: str, lo: int, hi: int) -> list[Message]:
        """Messages with lo <= seq <= hi, ascending."""
        if hi < lo:
            return []
        found = {(m.room_id, m.seq): m for m in await self._store.range(room_id, lo, hi)}
        await self._fill(found, ((room_id, seq) for seq in range(lo, hi + 1)))
        return await self.current([found[key] for key in sorted(found, key=lambda key: key[1])])

    async def seq_from_id(self, room_id: str, min_id: int) -> int:
        """Where the room's messages with an id of at least `min_id` begin, as an exclusive upper seq for reading
        the ones before: the seq of the first such message in Postgres, or the last seq + 1 when Postgres has
        none (the newest messages may all be in the log still). Below it, messages not yet persisted may have a
        larger id: a reader that must leave those out looks at each message's id (or time)."""
        persisted = await self._store.seq_from_id(room_id, min_id)
        if persisted is not None:
            return persisted
        return await self.last_seq(room_id) + 1

    async def at(self, keys: Sequence[Key]) -> dict[Key, Message]:
        """The messages at the given (room_id, seq) pairs, where they exist."""
        if not keys:
            return {}
        found = {(m.room_id, m.seq): m for m in await self._store.at(keys)}
        await self._fill(found, keys)
        current = await self.current(list(found.values()))
        return {(m.room_id, m.seq): m for m in current}

    async def by_id(self, message_id: str) -> Message | None:
        """One message by id, as it is now (in the same read order: Postgres, the log, Postgres)."""
        message = await self._store.by_id(message_id)
        if message is None:
            message = await self._log.pending_by_id(message_id) or await self._store.by_id(message_id)
        return (await self.current([message]))[0] if message is not None else None

    async def changed(self, room_id: str, since_version: int, upto_seq: int | None, limit: int) -> Changed:
        """The room's messages edited or deleted after `since_version` (seq at most `upto_seq`), as they are
        now, by version ascending, at most `limit`. The pending changes are read before Postgres: a change
        persisted in between has left the log only after its commit, so it is in Postgres by the second
        read and none is missed."""
        pending = [c for c in await self._log.pending_changes(room_id) if upto_seq is None or c.seq <= upto_seq]
        persisted = await self._store.changed(room_id, since_version, upto_seq, limit + 1)
        # Past the `limit + 1`-th persisted change there may be others, not read: keep only what comes before it.
        bound = persisted[limit].version if len(persisted) > limit else None
        keys = {(room_id, m.seq) for m in persisted[:limit]} | {(room_id, c.seq) for c in pending}
        now = await self.at(sorted(keys))
        found = sorted(
            (m for m in now.values() if m.version > since_version and (bound is None or m.version < bound)),
            key=lambda m: m.version,
        )
        if len(found) > limit:
            return Changed(found[:limit], found[limit - 1].version)
        return Changed(found, bound - 1 if bound is not None else None)

    async def current(self, messages: list[Message]) -> list[Message]:
        """The messages with the edits and deletes not yet in Postgres applied."""
        if not messages:
            return messages
        changes = await self._log.changes([m.id for m in messages])
        return [changes[m.id].apply(m) if m.id in changes else m for m in messages]

    async def _fill(self, found: dict[Key, Message], wanted: Iterable[Key]) -> None:
        missing = [key for key in wanted if key not in found]
        if not missing:
            return
        for message in await self._log.pending(missing):
            found[(message.room_id, message.seq)] = message
        missing = [key for key in missing if key not in found]
        if missing:
            for message in await self._store.at(missing):
                found[(message.room_id, message.seq)] = message
