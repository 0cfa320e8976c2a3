"""Lua of the Redis coordination primitives.

A lock is a string key holding its holder, with a time-to-live (Redis expires it: a holder
that dies cannot keep it); a durable value is a string key without one. ``TAKE`` is also
spliced into the transport's guarded push, so the guard and the push are one script.
"""

from __future__ import annotations

# take(key, kind, a, b, c): kind "lock": a = holder, b = ttl in ms; kind "advance":
# a = "1" when a value is expected (b) or "0" when none is, c = the new value.
# Returns {1, value now} when granted, {0, value now} (or {0}: nothing there) when not.
TAKE = """
local function take(key, kind, a, b, c)
  local current = redis.call('GET', key)
  if kind == 'lock' then
    if current and current ~= a then return {0, current} end
    redis.call('SET', key, a, 'PX', b)
    return {1, a}
  end
  if (a == '1' and current ~= b) or (a == '0' and current) then return {0, current} end
  redis.call('SET', key, c)
  return {1, c}
end
"""

# KEYS[1]; ARGV: kind, a, b, c (as take())
TAKE_SCRIPT = TAKE + "return take(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])\n"

# KEYS[1]; ARGV: holder. Only a lock (a key with a time-to-live) held by ``holder`` ends.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('PTTL', KEYS[1]) >= 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1]; ARGV: holder, ttl_ms
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('PTTL', KEYS[1]) >= 0 then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
