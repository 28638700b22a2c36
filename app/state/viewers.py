"""Viewers on Redis: which connections have which room open.

Per room, `viewers:conns:<room>` is a sorted set of the connections viewing
it (`conn id US user id`, as in `presence:expiry`), scored by when each
started, and `viewers:users:<room>` the set of users shown viewing it (their
join was announced and their leave not yet). Per connection,
`viewing:<conn id US user id>` holds the one room it views, so the room of a
connection the presence sweep dropped is found.

A connection counts only while it is alive in presence: its score in
`presence:conns:<user>` (its expiry) is ahead of now. Open, close and gone
settle the rooms they touch: connections no longer alive are dropped, and users
shown viewing with no counted connection left are taken out of the users'
set and reported as left. Each transition is one Lua script, and a user
enters and leaves the users' set exactly once per stay, so two nodes racing
over a user's last two connections report exactly one leave, and two
opening their first two exactly one join.

Every key expires KEY_MARGIN_S plus twice PRESENCE_TTL after it was last
written or pushed forward by a node's keep-alive of its connections: long
enough that the sweep, however far behind after a mass disconnect, reaches
a dead connection's keys before they expire; and what a crashed node or a
lost cleanup leaves behind is dropped when next met, or else expires then.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from app.chat.ports import Opened
from app.state.errors import translate_errors
from app.state.keys import Keys
from app.state.presence import SEPARATOR

CHUNK = 500  # connections per script call of gone() and keep_alive()
KEY_MARGIN_S = 3600  # beyond twice PRESENCE_TTL, before a key not pushed forward expires

# ARGV 1..6 of every script but the keep-alive: now (ms), key TTL (ms), and the prefixes of the users'
# presence connections, of the rooms' connections, of the rooms' users and of the connections' rooms.
_COMMON = """
local now = tonumber(ARGV[1])
local ttl = ARGV[2]
local PRESENCE, CONNS, USERS, VIEWING = ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local function split(member)
  local cut = string.find(member, '\\31', 1, true)
  return string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
end

local function alive(sid, uid)
  local expires = redis.call('ZSCORE', PRESENCE .. uid, sid)
  return expires and tonumber(expires) > now
end

-- The room's live viewers in the order they started (and as a set), the connections no longer alive
-- dropped. Read only.
local function live(room)
  local order, seen, dead = {}, {}, {}
  for _, member in ipairs(redis.call('ZRANGE', CONNS .. room, 0, -1)) do
    local sid, uid = split(member)
    if alive(sid, uid) then
      if not seen[uid] then
        seen[uid] = true
        table.insert(order, uid)
      end
    else
      table.insert(dead, member)
    end
  end
  return order, seen, dead
end

-- Drop the room's connections no longer alive; take the users shown viewing it with no live connection
-- left out of its users' set, appending {room, user} of each to `left`. Returns live(room).
local function settle(room, left)
  local order, seen, dead = live(room)
  for _, member in ipairs(dead) do
    redis.call('ZREM', CONNS .. room, member)
    if redis.call('GET', VIEWING .. member) == room then redis.call('DEL', VIEWING .. member) end
  end
  local shown = redis.call('SMEMBERS', USERS .. room)
  table.sort(shown)
  for _, uid in ipairs(shown) do
    if not seen[uid] then
      redis.call('SREM', USERS .. room, uid)
      table.insert(left, room)
      table.insert(left, uid)
    end
  end
  return order, seen
end
"""

# ARGV 7: room id, 8: user id, 9: conn id, 10: the connection's member.
# Returns {0} when the connection is not alive (nothing recorded), else
# {1, 1 if the user joined, {viewers...}, {room, user, ...} of those who left}.
_OPEN = (
    _COMMON
    + """
local room, uid, sid, member = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
if not alive(sid, uid) then return {0} end
local left = {}
local before = redis.call('GET', VIEWING .. member)
if before and before ~= room then
  redis.call('ZREM', CONNS .. before, member)
  settle(before, left)
end
local order, seen = settle(room, left)
redis.call('ZADD', CONNS .. room, 'NX', ARGV[1], member)
redis.call('PEXPIRE', CONNS .. room, ttl)
redis.call('SET', VIEWING .. member, room, 'PX', ttl)
local joined = redis.call('SADD', USERS .. room, uid)
redis.call('PEXPIRE', USERS .. room, ttl)
if not seen[uid] then table.insert(order, uid) end
return {1, joined, order, left}
"""
)

# ARGV 7: room id, 8: the connection's member. Returns {room, user, ...} of those who left.
_CLOSE = (
    _COMMON
    + """
local room, member = ARGV[7], ARGV[8]
redis.call('ZREM', CONNS .. room, member)
if redis.call('GET', VIEWING .. member) == room then redis.call('DEL', VIEWING .. member) end
local left = {}
settle(room, left)
return left
"""
)

# ARGV 7..: the connections' members. Returns {room, user, ...} of those who left.
_GONE = (
    _COMMON
    + """
