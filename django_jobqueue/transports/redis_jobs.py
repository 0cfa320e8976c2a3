"""The Redis transport's operators' verbs: one job by its id, a page of a queue's jobs, and a
waiting job taken out (a cancel), each one Lua script on the queue's keys (one Cluster
slot; see :mod:`.redis_scripts` for what each key holds).

A job id names no queue, so finding one asks each queue in turn, one round trip each.
Taking one out checks, in the same script, that no worker holds it: a reserve is a script
too, so one of the two comes first and the other sees its result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .base import FoundJob
from .redis import _id_bytes, _id_text, _payload_text
from .redis_scripts import PRELUDE

# ARGV: id -> nil, or {payload, state, ms until due (delayed; else 0)}
FIND = PRELUDE + """
local id = ARGV[1]
local payload = redis.call('HGET', jobs, id)
if not payload then return nil end
if redis.call('ZSCORE', reserved, id) then
  return {payload, redis.call('HGET', meta, 's:' .. id) and 'running' or 'prefetched', 0}
end
local due = redis.call('ZSCORE', delayed, id)
if due and tonumber(due) > now then return {payload, 'delayed', tonumber(due) - now} end
return {payload, 'queued', 0}
"""

# ARGV: id -> the payload of the job taken out, or nil (not here, or reserved)
REMOVE = PRELUDE + """
local id = ARGV[1]
if redis.call('ZSCORE', reserved, id) then return nil end
local payload = redis.call('HGET', jobs, id)
if not payload then return nil end
if redis.call('ZREM', ready, id) == 0 then redis.call('ZREM', delayed, id) end
redis.call('ZREM', since, id)
redis.call('HDEL', jobs, id)
redis.call('HDEL', meta, 'a:' .. id, 't:' .. id, 'p:' .. id, 's:' .. id)
return payload
"""

# ARGV: offset, limit -> flat list of (id, payload, state, ms until due) in the order of
# JOB_STATES: the taken jobs (few: what workers hold) read whole and split by their
# started mark, then ready ones in claim order, then delayed ones by due time (those due
# and not promoted yet are queued).
JOBS = PRELUDE + """
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
local function emit(id, state, due)
  table.insert(out, id)
  table.insert(out, redis.call('HGET', jobs, id) or '')
  table.insert(out, state)
  table.insert(out, due)
  limit = limit - 1
end
local function from_list(ids, state)
  for _, id in ipairs(ids) do
    if limit <= 0 then return end
    if offset > 0 then offset = offset - 1 else emit(id, state, 0) end
  end
end
local function from_zset(key, describe)
  if limit <= 0 then return end
  local n = redis.call('ZCARD', key)
  if offset >= n then offset = offset - n return end
  local page = redis.call('ZRANGE', key, offset, offset + limit - 1, 'WITHSCORES')
  offset = 0
  for i = 1, #page, 2 do emit(page[i], describe(tonumber(page[i + 1]))) end
end
local running, prefetched = {}, {}
for _, id in ipairs(redis.call('ZRANGE', reserved, 0, -1)) do
  table.insert(redis.call('HGET', meta, 's:' .. id) and running or prefetched, id)
end
from_list(running, 'running')
from_list(prefetched, 'prefetched')
from_zset(ready, function() return 'queued', 0 end)
from_zset(delayed, function(due)
  if due > now then return 'delayed', due - now end
  return 'queued', 0
end)
return out
"""

_SOURCES = {"FIND": FIND, "REMOVE": REMOVE, "JOBS": JOBS}


class RedisJobs:
    """The jobs of a Redis transport's queues, looked up and taken out; held by
    :class:`~django_jobqueue.transports.redis.RedisTransport`, which gives its client (made
    on first use), each queue's keys and its error translation (a Redis that is down is a
    :class:`~django_jobqueue.exceptions.TransportError`)."""

    def __init__(self, client: Callable[[], Any], keys: Callable[[str], list[str]],
                 guarded: Callable[[Callable[[], Any]], Any]) -> None:
        self._client, self._keys, self._guarded = client, keys, guarded
        self._scripts: dict[str, Any] = {}

    def find(self, job_id: str, queues: Sequence[str]) -> FoundJob | None:
        for queue in queues:
            answer = self._run("FIND", queue, [_id_bytes(job_id)])
            if answer:
                payload, state, due_ms = answer
                return _found(job_id, queue, payload, state, due_ms)
        return None

    def page(self, queue: str, limit: int, offset: int = 0) -> list[FoundJob]:
        if limit <= 0:
            return []
        flat = self._run("JOBS", queue, [max(int(offset), 0), int(limit)])
        return [_found(_id_text(flat[i]), queue, *flat[i + 1:i + 4])
                for i in range(0, len(flat), 4)]

    def remove(self, job_id: str, queue: str) -> str | None:
        payload = self._run("REMOVE", queue, [_id_bytes(job_id)])
        return None if payload is None else _payload_text(payload)

    def _run(self, name: str, queue: str, args: list[Any]) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._client().register_script(_SOURCES[name])
        keys = self._keys(queue)
        return self._guarded(lambda: script(keys=keys, args=args, client=self._client()))


def _found(job_id: str, queue: str, payload: Any, state: Any, due_ms: Any) -> FoundJob:
    state = _id_text(state)
    due_in = int(due_ms) / 1000 if state == "delayed" else None
    return FoundJob(job_id, queue, _payload_text(payload), state, due_in)
