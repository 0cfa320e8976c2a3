"""The Redis failed-job store: JSON entries in the list ``<prefix>:queue:failed:<queue>``.

The database-down fallback of the default store, or a store on its own. Newest entries are
at the head, so the seed's ``LRANGE ... 0 9`` shows the latest ten and ``LINDEX ... 0`` the
latest one. Its lists are read whole to filter them: they hold what waits to move into the
table, or the failures of a Redis-only setup, not a table's history.

Options: ``ALIAS`` (a django-redis cache alias) or ``URL``, ``CLUSTER``, ``PREFIX``; without
them, ``JOBQUEUE["FAILED_REDIS"]``, else the options of the first Redis connection.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.core import checks

from ..conf import jobqueue_settings
from ..exceptions import ConfigurationError, FailedJobNotFound, TransportError
from ..logutil import log_event
from .base import FailedJobStore, PruneReport, PruneRequest, Pusher, Ref, Sink, Stored
from .criteria import is_job_id, matches, with_full_fingerprint
from .fingerprint import fill_fingerprint
from .record import FailureRecord
from .tally import records_stats

logger = logging.getLogger(__name__)

_WHERE_MAX = 200_000
# Entries removed per script call once moved: one call never carries megabytes of JSON.
_REMOVE_CHUNK = 50
# Later than any stored ISO timestamp: "every entry" for the age filter.
_END_OF_TIME = dt.datetime.max.replace(tzinfo=dt.UTC)

# Remove the n oldest entries, only while holding the mover's lock.
# Remove exactly the entries a mover handed over (or set aside) and forget their job ids,
# only while the mover still holds its lock. Entries another remover (a prune, a retry)
# took meanwhile are simply not found: removing by count from the old end would take
# entries that were never handed over.
_REMOVE_MOVED = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local removed = 0
for i = 2, #ARGV do
  if redis.call('LREM', KEYS[1], -1, ARGV[i]) == 1 then
    removed = removed + 1
    local ok, entry = pcall(cjson.decode, ARGV[i])
    if ok and type(entry) == 'table' and entry['uuid'] then
      redis.call('SREM', KEYS[3], entry['uuid'])
    end
  end
end
return removed
"""

# Push an entry unless its job id is stored already (a failure recorded again after a
# crash). The set of ids only says "maybe there": a miss is confirmed by reading the list,
# so an id left behind by a hand-edited list never keeps a failure out.
_RECORD_ONCE = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    local ok, entry = pcall(cjson.decode, raw)
    if ok and type(entry) == 'table' and entry['uuid'] == ARGV[1] then return 0 end
  end
end
redis.call('LPUSH', KEYS[1], ARGV[2])
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

# Pop entries from the old end while they failed before ARGV[1] (ISO text compares in order).
_PRUNE_OLD = """
local removed = 0
while true do
  local tail = redis.call('LINDEX', KEYS[1], -1)
  if not tail then break end
  local ok, entry = pcall(cjson.decode, tail)
  if ok and type(entry) == 'table' and entry['failed_at'] and entry['failed_at'] >= ARGV[1] then
    break
  end
  redis.call('RPOP', KEYS[1])
  if ok and type(entry) == 'table' and entry['uuid'] then
    redis.call('SREM', KEYS[2], entry['uuid'])
  end
  removed = removed + 1
end
return removed
"""