local rooms, touched = {}, {}
for i = 7, #ARGV do
  local member = ARGV[i]
  local room = redis.call('GET', VIEWING .. member)
  if room then
    redis.call('DEL', VIEWING .. member)
    redis.call('ZREM', CONNS .. room, member)
    if not touched[room] then
      touched[room] = true
      table.insert(rooms, room)
    end
  end
end
local left = {}
for _, room in ipairs(rooms) do settle(room, left) end
return left
"""
)

# ARGV 7: room id. Returns the room's live viewers; changes nothing.
_VIEWING = (
    _COMMON
    + """
local order = live(ARGV[7])
return order
"""
)

# ARGV 1: key TTL (ms), 2: prefix of the rooms' connections, 3: of the rooms' users, 4: of the connections'
# rooms, 5..: the connections' members. Pushes forward the expiry of each viewing connection and its room.
_KEEP_ALIVE = """
local done = {}
for i = 5, #ARGV do
  local key = ARGV[4] .. ARGV[i]
  local room = redis.call('GET', key)
  if room then
    redis.call('PEXPIRE', key, ARGV[1])
    if not done[room] then
      done[room] = true
      redis.call('PEXPIRE', ARGV[2] .. room, ARGV[1])
      redis.call('PEXPIRE', ARGV[3] .. room, ARGV[1])
    end
  end
end
return 0
"""


def member(user_id: str, conn_id: str) -> str:
    """A connection as the viewer keys (and `presence:expiry`) name it."""
    return f"{conn_id}{SEPARATOR}{user_id}"


def _pairs(flat: list[bytes]) -> list[tuple[str, str]]:
    return [(flat[i].decode(), flat[i + 1].decode()) for i in range(0, len(flat), 2)]


class RedisViewers:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: int) -> None:
        self._keys = keys
        self.key_ttl_ms = (2 * ttl_s + KEY_MARGIN_S) * 1000
        self._open = redis.register_script(_OPEN)
        self._close = redis.register_script(_CLOSE)
        self._gone = redis.register_script(_GONE)
        self._viewing = redis.register_script(_VIEWING)
        self._keep_alive = redis.register_script(_KEEP_ALIVE)

    def _common(self, now_ms: int) -> list[object]:
        k = self._keys
        return [
            now_ms,
            self.key_ttl_ms,
            k.presence_conns_prefix,
            k.viewer_conns_prefix,
            k.viewer_users_prefix,
            k.viewing_prefix,
        ]

    @translate_errors
    async def open(self, room_id: str, user_id: str, conn_id: str, now_ms: int) -> Opened:
        k = self._keys
        found = await self._open(
            keys=[k.viewer_conns(room_id), k.viewer_users(room_id), k.viewing(member(user_id, conn_id))],
            args=[*self._common(now_ms), room_id, user_id, conn_id, member(user_id, conn_id)],
        )
        if found[0] == 0:
            return Opened(live=False, joined=False, viewers=[], left=[])
        _, joined, viewers, left = found
        return Opened(True, joined == 1, [user.decode() for user in viewers], _pairs(left))

    @translate_errors
    async def close(self, room_id: str, user_id: str, conn_id: str, now_ms: int) -> list[str]:
        k = self._keys
        left = await self._close(
            keys=[k.viewer_conns(room_id), k.viewer_users(room_id), k.viewing(member(user_id, conn_id))],
            args=[*self._common(now_ms), room_id, member(user_id, conn_id)],
        )
        return [user for _, user in _pairs(left)]

    @translate_errors
    async def gone(self, conns: Sequence[tuple[str, str]], now_ms: int) -> list[tuple[str, str]]:
        left: list[tuple[str, str]] = []
        for start in range(0, len(conns), CHUNK):
            members = [member(user_id, conn_id) for user_id, conn_id in conns[start : start + CHUNK]]
            keys = [self._keys.viewing(m) for m in members]
            left += _pairs(await self._gone(keys=keys, args=[*self._common(now_ms), *members]))
        return left

    @translate_errors
    async def keep_alive(self, conns: Sequence[tuple[str, str]]) -> None:
        k = self._keys
        for start in range(0, len(conns), CHUNK):
            members = [member(user_id, conn_id) for user_id, conn_id in conns[start : start + CHUNK]]
            await self._keep_alive(
                keys=[k.viewing(m) for m in members],
                args=[self.key_ttl_ms, k.viewer_conns_prefix, k.viewer_users_prefix, k.viewing_prefix, *members],
            )

    @translate_errors
    async def viewing(self, room_id: str, now_ms: int) -> list[str]:
        users = await self._viewing(keys=[self._keys.viewer_conns(room_id)], args=[*self._common(now_ms), room_id])
        return [user.decode() for user in users]
