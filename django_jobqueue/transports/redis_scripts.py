"""Lua scripts of the Redis transport: each state change is one atomic script.

Keys of one queue (all share the hash tag ``{prefix:queue}``, so one Cluster slot):

- ``jobs``: hash id -> payload
- ``ready``: sorted set id -> priority rank and arrival sequence (ZPOPMIN takes the next)
- ``delayed``: sorted set id -> due time (ms)
- ``reserved``: sorted set id -> lease expiry (ms)
- ``meta``: hash ``a:<id>`` attempts, ``t:<id>`` reservation token, ``p:<id>`` priority,
  ``s:<id>`` set once the job has started running (a prefetched job has not)
- ``seq``: arrival counter; ``notify``: list that wakes an idle worker blocked in BLPOP
- ``since``: sorted set id -> when the job became ready (ms), kept beside ``ready`` (whose
  order is priority, not time) so the oldest waiting job's age is one O(log n) read

Times come from Redis ``TIME``. Every operation is O(log n) in the queue's size.
"""

from __future__ import annotations

from ..coordination.redis_lua import TAKE

# ``notify`` stays last: ``RedisTransport.wait`` blocks on ``keys(queue)[-1]``.
KEYS_ORDER = ("jobs", "ready", "delayed", "reserved", "meta", "seq", "since", "notify")

_PRELUDE = """
local jobs, ready, delayed, reserved, meta, seq, since, notify =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function rank(id)
  local p = tonumber(redis.call('HGET', meta, 'p:' .. id) or '0')
  -- Higher priority first, then arrival order; fits a double exactly.
  return (100 - p) * 17592186044416 + redis.call('INCR', seq)
end
local function promote(limit)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #due, 2 do
    local id = due[i]
    redis.call('ZREM', delayed, id)
    redis.call('ZADD', ready, rank(id), id)
    -- Ready since it fell due, not since this promotion.
    redis.call('ZADD', since, due[i + 1], id)
  end
  return #due / 2
end
"""
#: The opening of every script on a queue's keys (their names, ``now``, ``rank()``,
#: ``promote()``), for the scripts of other modules (:mod:`.redis_jobs`).
PRELUDE = _PRELUDE

# Removes a finished job, or marks a job started, if ``token`` still holds it (a stale
# reservation changes nothing).
_REMOVE = """
local function remove(id, token)
  if redis.call('HGET', meta, 't:' .. id) ~= token then return 0 end
  redis.call('ZREM', reserved, id)
  redis.call('HDEL', jobs, id)
  redis.call('HDEL', meta, 'a:' .. id, 't:' .. id, 'p:' .. id, 's:' .. id)
  return 1
end
-- A job marked started is leased for ``lease_ms`` from now (a negative value keeps its lease).
local function mark_started(id, token, lease_ms)
  if redis.call('HGET', meta, 't:' .. id) ~= token then return end
  redis.call('HSET', meta, 's:' .. id, 1)
  if lease_ms >= 0 then redis.call('ZADD', reserved, 'XX', now + lease_ms, id) end
end
local function make_ready(id, first)
  -- First in line: before every job of its priority pushed since (arrival number 0).
  local score = first and (100 - tonumber(redis.call('HGET', meta, 'p:' .. id) or '0'))
    * 17592186044416 or rank(id)
  redis.call('ZADD', ready, score, id)
  redis.call('ZADD', since, now, id)
  redis.call('RPUSH', notify, 1)
  redis.call('LTRIM', notify, -1000, -1)
end
-- A prefetched job whose lease ran out before it started: back first in line, uncharged.
local function requeue(id)
  redis.call('ZREM', reserved, id)
  redis.call('HDEL', meta, 't:' .. id)
  redis.call('HINCRBY', meta, 'a:' .. id, -1)
  make_ready(id, true)
end
"""

# ARGV: n, then n groups of (id, payload, delay_ms, priority)
_PUSH_BODY = """
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local id, payload = ARGV[2 + i * 4], ARGV[3 + i * 4]
  local delay, prio = tonumber(ARGV[4 + i * 4]), tonumber(ARGV[5 + i * 4])
  redis.call('HSET', jobs, id, payload)
  if prio ~= 0 then redis.call('HSET', meta, 'p:' .. id, prio) end
  if delay > 0 then
    redis.call('ZADD', delayed, now + delay, id)
  else
    -- rank(id), with the priority at hand rather than read back from meta
    redis.call('ZADD', ready, (100 - prio) * 17592186044416 + redis.call('INCR', seq), id)
    redis.call('ZADD', since, now, id)
  end
end
-- One wake-up per job (capped) so several idle workers all wake for a bulk push; the list
-- is trimmed only once it is long (a call per push less: most pushes find it short).
local waiting = 0
for _ = 1, math.min(n, 64) do waiting = redis.call('RPUSH', notify, 1) end
if waiting > 1000 then redis.call('LTRIM', notify, -1000, -1) end
"""
PUSH = _PRELUDE + _PUSH_BODY + "return n\n"