class RedisStore(FailedJobStore):
    """Failed jobs as JSON in one Redis list per queue."""

    label = "redis"
    options_accepted = ("ALIAS", "URL", "CLUSTER", "PREFIX")

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.config = redis_options(options)
        self.prefix = (self.config or {}).get("PREFIX") or jobqueue_settings.REDIS_PREFIX
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        # Where each entry read last lives: a bulk retry of what a listing showed looks each
        # one up here (checked with LPOS) instead of reading every list again per entry.
        self._where: dict[str, tuple[str, bytes]] = {}

    def check(self) -> list[Any]:
        """E011: no Redis to use, or one whose client cannot be built (an unknown
        django-redis alias, a bad URL); a Redis that does not answer is not reported."""
        if not self.config:
            return [checks.Error(
                "the Redis failed-job store has no Redis to use.",
                hint="Set JOBQUEUE['FAILED_REDIS'] = {'ALIAS': ...} or {'URL': ...} (or the"
                     " store's OPTIONS), or add a Redis connection.",
                id="django_jobqueue.E011")]
        try:
            self.client  # noqa: B018 -- building it is the check
        except ConfigurationError as exc:
            return [checks.Error(f"the Redis failed-job store: {exc}", id="django_jobqueue.E011")]
        except TransportError:
            pass  # unreachable is not misconfigured
        return []

    @property
    def client(self) -> Any:
        if self._client is None:
            if not self.config:
                raise TransportError("the Redis failed-job store has no Redis configured"
                                     " (FAILED_REDIS)")
            from ..transports.redis import redis_client

            client = redis_client(self.config)
            self._scripts = {name: client.register_script(source) for name, source in
                             (("remove_moved", _REMOVE_MOVED), ("prune", _PRUNE_OLD),
                              ("unlock", _UNLOCK), ("record", _RECORD_ONCE))}
            self._client = client
        return self._client

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        self.client  # noqa: B018 -- builds the client and its scripts on first use
        return self._guard(lambda: self._scripts[name](keys=keys, args=args))

    def key(self, queue: str) -> str:
        return f"{self.prefix}:queue:failed:{queue}"

    def ids_key(self, queue: str) -> str:
        return self._beside(queue, "ids")

    def _beside(self, queue: str, what: str) -> str:
        # The list's own name as a hash tag: on a Redis Cluster these keys live in the
        # list's slot, as the scripts that use them together need.
        return f"{{{self.key(queue)}}}:{what}"

    @property
    def queues_key(self) -> str:
        return f"{self.prefix}:queue:failed-queues"

    @property
    def fingerprints_key(self) -> str:
        return f"{self.prefix}:queue:failed-fingerprints"

    def _guard(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except Exception as exc:
            import redis

            if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
                raise TransportError(f"redis failed-job store: {exc}") from exc
            raise

    # -- writing ----------------------------------------------------------------------------
    def record_many(self, records: Sequence[FailureRecord]) -> list[Stored]:
        for record in records:
            entry = json.dumps(record.to_json_dict(), separators=(",", ":"))
            self._script("record", [self.key(record.queue), self.ids_key(record.queue)],
                         [record.uuid, entry])
        if records:
            queues = {record.queue for record in records}
            self._guard(lambda: self.client.sadd(self.queues_key, *queues))
        return [Stored(record, record.uuid, self) for record in records]

    def retry(self, ref: Ref, push: Pusher) -> str:
        queue, raw, record = self._find(ref)
        new_id = push(record)
        self._remove(queue, raw)
        return new_id

    def forget(self, ref: Ref) -> bool:
        try:
            queue, raw, _ = self._find(ref)
        except FailedJobNotFound:
            return False
        return self._remove(queue, raw)

    def _remove(self, queue: str, raw: bytes) -> bool:
        removed = bool(self._guard(lambda: self.client.lrem(self.key(queue), 1, raw)))
        record = _parse(raw)
        if record is not None:
            self._where.pop(record.uuid, None)
            self._guard(lambda: self.client.srem(self.ids_key(queue), record.uuid))
        return removed

    def prune(self, request: PruneRequest) -> PruneReport:
        """Pops entries from each list's old end while they failed before ``before``."""
        if request.keep is not None or request.narrowed_by - {"queue"}:
            raise ValueError("the Redis failed-job store can only be pruned by age and queue")
        cutoff = (request.before or _END_OF_TIME).isoformat()
        counts = {}
        queue = request.criteria.get("queue")
        for q in [queue] if queue else self.queues():
            if request.dry_run:
                n = self._count_old(self.key(q), cutoff)
            else:
                n = int(self._script("prune", [self.key(q), self.ids_key(q)], [cutoff]))
            if n:
                counts[q] = n
        return PruneReport(by_store={self.label: counts}, dry_run=request.dry_run)

    def _count_old(self, key: str, cutoff: str) -> int:
        # What _PRUNE_OLD would pop: entries from the tail until one is at or after cutoff.
        count = 0
        for raw in reversed(self._guard(lambda: self.client.lrange(key, 0, -1))):
            record = _parse(raw)
            if record is not None and record.failed_at.isoformat() >= cutoff:
                break
            count += 1
        return count

    def take_oldest(self, sink: Sink, batch: int = 500, lock_ms: int = 30000) -> int:
        """A lock per queue keeps concurrent movers apart."""
        moved = 0
        for queue in self.queues():
            key, lock = self.key(queue), self._beside(queue, "moving")
            token = uuid.uuid4().hex
            if not self._guard(lambda lock=lock, t=token: self.client.set(lock, t, nx=True,
                                                                      px=lock_ms)):
                continue
            try:
                moved += self._move_batch(queue, key, lock, token, sink, batch)
            finally:
                # A failed sink (database still down) must not keep others out for lock_ms.
                self._script("unlock", [lock], [token])
        return moved

    def _move_batch(
        self, queue: str, key: str, lock: str, token: str,
        sink: Sink, batch: int,
    ) -> int:
        raw = self._guard(lambda: self.client.lrange(key, -batch, -1))
        if not raw:
            self._forget_queue_if_empty(queue)
            return 0
        parsed = [(entry, _parse(entry)) for entry in raw]
        records = [record for _, record in parsed if record is not None]
        unreadable = [entry for entry, record in parsed if record is None]
        if unreadable:
            # Kept aside, never dropped: someone wrote garbage into the list.
            aside = self._beside(queue, "unreadable")
            self._guard(lambda: self.client.lpush(aside, *unreadable))
            log_event(logger, logging.ERROR, "fallback_unreadable", count=len(unreadable),
                      key=key, moved_to=aside)
        if records:
            sink(records)
        for start in range(0, len(raw), _REMOVE_CHUNK):
            chunk = raw[start:start + _REMOVE_CHUNK]
            if self._script("remove_moved", [key, lock, self.ids_key(queue)],
                            [token, *chunk]) < 0:
                return 0  # the lock ran out: another mover has these; the table dedupes
        return len(records)

    def _forget_queue_if_empty(self, queue: str) -> None:
        # Checked again after: a failure recorded in between (LPUSH, then SADD) puts its
        # queue back, so no entry is left where queues() cannot see it.
        self._guard(lambda: self.client.srem(self.queues_key, queue))
        if self._guard(lambda: self.client.llen(self.key(queue))):
            self._guard(lambda: self.client.sadd(self.queues_key, queue))

    def claim_fingerprint(self, record: FailureRecord) -> bool:
        """``SADD`` to the fingerprint set: 1 for the first caller only."""
        return bool(self._guard(
            lambda: self.client.sadd(self.fingerprints_key, record.fingerprint)))

    # -- reading ----------------------------------------------------------------------------
    def get(self, ref: Ref) -> FailureRecord:
        return self._find(ref)[2]

    def _find(self, ref: Ref) -> tuple[str, bytes, FailureRecord]:
        text = str(ref).strip()
        if not is_job_id(text):
            raise FailedJobNotFound(f"{text!r} is not a job id (32 hex digits): the Redis"
                                    " store knows its failed jobs by job id")
        if text in self._where:
            queue, raw = self._where[text]
            record = _parse(raw)
            if record is not None and self._guard(
                    lambda: self.client.lpos(self.key(queue), raw)) is not None:
                return queue, raw, self._readable(record)
            del self._where[text]
        for queue in self.queues():
            for raw, record in self._entries(queue):
                if record.uuid == text:
                    return queue, raw, record
        raise FailedJobNotFound(f"no failed job with job id {text} in the Redis store")

    def _entries(self, queue: str) -> list[tuple[bytes, FailureRecord]]:
        """``(stored JSON, record)`` pairs of one queue, newest first; unreadable ones left
        out (the mover sets them aside)."""
        raw = self._guard(lambda: self.client.lrange(self.key(queue), 0, -1))
        pairs = [(entry, self._readable(record)) for entry in raw
                 if (record := _parse(entry)) is not None]
        if len(self._where) > _WHERE_MAX:
            self._where.clear()
        self._where.update((record.uuid, (queue, entry)) for entry, record in pairs)
        return pairs

    def _readable(self, record: FailureRecord) -> FailureRecord:
        record.ref, record.store = record.uuid, self.label
        return fill_fingerprint(record)

    def select(self, limit: int | None = None, **criteria: Any) -> list[FailureRecord]:
        criteria = with_full_fingerprint(criteria, self.fingerprints_starting)
        queue = criteria.get("queue")
        found = [record for q in ([queue] if queue else self.queues())
                 for _, record in self._entries(q) if matches(record, **criteria)]
        found.sort(key=lambda record: record.failed_at, reverse=True)
        return found[:limit] if limit is not None else found

    def count(self, **criteria: Any) -> int:
        narrowed = {name for name, value in criteria.items() if value is not None}
        if narrowed <= {"queue"}:  # LLEN, without reading the entries
            queue = criteria.get("queue")
            return sum(int(self._guard(lambda q=q: self.client.llen(self.key(q))))
                       for q in ([queue] if queue else self.queues()))
        return len(self.select(**criteria))

    def refs(self, batch_size: int = 500, **criteria: Any) -> Iterator[Ref]:
        return iter([record.uuid for record in reversed(self.select(**criteria))])

    def stats(
        self, since: dt.datetime | None = None, hours_since: dt.datetime | None = None
    ) -> dict[str, Any]:
        return records_stats(self.select(since=since), hours_since)

    def queues(self) -> list[str]:
        return sorted(_text(q) for q in self._guard(lambda: self.client.smembers(self.queues_key)))

    def fingerprints_starting(self, prefix: str, limit: int) -> list[str]:
        found = {record.fingerprint for queue in self.queues()
                 for _, record in self._entries(queue)}
        return sorted(fp for fp in found if fp.startswith(prefix))[:limit]

    def close(self) -> None:
        # A django-redis alias's client belongs to the project's cache: not ours to close.
        if self._client is not None and (self.config or {}).get("URL"):
            self._client.close()
        self._client = None


def redis_options(options: dict[str, Any]) -> dict[str, Any] | None:
    """The Redis to use: the store's options when they name one (``ALIAS`` or ``URL``),
    else those over ``FAILED_REDIS``, else over the first Redis connection's (a lone
    ``PREFIX`` keeps the project's Redis); ``None`` when there is none."""
    if options.get("ALIAS") or options.get("URL"):
        return dict(options)
    base = jobqueue_settings.FAILED_REDIS or _first_redis_connection()
    return {**base, **options} if base is not None else None


def _first_redis_connection() -> dict[str, Any] | None:
    from ..conf import REDIS_TRANSPORT

    for config in jobqueue_settings.CONNECTIONS.values():
        if config.get("TRANSPORT") == REDIS_TRANSPORT:
            return dict(config.get("OPTIONS") or {})
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(raw: Any) -> FailureRecord | None:
    try:
        return FailureRecord.from_json_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError):
        return None
