"""Signing in: a verified identity becomes a stored, active user."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.chat.errors import ChatError, Code
from app.chat.model import Profile, User
from app.chat.ports import Clock, UserStore
from app.chat.rules import check_text, check_user_id


class Users:
    def __init__(
        self, store: UserStore, clock: Clock, cache_ttl: float, monotonic: Callable[[], float] = time.monotonic
    ):
        self._store = store
        self._clock = clock
        self._cache_ttl = cache_ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Profile, User]] = {}

    async def sign_in(self, profile: Profile) -> User:
        """Create or refresh the user from `profile`; raise USER_DISABLED for a disabled user.

        A node writes a user's row at most once per cache period unless the
        profile changes, so a request or a connection costs no write.
        """
        check_user_id(profile.id, "sub")
        for field in ("name", "username"):
            value = getattr(profile, field)
            if value is not None:
                check_text(value, field)
        cached = self._cache.get(profile.id)
        if cached is not None and cached[0] > self._monotonic() and cached[1] == profile:
            user = cached[2]
        else:
            user = await self._store.upsert(profile, self._clock.now())
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[profile.id] = (self._monotonic() + self._cache_ttl, profile, user)
        if not user.is_active:
            raise ChatError(Code.USER_DISABLED, "this user is disabled")
        return user

    def forget(self, user_id: str) -> None:
        """Drop the cached row, so the next sign-in reads it again (after disabling a user)."""
        self._cache.pop(user_id, None)
