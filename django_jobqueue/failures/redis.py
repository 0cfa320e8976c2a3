"""The Redis failed-job store: JSON entries in the list ``<prefix>:queue:failed:<queue>``.

It is the fallback when ``queue_failed_jobs`` cannot be written, or the primary store with
``FAILED_STORE = "redis"``. Newest entries are at the head, so the seed's ``LRANGE ... 0 9``
shows the latest ten and ``LINDEX ... 0`` the latest one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from ..exceptions import TransportError
from ..logutil import log_event
from .fingerprint import fill_fingerprint
from .record import FailureRecord

logger = logging.getLogger(__name__)

# Remove the n oldest entries, only while holding the mover's lock.
_TRIM_IF_LOCKED = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local n = tonumber(ARGV[2])
redis.call('LTRIM', KEYS[1], 0, -(n + 1))
return n
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
  removed = removed + 1
end
return removed
"""


class RedisFailedJobStore:
    """Failed jobs as JSON in one Redis list per queue."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._trim = client.register_script(_TRIM_IF_LOCKED)
        self._prune_old = client.register_script(_PRUNE_OLD)
        self._unlock = client.register_script(_UNLOCK)

    def key(self, queue: str) -> str:
        return f"{self.prefix}:queue:failed:{queue}"

    @property
    def queues_key(self) -> str:
        return f"{self.prefix}:queue:failed-queues"

    def _guard(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except Exception as exc:
            import redis

            if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
                raise TransportError(f"redis failed-job store: {exc}") from exc
            raise

    def record(self, record: FailureRecord) -> str:
        entry = json.dumps(record.to_json_dict(), separators=(",", ":"))

        def push() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.lpush(self.key(record.queue), entry)
            pipe.sadd(self.queues_key, record.queue)
            pipe.execute()

        self._guard(push)
        return record.uuid

    def queues(self) -> list[str]:
        return sorted(_text(q) for q in self._guard(lambda: self.client.smembers(self.queues_key)))

    def count(self, queue: str | None = None) -> int:
        queues = [queue] if queue else self.queues()
        return sum(int(self._guard(lambda q=q: self.client.llen(self.key(q)))) for q in queues)

    def entries(self, queue: str, start: int = 0, stop: int = -1) -> list[FailureRecord]:
        raw = self._guard(lambda: self.client.lrange(self.key(queue), start, stop))
        return [record for record in map(_parse, raw) if record is not None]

    def forget(self, queue: str, job_uuid: str) -> bool:
        for raw in self._guard(lambda: self.client.lrange(self.key(queue), 0, -1)):
            record = _parse(raw)
            if record is not None and record.uuid == job_uuid:
                return bool(self._guard(lambda raw=raw: self.client.lrem(self.key(queue), 1, raw)))
        return False

    def fingerprints_starting(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` distinct fingerprints of stored entries starting with ``prefix``,
        sorted (entries stored before fingerprints existed are fingerprinted on the way)."""
        found = {
            fill_fingerprint(record).fingerprint
            for queue in self.queues() for record in self.entries(queue)
        }
        return sorted(fp for fp in found if fp.startswith(prefix))[:limit]

    @property
    def fingerprints_key(self) -> str:
        return f"{self.prefix}:queue:failed-fingerprints"

    def claim_fingerprint(self, fingerprint: str) -> bool:
        """True for the one caller that adds ``fingerprint`` to the set first (``SADD``)."""
        return bool(self._guard(lambda: self.client.sadd(self.fingerprints_key, fingerprint)))

    def raw_entries(self, queue: str) -> list[tuple[bytes, FailureRecord]]:
        """``(stored JSON, record)`` pairs of one queue, newest first; unreadable ones left out."""
        raw = self._guard(lambda: self.client.lrange(self.key(queue), 0, -1))
        return [(entry, record) for entry in raw if (record := _parse(entry)) is not None]

    def remove(self, queue: str, raw: bytes) -> bool:
        """Delete one entry given its stored JSON (from :meth:`raw_entries`)."""
        return bool(self._guard(lambda: self.client.lrem(self.key(queue), 1, raw)))

    def prune(self, before: dt.datetime, queue: str | None = None) -> int:
        return sum(self.prune_by_queue(before, queue).values())

    def prune_by_queue(
        self, before: dt.datetime, queue: str | None = None, dry_run: bool = False
    ) -> dict[str, int]:
        """Remove entries that failed before ``before`` (oldest end first); with ``dry_run``
        only count them. Returns counts by queue (queues with none are left out)."""
        cutoff = before.isoformat()
        counts = {}
        for q in [queue] if queue else self.queues():
            if dry_run:
                n = self._count_old(self.key(q), cutoff)
            else:
                n = int(self._guard(lambda q=q: self._prune_old(keys=[self.key(q)],
                                                                args=[cutoff])))
            if n:
                counts[q] = n
        return counts

    def _count_old(self, key: str, cutoff: str) -> int:
        # What _PRUNE_OLD would pop: entries from the tail until one is at or after cutoff.
        count = 0
        for raw in reversed(self._guard(lambda: self.client.lrange(key, 0, -1))):
            record = _parse(raw)
            if record is not None and record.failed_at.isoformat() >= cutoff:
                break
            count += 1
        return count

    def drain_into(
        self, sink: Callable[[list[FailureRecord]], Any], batch: int = 500, lock_ms: int = 30000
    ) -> int:
        """Move the oldest entries of every queue into ``sink`` (the database store).

        A lock per queue keeps concurrent movers apart; the entries are removed only after
        ``sink`` returned, so a mover killed halfway leaves them for the next one (the sink
        ignores uuids it already has, so nothing is stored twice).
        """
        moved = 0
        for queue in self.queues():
            key, lock = self.key(queue), self.key(queue) + ":moving"
            token = uuid.uuid4().hex
            if not self._guard(lambda lock=lock, t=token: self.client.set(lock, t, nx=True,
                                                                      px=lock_ms)):
                continue
            try:
                moved += self._move_batch(queue, key, lock, token, sink, batch)
            finally:
                # A failed sink (database still down) must not keep others out for lock_ms.
                self._guard(lambda lock=lock, t=token: self._unlock(keys=[lock], args=[t]))
        return moved

    def _move_batch(
        self, queue: str, key: str, lock: str, token: str,
        sink: Callable[[list[FailureRecord]], Any], batch: int,
    ) -> int:
        raw = self._guard(lambda: self.client.lrange(key, -batch, -1))
        if not raw:
            self._guard(lambda: self.client.srem(self.queues_key, queue))
            return 0
        records, unreadable = [], []
        for entry in raw:
            record = _parse(entry)
            (records.append(record) if record is not None else unreadable.append(entry))
        if unreadable:
            # Kept aside, never dropped: someone wrote garbage into the list.
            self._guard(lambda: self.client.lpush(key + ":unreadable", *unreadable))
            log_event(logger, logging.ERROR, "fallback_unreadable", count=len(unreadable),
                      key=key, moved_to=f"{key}:unreadable")
        if records:
            sink(records)
        trimmed = self._guard(lambda: self._trim(keys=[key, lock], args=[token, len(raw)]))
        return len(records) if trimmed > 0 else 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(raw: Any) -> FailureRecord | None:
    try:
        return FailureRecord.from_json_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError):
        return None