# KEYS: the queue's keys, then the guards' keys (in the queue's slot). ARGV: 1, then one
# job (id, payload, delay_ms, priority), then four arguments per guard (see
# coordination.redis_lua.TAKE). The job is pushed only if every guard is granted; returns
# take_all()'s answer.
PUSH_GUARDED = (
    _PRELUDE
    + TAKE
    + """
local taken = take_all(9, 6)
if taken[1] == 0 then return taken end
"""
    + _PUSH_BODY
    + "return taken\n"
)

# ARGV: count, lease_ms, token, run, prefetch_lease_ms, n_acks, then n_acks (id, token) pairs
# of finished jobs to remove, then (id, token) pairs of prefetched jobs that started since
# (leased for lease_ms from now; a negative lease_ms keeps their lease): a busy worker
# settles a batch and takes the next in one round trip. The first ``run`` jobs taken start
# at once and are marked started, leased for lease_ms; the rest are prefetched, leased for
# prefetch_lease_ms.
RESERVE = (
    _PRELUDE
    + _REMOVE
    + """
local count, lease, token, run = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local prefetch_lease = tonumber(ARGV[5])
local acks_end = 6 + tonumber(ARGV[6]) * 2
for i = 7, acks_end, 2 do remove(ARGV[i], ARGV[i + 1]) end
for i = acks_end + 1, #ARGV, 2 do mark_started(ARGV[i], ARGV[i + 1], lease) end
if count == 0 then return {} end
promote(1000)
local popped = redis.call('ZPOPMIN', ready, count)
local out = {}
for i = 1, #popped, 2 do
  local id = popped[i]
  redis.call('ZREM', since, id)
  local payload = redis.call('HGET', jobs, id)
  if payload then
    redis.call('HSET', meta, 't:' .. id, token)
    if #out < run * 3 then
      redis.call('ZADD', reserved, now + lease, id)
      redis.call('HSET', meta, 's:' .. id, 1)
    else
      redis.call('ZADD', reserved, now + prefetch_lease, id)
      redis.call('HDEL', meta, 's:' .. id)
    end
    local attempts = redis.call('HINCRBY', meta, 'a:' .. id, 1)
    table.insert(out, id)
    table.insert(out, payload)
    table.insert(out, attempts)
  end
end
-- Nothing left to take: drop wake-ups queued while workers were busy, so an idle worker
-- blocks at once instead of spinning through stale ones. Atomic with the pop, so a push
-- after this script still leaves its own wake-up.
if #popped < count * 2 then redis.call('DEL', notify) end
return out
"""
)

# ARGV: limit, lease_ms, token -- jobs whose lease ran out. A started one is taken over
# without a new attempt (its attempt was abandoned); a prefetched one that never started goes
# back to the queue with its attempt taken back, as if it had never been reserved.
COLLECT = (
    _PRELUDE
    + _REMOVE
    + """
local limit, lease, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local expired = redis.call('ZRANGEBYSCORE', reserved, '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, id in ipairs(expired) do
  local payload = redis.call('HGET', jobs, id)
  if not payload then
    redis.call('ZREM', reserved, id)
  elseif redis.call('HGET', meta, 's:' .. id) then
    redis.call('ZADD', reserved, now + lease, id)
    redis.call('HSET', meta, 't:' .. id, token)
    table.insert(out, id)
    table.insert(out, payload)
    table.insert(out, tonumber(redis.call('HGET', meta, 'a:' .. id) or '1'))
  else
    requeue(id)
  end
end
return out
"""
)

# ARGV: limit -- put back prefetched jobs whose lease ran out before they started (a dead
# worker's), first in line, their attempt taken back; started ones are left to COLLECT.
# -> how many went back
REQUEUE = (
    _PRELUDE
    + _REMOVE
    + """
local expired = redis.call('ZRANGEBYSCORE', reserved, '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local count = 0
for _, id in ipairs(expired) do
  if not redis.call('HGET', jobs, id) then
    redis.call('ZREM', reserved, id)
  elseif not redis.call('HGET', meta, 's:' .. id) then
    requeue(id)
    count = count + 1
  end
end
return count
"""
)

# ARGV: token, lease_ms, ids... -> ids whose lease is lost
RENEW = (
    _PRELUDE
    + """
local token, lease = ARGV[1], tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', meta, 't:' .. id) == token then
    redis.call('ZADD', reserved, 'XX', now + lease, id)
  else
    table.insert(lost, id)
  end
end
return lost
"""
)

