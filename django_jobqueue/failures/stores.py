"""The failed-job stores this process uses: the table, and the Redis list when configured."""

from __future__ import annotations

import os
import time
from typing import Any

from ..conf import jobqueue_settings
from ..exceptions import TransportError
from .database import DatabaseFailedJobStore
from .redis import RedisFailedJobStore

# One client per process and configuration: building one per failure would leak pools.
_redis_stores: dict[tuple[int, str, str], RedisFailedJobStore] = {}


def database_store() -> DatabaseFailedJobStore:
    """The ``queue_failed_jobs`` store on ``FAILED_DATABASE``."""
    return DatabaseFailedJobStore(jobqueue_settings.FAILED_DATABASE)


def redis_store() -> RedisFailedJobStore | None:
    """The Redis store from ``FAILED_REDIS``, else from the first redis connection, else None."""
    options = jobqueue_settings.FAILED_REDIS or _redis_connection_options()
    if not options:
        return None
    prefix = options.get("PREFIX") or jobqueue_settings.REDIS_PREFIX
    key = (os.getpid(), repr(sorted(options.items())), prefix)
    store = _redis_stores.get(key)
    if store is None:
        from ..transports.redis import redis_client

        store = _redis_stores[key] = RedisFailedJobStore(redis_client(options), prefix)
    return store


def fallback() -> RedisFailedJobStore:
    """The Redis store; :class:`TransportError` when none is configured."""
    store = redis_store()
    if store is None:
        raise TransportError("no Redis failed-job store is configured (FAILED_REDIS)")
    return store


class _TableOutage:
    """Remembers, per process, that the failed-job table just failed to answer.

    Each write to a table that is down costs a connection attempt and a retry; a worker
    recording a burst of failures during an outage would pay that for every one of them,
    holding up its supervisor. For ``FAILED_DATABASE_RETRY_INTERVAL`` seconds after a
    failure, failures go straight to the Redis fallback (or stay in flight without one);
    then the table is tried again. The mover brings fallback entries back afterwards.
    """

    def __init__(self) -> None:
        self.until: dict[str, float] = {}

    def skipping(self, alias: str) -> bool:
        return time.monotonic() < self.until.get(alias, 0.0)

    def failed(self, alias: str) -> None:
        interval = float(jobqueue_settings.FAILED_DATABASE_RETRY_INTERVAL or 0)
        self.until[alias] = time.monotonic() + interval

    def answered(self, alias: str) -> None:
        self.until.pop(alias, None)


table_outage = _TableOutage()


def redis_is_primary() -> bool:
    """``FAILED_STORE = "redis"``: the Redis list is the only store."""
    return jobqueue_settings.FAILED_STORE == "redis"


def reset() -> None:
    """Forget cached Redis clients, remembered outages and known fingerprints (after a
    settings change, in tests)."""
    from .first_seen import forget_known

    _redis_stores.clear()
    table_outage.until.clear()
    forget_known()


def _redis_connection_options() -> dict[str, Any] | None:
    from ..conf import REDIS_TRANSPORT

    for config in jobqueue_settings.CONNECTIONS.values():
        if config.get("TRANSPORT") == REDIS_TRANSPORT:
            return dict(config.get("OPTIONS") or {})
    return None
