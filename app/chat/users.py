"""Signing in: a verified identity becomes a stored, active user. Finding people by username, the
directory of names and usernames that renders message senders, and the devices a user connected from."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from app.chat.errors import ChatError, Code
from app.chat.model import DeviceRecord, Profile, User
from app.chat.ports import Clock, UserStore
from app.chat.rules import check_text, check_user_id, check_username

DIRECTORY_SIZE = 100_000


class Users:
    def __init__(
        self,
        store: UserStore,
        clock: Clock,
        cache_ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
        directory_size: int = DIRECTORY_SIZE,
    ):
        self._store = store
        self._clock = clock
        self._cache_ttl = cache_ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Profile, User]] = {}
        # The directory: user id -> (expires at, the user or None for no such user, stamp), least
        # recently used first. Stamps order what the node learnt: sign-ins and forget() take a new
        # one, and a lookup fills an entry only if nothing newer was learnt about it while it waited.
        self._directory: OrderedDict[str, tuple[float, User | None, int]] = OrderedDict()
        self._directory_size = directory_size
        self._holders: dict[str, str] = {}  # username -> the id whose directory entry holds it
        self._stamp = 0

    async def sign_in(self, profile: Profile) -> User:
        """Create or refresh the user from `profile`; raise USER_DISABLED for a disabled user.

        A node writes a user's row at most once per cache period unless the
        profile changes, so a request or a connection costs no write. A
        username another user holds moves to this one (the store does it).
        """
        check_user_id(profile.id, "sub")
        if profile.name is not None:
            check_text(profile.name, "name")
        if profile.username is not None:
            check_username(profile.username)
        cached = self._cache.get(profile.id)
        if cached is not None and cached[0] > self._monotonic() and cached[1] == profile:
            user = cached[2]
        else:
            user = await self._store.upsert(profile, self._clock.now())
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[profile.id] = (self._monotonic() + self._cache_ttl, profile, user)
            self._stamp += 1
            self._put(user.id, user, self._stamp)
        if not user.is_active:
            raise ChatError(Code.USER_DISABLED, "this user is disabled")
        return user

    def forget(self, user_id: str) -> None:
        """Drop the cached row and the directory entry, so the next sign-in or lookup reads them again
        (after disabling or enabling a user)."""
        self._cache.pop(user_id, None)
        self._stamp += 1
        # An expired entry: lookups read the user again, and one that began before now fills nothing.
        self._put(user_id, None, self._stamp, expires=0.0)

    async def by_username(self, username: str) -> User:
        """The user holding `username` (compared exactly), disabled or not; raise USER_NOT_FOUND when
        nobody does or it is not a username at all. Always asks the store: usernames move."""
        try:
            check_username(username)
        except ChatError:
            raise ChatError(Code.USER_NOT_FOUND, "no user has this username") from None
        stamp = self._stamp
        user = await self._store.by_username(username)
        if user is None:
            raise ChatError(Code.USER_NOT_FOUND, f"no user has the username {username!r}")
        self._fill(user.id, user, stamp)
        return user

    async def directory(self, user_ids: Iterable[str]) -> dict[str, User]:
        """id, name, username and is_active of each user among `user_ids` that exists (ids without a
        row are left out). Served from this node's directory, which asks the store, in one call, only
        for ids it does not know or learnt of more than the user cache period ago."""
        found: dict[str, User] = {}
        missing: list[str] = []
        now = self._monotonic()
        for user_id in dict.fromkeys(user_ids):
            entry = self._directory.get(user_id)
            if entry is not None and entry[0] > now:
                self._directory.move_to_end(user_id)
                if entry[1] is not None:
                    found[user_id] = entry[1]
            else:
                missing.append(user_id)
        if missing:
            stamp = self._stamp
            fetched = await self._store.profiles(missing)
            for user_id in missing:
                user = fetched.get(user_id)
                if user is not None:
                    found[user_id] = user
                self._fill(user_id, user, stamp)
        return found

    async def devices(self, actor: User) -> list[DeviceRecord]:
        """The devices `actor` connected from (`device_unique_id` on connect) with the language each last named,
        most recently seen first. A connection is reflected once the presence flush has written it to the store
        (a worker's `presence` job, usually a second or two after the connection opened)."""
        return await self._store.devices(actor.id)

    def _fill(self, user_id: str, user: User | None, stamp: int) -> None:
        """Keep what a lookup that began at `stamp` read, unless the node learnt something newer meanwhile."""
        entry = self._directory.get(user_id)
        if entry is None or entry[2] <= stamp:
            self._put(user_id, user, stamp)

    def _put(self, user_id: str, user: User | None, stamp: int, expires: float | None = None) -> None:
        self._unhold(user_id, self._directory.get(user_id))
        if user is not None and user.username is not None:
            # One username, one user: whoever this node saw with it before has lost it since.
            holder = self._holders.get(user.username)
            if holder is not None and holder != user_id:
                self._unhold(holder, self._directory.get(holder))
                self._directory[holder] = (0.0, None, stamp)  # read again when asked for
            self._holders[user.username] = user_id
        self._directory[user_id] = (self._monotonic() + self._cache_ttl if expires is None else expires, user, stamp)
        self._directory.move_to_end(user_id)
        while len(self._directory) > self._directory_size:
            self._unhold(*self._directory.popitem(last=False))

    def _unhold(self, user_id: str, entry: tuple[float, User | None, int] | None) -> None:
        username = None if entry is None or entry[1] is None else entry[1].username
        if username is not None and self._holders.get(username) == user_id:
            del self._holders[username]
