"""Lua of the Redis coordination primitives.

A lock is a string key holding its holder, with a time-to-live (Redis expires it: a holder
that dies cannot keep it); a durable value is a string key without one. ``TAKE`` is also
spliced into the transport's guarded push, so the guards and the push are one script.
"""

from __future__ import annotations

# allows(key, kind, a, b) and apply(key, kind, a, b, c), for kind "lock": a = holder,
# b = ttl in ms; kind "advance": a = "1" when a value is expected (b) or "0" when none is,
# c = the new value. take() is both: {1, value now} when granted, {0, value now} (or {0}:
# nothing there) when not. take_all(first_key, first_arg) checks every guard before it
# changes any (keys from KEYS[first_key], four arguments each from ARGV[first_arg]):
# {1, value} or {0, value, position of the guard that refused (from 0)}.
TAKE = """
local function allows(key, kind, a, b)
  local current = redis.call('GET', key)
  if kind == 'lock' then return (not current) or current == a, current end
  if a == '1' then return current == b, current end
  return not current, current
end
local function apply(key, kind, a, b, c)
  if kind == 'lock' then
    redis.call('SET', key, a, 'PX', b)
    return a
  end
  redis.call('SET', key, c)
  return c
end
local function take_all(first_key, first_arg)
  local n = #KEYS - first_key + 1
  for i = 0, n - 1 do
    local j = first_arg + i * 4
    local ok, current = allows(KEYS[first_key + i], ARGV[j], ARGV[j + 1], ARGV[j + 2])
    if not ok then return {0, current, i} end
  end
  local value
  for i = n - 1, 0, -1 do
    local j = first_arg + i * 4
    value = apply(KEYS[first_key + i], ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3])
  end
  return {1, value}
end
"""

# KEYS[1]; ARGV: kind, a, b, c (as take_all())
TAKE_SCRIPT = TAKE + "return take_all(1, 1)\n"

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
