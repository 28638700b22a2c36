"""Fences make a join's catch-up and the live stream meet without a gap or a duplicate.

While a session joins a room, live messages to it are held back (kept, not dropped). The join reads
the room's current seq S and answers with the messages up to S; then the held messages after S are
delivered, in order, and the fence opens: live messages up to S are skipped, later ones delivered.
The bus delivers a room's messages in seq order, so the fence is dropped at the first message past it.
"""

from __future__ import annotations

HELD = -1


class Fences:
    def __init__(self) -> None:
        self._by_topic: dict[str, dict[str, int]] = {}
        self._held: dict[tuple[str, str], list[dict]] = {}

    def hold(self, topic: str, sid: str) -> None:
        """Keep every live message to `sid` in `topic` back until `release`."""
        self._by_topic.setdefault(topic, {})[sid] = HELD
        self._held[(topic, sid)] = []

    def take_held(self, topic: str, sid: str, after: int) -> list[dict]:
        """The messages held back so far with a seq above `after`, in order; the hold stays.
        Deliver them, then take again with the last seq delivered, until none is left."""
        held = self._held.get((topic, sid))
        if not held:
            return []
        later = sorted((message for message in held if message["seq"] > after), key=lambda message: message["seq"])
        held.clear()
        return later

    def release(self, topic: str, sid: str, upto: int) -> None:
        """Messages up to `upto` reached `sid` another way: skip those, deliver the ones after."""
        self._held.pop((topic, sid), None)
        fences = self._by_topic.get(topic)
        if fences is not None and sid in fences:
            fences[sid] = upto

    def drop(self, topic: str, sid: str) -> None:
        self._held.pop((topic, sid), None)
        fences = self._by_topic.get(topic)
        if fences is not None:
            fences.pop(sid, None)
            if not fences:
                del self._by_topic[topic]

    def skip(self, topic: str, message: dict) -> list[str]:
        """The connections that must not get `message` (a room's message, with its seq) live now;
        it is kept for those whose join is still in progress."""
        fences = self._by_topic.get(topic)
        if not fences:
            return []
        seq = message["seq"]
        skipped = []
        for sid, upto in list(fences.items()):
            if upto == HELD:
                skipped.append(sid)
                self._held[(topic, sid)].append(message)
            elif seq <= upto:
                skipped.append(sid)
            else:
                del fences[sid]
        if not fences:
            del self._by_topic[topic]
        return skipped
