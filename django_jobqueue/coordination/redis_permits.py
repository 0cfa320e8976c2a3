"""Permits in Redis: a sorted set per name, its members the holders, scored by when their
permit expires (milliseconds, Redis ``TIME``).

Each call is one Lua script, so one atomic step and one round trip: expired members are
removed first, and the key expires with its last holder, so an idle name leaves nothing
behind. The keys of a scope share its Cluster slot (the hash tag of
:func:`.redis.key_of`), so an admission of a batch is one script on a Cluster too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .base import Admission, Permit, Permits

# now (ms, Redis clock); expire_at_last(keys): each key expires with its last holder.
_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function expire_at_last(keys)
  for i = 1, #keys do
    local last = redis.call('ZRANGE', keys[i], -1, -1, 'WITHSCORES')
    if last[2] then redis.call('PEXPIREAT', keys[i], last[2]) end
  end
end
"""

# KEYS: the names' sets; ARGV: the number of permits to give back first and two arguments
# each (the index of its key in KEYS, holder), then the number of groups, then each group's
# number of permits and four arguments a permit: the index of its key, holder, limit, ttl_ms.
# Permits are added as they are granted and the group's taken out again when one refuses.
# Returns a reply a group: {1}, or {0, position of the refusing permit (from 0), ms until
# its first holder expires (-1: it has none)}.
ADMIT = _COMMON + """
local j = 2
for r = 1, tonumber(ARGV[1]) do
  redis.call('ZREM', KEYS[tonumber(ARGV[j])], ARGV[j + 1])
  j = j + 2
end
for i = 1, #KEYS do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) end
local answers = {}
local groups = tonumber(ARGV[j])
j = j + 1
for g = 1, groups do
  local n = tonumber(ARGV[j])
  j = j + 1
  local undo, refused = {}, nil
  for p = 0, n - 1 do
    local key, holder = KEYS[tonumber(ARGV[j])], ARGV[j + 1]
    local limit, ttl = tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3])
    j = j + 4
    if not refused then
      local before = redis.call('ZSCORE', key, holder)
      if before or redis.call('ZCARD', key) < limit then
        undo[#undo + 1] = {key, holder, before}
        redis.call('ZADD', key, now + ttl, holder)
      else
        local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
        refused = {0, p, first[2] and (tonumber(first[2]) - now) or -1}
      end
    end
  end
  if refused then
    for u = #undo, 1, -1 do
      local key, holder, before = undo[u][1], undo[u][2], undo[u][3]
      if before then redis.call('ZADD', key, before, holder)
      else redis.call('ZREM', key, holder) end
    end
    answers[g] = refused
  else
    answers[g] = {1}
  end
end
expire_at_last(KEYS)
return answers
"""

# KEYS: a set a permit; ARGV: their holders.
GIVE_BACK = """
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[i]) end
return 0
"""

# KEYS: a set a permit; ARGV: ttl_ms, then their holders. Returns the positions (from 0)
# of the permits not held.
EXTEND = _COMMON + """
local lost = {}
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZSCORE', KEYS[i], ARGV[i + 1]) then
    redis.call('ZADD', KEYS[i], now + tonumber(ARGV[1]), ARGV[i + 1])
  else
    lost[#lost + 1] = i - 1
  end
end
expire_at_last(KEYS)
return lost
"""

# KEYS: the names' sets. Returns their live members' counts.
HOLDERS = _COMMON + """
local counts = {}
for i = 1, #KEYS do counts[i] = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') end
return counts
"""

#: (script name, Lua source, keys, arguments) -> the script's reply
Run = Callable[[str, str, list[str], list[Any]], Any]


class RedisPermits(Permits):
    """Permits whose sets are named by ``key(scope, name)``, run by ``run``."""

    def __init__(self, key: Callable[[str, str], str], run: Run) -> None:
        self._key = key
        self._run = run

    def admit(self, scope: str, groups: Sequence[Sequence[Permit]],
              releasing: Sequence[tuple[str, str]] = ()) -> list[Admission]:
        keys: dict[str, int] = {}  # each name's key once, with its position in KEYS
        args: list[Any] = [len(releasing)]
        for name, holder in releasing:
            args += [keys.setdefault(self._key(scope, name), len(keys) + 1), holder]
        args.append(len(groups))
        for group in groups:
            args.append(len(group))
            for permit in group:
                index = keys.setdefault(self._key(scope, permit.name), len(keys) + 1)
                args += [index, permit.holder, permit.limit, milliseconds(permit.ttl)]
        return [_admission(reply) for reply in self._run("admit", ADMIT, list(keys), args)]

    def give_back(self, scope: str, permits: Sequence[tuple[str, str]]) -> None:
        keys = [self._key(scope, name) for name, _ in permits]
        self._run("give_back", GIVE_BACK, keys, [holder for _, holder in permits])

    def extend(self, scope: str, permits: Sequence[tuple[str, str]],
               ttl: float) -> list[tuple[str, str]]:
        keys = [self._key(scope, name) for name, _ in permits]
        lost = self._run("extend", EXTEND, keys, [milliseconds(ttl), *(h for _, h in permits)])
        return [permits[int(position)] for position in lost]

    def holders(self, scope: str, names: Sequence[str]) -> dict[str, int]:
        counts = self._run("holders", HOLDERS, [self._key(scope, name) for name in names], [])
        return {name: int(n) for name, n in zip(names, counts, strict=True)}


def milliseconds(seconds: float) -> int:
    """A time-to-live as Redis takes it: whole milliseconds, at least one."""
    return max(int(seconds * 1000), 1)


def _admission(reply: Sequence[Any]) -> Admission:
    if int(reply[0]):
        return Admission(True)
    free_in = int(reply[2])
    return Admission(False, int(reply[1]), None if free_in < 0 else free_in / 1000)
