"""Tallies in Redis: two hashes a tally, its counts (``total``, ``succeeded``, ``failed``,
``cancelled``) and its members' states (member -> state).

Each call that changes a tally is one Lua script, so one atomic step and one round trip,
and gives both keys the tally's time-to-live again: Redis deletes an idle tally by itself.
Both keys carry the hash tag of their scope (:func:`.redis.key_of`), so a script touching
them runs on one node of a Cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .base import stored_name
from .redis_permits import Run, milliseconds
from .tallies import PENDING, Tallies, Tally

#: Members an ``add`` script: a larger add is several scripts, each atomic, so another call
#: may see the tally between two of them, with some of the members added. Adding them all
#: before any ends, as a workflow does, nobody can tell. 10,000 members take Redis a few
#: milliseconds: it serves nobody else meanwhile.
ADD_CHUNK = 10_000

# The counts of KEYS[1] as a reply: total, succeeded, failed, cancelled.
_COUNTS = """
local function counts()
  local found = redis.call('HMGET', KEYS[1], 'total', 'succeeded', 'failed', 'cancelled')
  for i = 1, 4 do found[i] = tonumber(found[i]) or 0 end
  return found
end
local function renew(ttl)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
"""

# KEYS: counts, members; ARGV: ttl_ms, the members. A tally without counts is a new one:
# members left from an expired one (Redis expires the two keys one at a time) go first.
ADD = _COUNTS + """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
local added = 0
for i = 2, #ARGV do added = added + redis.call('HSETNX', KEYS[2], ARGV[i], 'pending') end
redis.call('HINCRBY', KEYS[1], 'total', added)
renew(ARGV[1])
return counts()
"""

# KEYS: counts, members; ARGV: ttl_ms, then (member, to) pairs in order: ``to`` an outcome
# (an end) or 'pending' (a reopening). The moves are tallies.after_end and after_reopen.
MOVE = _COUNTS + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, 0} end
local function after(state, to)
  if to == 'pending' then
    if state == 'failed' or state == 'cancelled' then return 'pending' end
    return state
  end
  if state == 'pending' or (state == 'failed' and to == 'succeeded') then return to end
  return state
end
for i = 2, #ARGV, 2 do
  local state = redis.call('HGET', KEYS[2], ARGV[i])
  if state then
    local now = after(state, ARGV[i + 1])
    if now ~= state then
      redis.call('HSET', KEYS[2], ARGV[i], now)
      if state ~= 'pending' then redis.call('HINCRBY', KEYS[1], state, -1) end
      if now ~= 'pending' then redis.call('HINCRBY', KEYS[1], now, 1) end
    end
  end
end
renew(ARGV[1])
return counts()
"""

# KEYS: the counts of each name. Returns their counts, in order.
READ = """
local all = {}
for k = 1, #KEYS do
  local found = redis.call('HMGET', KEYS[k], 'total', 'succeeded', 'failed', 'cancelled')
  for i = 1, 4 do found[i] = tonumber(found[i]) or 0 end
  all[k] = found
end
return all
"""

#: Runs one command: ``call(lambda client: client.hgetall(key))``.
Call = Callable[[Callable[[Any], Any]], Any]


class RedisTallies(Tallies):
    """Tallies whose hashes are named by ``key(scope, name, kind)``; scripts run by
    ``run``, single commands by ``call``."""

    def __init__(self, key: Callable[[str, str, str], str], run: Run, call: Call) -> None:
        self._key = key
        self._run = run
        self._call = call

    def add(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        stored = list(dict.fromkeys(map(stored_name, members)))
        for first in range(0, len(stored), ADD_CHUNK):
            reply = self._run("tally_add", ADD, self._keys(scope, name),
                              [milliseconds(ttl), *stored[first:first + ADD_CHUNK]])
        return _tally(name, reply)

    def count(self, scope: str, name: str, ends: Sequence[tuple[str, str]],
              ttl: float) -> Tally:
        return self._move(scope, name, [(stored_name(m), outcome) for m, outcome in ends], ttl)

    def reopen(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        return self._move(scope, name, [(stored_name(m), PENDING) for m in members], ttl)

    def read(self, scope: str, names: Sequence[str]) -> dict[str, Tally]:
        keys = [self._key(scope, name, "tally") for name in names]
        replies = self._run("tally_read", READ, keys, [])
        return {name: _tally(name, reply) for name, reply in zip(names, replies, strict=True)}

    def members(self, scope: str, name: str, state: str | None = None, after: str = "",
                limit: int = 1000) -> list[tuple[str, str]]:
        key = self._key(scope, name, "tally-members")
        # A hash keeps no order, and Lua compares strings by the server's locale: the
        # members are sorted here, by code point as in the other stores. A listing is an
        # operator's, rare: it reads the whole tally each page.
        found = self._call(lambda client: client.hgetall(key))
        listed = ((_text(member), _text(now)) for member, now in found.items())
        chosen = [(member, now) for member, now in listed
                  if member > after and (state is None or now == state)]
        return sorted(chosen)[:limit]

    def forget(self, scope: str, name: str) -> None:
        keys = self._keys(scope, name)
        self._call(lambda client: client.delete(*keys))

    def _move(self, scope: str, name: str, moves: list[tuple[str, str]], ttl: float) -> Tally:
        args: list[Any] = [milliseconds(ttl)]
        for member, to in moves:
            args += [member, to]
        return _tally(name, self._run("tally_move", MOVE, self._keys(scope, name), args))

    def _keys(self, scope: str, name: str) -> list[str]:
        return [self._key(scope, name, "tally"), self._key(scope, name, "tally-members")]


def _tally(name: str, reply: Sequence[Any]) -> Tally:
    total, succeeded, failed, cancelled = (int(count) for count in reply)
    return Tally(name, total, succeeded, failed, cancelled)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