# ARGV: (id, token) pairs -> number removed
ACK = (
    _PRELUDE
    + _REMOVE
    + """
local removed = 0
for i = 1, #ARGV, 2 do removed = removed + remove(ARGV[i], ARGV[i + 1]) end
return removed
"""
)

# ARGV: id, token, delay_ms, payload ('' keeps the stored one), undo_attempt (0/1)
RELEASE = (
    _PRELUDE
    + _REMOVE
    + """
local id, token, delay, payload = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('HGET', meta, 't:' .. id) ~= token then return 0 end
if ARGV[5] == '1' then redis.call('HINCRBY', meta, 'a:' .. id, -1) end
redis.call('ZREM', reserved, id)
redis.call('HDEL', meta, 't:' .. id, 's:' .. id)
if payload ~= '' then redis.call('HSET', jobs, id, payload) end
if delay > 0 then
  redis.call('ZADD', delayed, now + delay, id)
else
  make_ready(id)
end
return 1
"""
)

SIZE = (
    _PRELUDE
    + """
local due = redis.call('ZCOUNT', delayed, '-inf', now)
return {redis.call('ZCARD', ready) + due, redis.call('ZCARD', delayed) - due,
        redis.call('ZCARD', reserved)}
"""
)

# Seconds until the next delayed job is due (-1: none), for an idle worker's wait.
NEXT_DUE = (
    _PRELUDE
    + """
local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if #first == 0 then return -1 end
return math.max(tonumber(first[2]) - now, 0)
"""
)

# -> flat list: id, milliseconds until due (negative: due, not promoted yet), payload; for the
# ``limit`` delayed jobs that fall due first.
UPCOMING = (
    _PRELUDE
    + """
local out = {}
local due = redis.call('ZRANGE', delayed, 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
for i = 1, #due, 2 do
  table.insert(out, due[i])
  table.insert(out, tonumber(due[i + 1]) - now)
  table.insert(out, redis.call('HGET', jobs, due[i]) or '')
end
return out
"""
)

# Milliseconds the longest-waiting ready job has waited (-1: none ready). A delayed job that
# fell due but was not promoted yet (no reserve since) counts from its due time.
OLDEST = (
    _PRELUDE
    + """
local oldest = -1
local first = redis.call('ZRANGE', since, 0, 0, 'WITHSCORES')
if #first > 0 then oldest = tonumber(first[2]) end
local due = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if #due > 0 and tonumber(due[2]) <= now and (oldest < 0 or tonumber(due[2]) < oldest) then
  oldest = tonumber(due[2])
end
if oldest < 0 then return -1 end
return math.max(now - oldest, 0)
"""
)

# -- worker registry ---------------------------------------------------------------------
# KEYS: ``registry`` (hash ``i:<name>`` -> worker JSON, ``h:<name>`` -> last heartbeat ms)
# and ``expiry`` (sorted set name -> expiry ms), one pair per connection sharing a hash tag.
# Both keys expire with their longest-lived entry, so a connection whose workers all died
# leaves nothing behind; entries of dead workers among live ones are dropped by every call.
_REGISTRY = """
local registry, expiry = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function prune()
  local dead = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, 1000)
  for _, name in ipairs(dead) do
    redis.call('HDEL', registry, 'i:' .. name, 'h:' .. name)
    redis.call('ZREM', expiry, name)
  end
  return #dead
end
"""

# ARGV: name, info JSON, ttl_ms
WORKER_REGISTER = (
    _REGISTRY
    + """
local name, ttl = ARGV[1], tonumber(ARGV[3])
prune()
redis.call('HSET', registry, 'i:' .. name, ARGV[2], 'h:' .. name, now)
redis.call('ZADD', expiry, now + ttl, name)
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
return 1
"""
)

# ARGV: name
WORKER_UNREGISTER = (
    _REGISTRY
    + """
redis.call('HDEL', registry, 'i:' .. ARGV[1], 'h:' .. ARGV[1])
return redis.call('ZREM', expiry, ARGV[1])
"""
)

# -> now_ms, then (info JSON, heartbeat ms) of each live worker
WORKER_LIST = (
    _REGISTRY
    + """
prune()
local out = {now}
for _, name in ipairs(redis.call('ZRANGE', expiry, 0, -1)) do
  local entry = redis.call('HMGET', registry, 'i:' .. name, 'h:' .. name)
  if entry[1] then
    table.insert(out, entry[1])
    table.insert(out, entry[2] or now)
  end
end
return out
"""
)

# -> how many dead entries were dropped
WORKER_PRUNE = _REGISTRY + "\nreturn prune()\n"
