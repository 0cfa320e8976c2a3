"""The Redis transport: ready, delayed and reserved jobs moved atomically by Lua scripts.

Options: ``ALIAS`` (a django-redis cache alias, so the project's ``CACHES`` config is reused)
or ``URL`` (``redis://...``), and ``PREFIX`` (default: the ``REDIS_PREFIX`` setting).
Every key of a queue carries the hash tag ``{prefix:queue}`` so a queue lives in one Redis
Cluster slot. An idle worker blocks in ``BLPOP`` on the queue's notify list, so a new job
wakes it at once without polling.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.core import checks

from ..conf import jobqueue_settings
from ..coordination import Guard, Taken
from ..coordination.redis import RedisCoordination, guard_args, key_of, taken_from
from ..exceptions import ConfigurationError, TransportError
from . import redis_scripts as lua
from .base import (
    Admit,
    DelayedJob,
    FoundJob,
    PushItem,
    QueueSize,
    Reserved,
    Transport,
    WorkerInfo,
    admitted,
    check_guard_scope,
)

if TYPE_CHECKING:
    from .redis_jobs import RedisJobs

_PUSH_CHUNK = 500
# Expired leases one requeue looks at: abandoned started jobs waiting for collection sit
# among them, so it reaches well past a burst of those.
_REQUEUE_LIMIT = 1000


def redis_client(options: dict[str, Any]) -> Any:
    """A redis-py client from ``{"ALIAS": ...}`` (django-redis) or ``{"URL": ...}``
    (``"CLUSTER": True`` with a URL: a Redis Cluster client seeded from that node)."""
    if options.get("URL"):
        return _client_from_url(options["URL"], bool(options.get("CLUSTER")))
    alias = options.get("ALIAS", "default")
    try:
        from django_redis import get_redis_connection
    except ImportError as exc:
        raise ConfigurationError("the redis transport needs django-redis installed") from exc
    try:
        return get_redis_connection(alias)
    except Exception as exc:
        raise ConfigurationError(f"no usable django-redis cache alias {alias!r}: {exc}") from exc


def _client_from_url(url: str, cluster: bool) -> Any:
    try:
        import redis
        import redis.cluster
    except ImportError as exc:
        raise ConfigurationError("the redis transport needs redis-py installed") from exc
    try:
        if cluster:
            # Connects at once to learn the slot map: a cluster that is down is a store
            # outage (retried by workers), not a configuration error.
            return redis.cluster.RedisCluster.from_url(url)
        return redis.Redis.from_url(url)
    except ValueError as exc:
        raise ConfigurationError(f"bad redis URL {url!r}: {exc}") from exc
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        raise TransportError(f"redis cluster at {url!r}: {exc}") from exc


class RedisTransport(Transport):
    """Queued jobs in Redis."""

    poll_interval = 0.1
    blocking_wait = True
    reports_oldest_age = True
    keeps_worker_registry = True
    finds_jobs = True

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name, options)
        self.prefix: str = options.get("PREFIX") or jobqueue_settings.REDIS_PREFIX
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._turn = 0
        # Queues this process has already added to the set of known queues.
        self._announced: set[str] = set()
        # Each queue's keys, encoded once, for the push path.
        self._encoded_keys: dict[str, list[bytes]] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            # Scripts first: another thread that sees the client must find them too.
            client = redis_client(self.options)
            self._scripts = {
                name: client.register_script(getattr(lua, name))
                for name in ("PUSH", "PUSH_GUARDED", "RESERVE", "COLLECT", "REQUEUE", "RENEW",
                             "ACK", "RELEASE", "SIZE", "NEXT_DUE", "UPCOMING", "OLDEST",
                             "WORKER_REGISTER", "WORKER_UNREGISTER", "WORKER_LIST",
                             "WORKER_PRUNE")
            }
            self._client = client
        return self._client

    def keys(self, queue: str) -> list[str]:
        """The keys of ``queue``, in the order the scripts expect."""
        tag = f"{{{self.prefix}:{queue}}}"
        return [f"{self.prefix}:{tag}:{part}" for part in lua.KEYS_ORDER]

    @property
    def queues_key(self) -> str:
        """A set of the names of the queues that were ever pushed to (one key, any slot)."""
        return f"{self.prefix}:known-queues"

    def registry_keys(self) -> list[str]:
        """The worker registry of this connection: a hash and its expiry index (one slot)."""
        tag = f"{{{self.prefix}:workers:{self.name}}}"
        return [f"{self.prefix}:{tag}:registry", f"{self.prefix}:{tag}:expiry"]

    def _call(self, script: str, queue: str | None, args: Sequence[Any]) -> Any:
        client = self.client
        keys = self.registry_keys() if queue is None else self.keys(queue)
        return self._guarded(
            lambda: self._scripts[script](keys=keys, args=list(args), client=client)
        )

    # -- contract ------------------------------------------------------------------------
    def push_many(self, items: Sequence[PushItem]) -> None:
        by_queue: dict[str, list[PushItem]] = {}
        for item in items:
            by_queue.setdefault(item.queue, []).append(item)
        self._announce(by_queue)
        for queue, group in by_queue.items():
            for start in range(0, len(group), _PUSH_CHUNK):
                chunk = group[start : start + _PUSH_CHUNK]
                args: list[Any] = [len(chunk)]
                for item in chunk:
                    args += [item.id, item.payload, int(max(item.delay, 0) * 1000), item.priority]
                self._guarded(lambda queue=queue, args=args: self._run_push(queue, args))

    def _run_push(self, queue: str, args: list[Any]) -> Any:
        """The PUSH script, called as ``EVALSHA`` with the queue's keys encoded once: one
        dispatch is one push, and redis-py's ``Script`` wrapper and the encoding of eight
        keys were a good part of its cost."""
        client = self.client
        keys = self._encoded_keys.get(queue)
        if keys is None:
            encoder = client.get_encoder()
            keys = self._encoded_keys[queue] = [encoder.encode(key) for key in self.keys(queue)]
        script = self._scripts["PUSH"]
        try:
            return client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except Exception as exc:
            from redis.exceptions import NoScriptError

            if not isinstance(exc, NoScriptError):
                raise
            # A server that lost its scripts (restarted, flushed): the wrapper loads it.
            return script(keys=keys, args=args, client=client)

    @cached_property
    def coordination(self) -> RedisCoordination:  # type: ignore[override]
        return RedisCoordination(self.name, self.prefix, lambda: self.client, self._guarded)

    def push_guarded(self, item: PushItem, *guards: Guard) -> Taken:
        check_guard_scope(item, guards)
        self._announce([item.queue])
        keys = [*self.keys(item.queue),
                *(key_of(self.prefix, guard.scope, guard.name) for guard in guards)]
        args = [1, item.id, item.payload, int(max(item.delay, 0) * 1000), item.priority]
        for guard in guards:
            args += guard_args(guard)
        script = self._scripts["PUSH_GUARDED"]
        return taken_from(self._guarded(
            lambda: script(keys=keys, args=args, client=self.client)))

    def _announce(self, queues: Iterable[str]) -> None:
        # Before the push, so a crash in between leaves a known empty queue, never an unknown
        # full one. Once per queue and process: a dispatch pays nothing after the first. A
        # queue set outside a Lua script, because in a Cluster it lives in another slot.
        new = [queue for queue in queues if queue not in self._announced]
        if new:
            self._guarded(lambda: self.client.sadd(self.queues_key, *new))
            self._announced.update(new)

    def queue_names(self) -> list[str]:
        return sorted(map(_payload_text, self._guarded(lambda: self.client.smembers(
            self.queues_key))))

    def _guarded(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            if _is_connection_error(exc):
                raise TransportError(f"redis ({self.name}): {exc}") from exc
            raise

    def reserve_from(
        self, queue: str, count: int, lease: float, token: str, run: int | None = None,
        *, prefetch_lease: float | None = None,
    ) -> list[Reserved]:
        leases = (lease, lease if prefetch_lease is None else prefetch_lease)
        return self._reserve(queue, count, count if run is None else run, leases, token)

    def _reserve(
        self, queue: str, count: int, run: int, leases: tuple[float | None, float], token: str,
        acks: Sequence[Reserved] = (), started: Sequence[Reserved] = (),
    ) -> list[Reserved]:
        # A lease of None (-1 for the script) leaves the marked jobs' leases as they are.
        lease_ms = -1 if leases[0] is None else int(leases[0] * 1000)
        args = [count, lease_ms, token, run, int(leases[1] * 1000), len(acks), *_pairs(acks),
                *_pairs(started)]
        return _unflatten(queue, self._call("RESERVE", queue, args), token)

    def exchange(
        self,
        acks: Sequence[Reserved],
        started: Sequence[Reserved],
        queues: Sequence[str],
        run: int,
        prefetch: int,
        lease: float,
        token: str,
        *,
        prefetch_lease: float | None = None,
        admit: Admit | None = None,
    ) -> list[Reserved]:
        # Each queue's acks and marks ride along with that queue's reserve; a queue that is
        # not asked for jobs (the first ones filled the batch) gets them with count 0.
        acks_of, started_of = _by_queue(acks), _by_queue(started)
        leases = (lease, lease if prefetch_lease is None else prefetch_lease)
        taken: list[Reserved] = []
        for queue in dict.fromkeys([*queues, *acks_of, *started_of]):
            wanted = max(run + prefetch - len(taken), 0) if queue in queues else 0
            if not (wanted or queue in acks_of or queue in started_of):
                continue
            taken += self._reserve(
                queue, wanted, max(run - len(taken), 0), leases, token,
                acks_of.get(queue, ()), started_of.get(queue, ()),
            )
        return admitted(self, taken, admit)

    def mark_started(self, jobs: Sequence[Reserved], lease: float | None = None) -> None:
        for queue, group in _by_queue(jobs).items():
            self._reserve(queue, 0, 0, (lease, 0), "", (), group)

    def requeue_expired(self, queues: Sequence[str]) -> int:
        return sum(int(self._call("REQUEUE", queue, [_REQUEUE_LIMIT])) for queue in queues)

    def collect_from(self, queue: str, limit: int, lease: float, token: str) -> list[Reserved]:
        flat = self._call("COLLECT", queue, [limit, int(lease * 1000), token])
        return _unflatten(queue, flat, token)

    def renew(self, jobs: Sequence[Reserved], lease: float) -> list[Reserved]:
        lost: list[Reserved] = []
        for (queue, token), group in _grouped(jobs).items():
            ids = [_id_bytes(job.id) for job in group]
            answer = self._call("RENEW", queue, [token, int(lease * 1000), *ids])
            gone = {_id_text(i) for i in answer}
            lost += [job for job in group if job.id in gone]
        return lost

    def ack(self, job: Reserved) -> bool:
        return bool(self._call("ACK", job.queue, _pairs([job])))

    def ack_many(self, jobs: Sequence[Reserved]) -> None:
        for queue, group in _by_queue(jobs).items():
            self._call("ACK", queue, _pairs(group))

    def release(
        self, job: Reserved, delay: float, payload: str | None = None, undo_attempt: bool = False
    ) -> bool:
        args = [_id_bytes(job.id), job.token, int(max(delay, 0) * 1000), payload or "",
                int(undo_attempt)]
        return bool(self._call("RELEASE", job.queue, args))

    def size(self, queue: str) -> QueueSize:
        ready, delayed, reserved = self._call("SIZE", queue, [])
        return QueueSize(int(ready), int(delayed), int(reserved))

    def upcoming(self, queue: str, limit: int) -> list[DelayedJob]:
        flat = self._call("UPCOMING", queue, [limit])
        return [DelayedJob(_id_text(flat[i]), _payload_text(flat[i + 2]), int(flat[i + 1]) / 1000)
                for i in range(0, len(flat), 3)]

    def oldest_ready_age(self, queue: str) -> float | None:
        age_ms = int(self._call("OLDEST", queue, []))
        return None if age_ms < 0 else age_ms / 1000

    # -- operators' verbs: see redis_jobs.py ----------------------------------------------
    @cached_property
    def lookup(self) -> RedisJobs:
        from .redis_jobs import RedisJobs  # it uses this module's id and payload decoding

        return RedisJobs(lambda: self.client, self.keys, self._guarded)

    def find(self, job_id: str, queues: Sequence[str]) -> FoundJob | None:
        return self.lookup.find(job_id, queues)

    def jobs(self, queue: str, limit: int, offset: int = 0) -> list[FoundJob]:
        return self.lookup.page(queue, limit, offset)

    def remove(self, job_id: str, queue: str) -> str | None:
        return self.lookup.remove(job_id, queue)

    def register_worker(self, info: WorkerInfo, ttl: float) -> None:
        data = json.dumps(info.as_dict(), sort_keys=True)
        self._call("WORKER_REGISTER", None, [info.name, data, max(int(ttl * 1000), 1)])

    def unregister_worker(self, name: str) -> None:
        self._call("WORKER_UNREGISTER", None, [name])

    def workers(self) -> list[WorkerInfo]:
        flat = self._call("WORKER_LIST", None, [])
        now = int(flat[0]) / 1000
        found = []
        for i in range(1, len(flat), 2):
            heartbeat = int(flat[i + 1]) / 1000
            try:
                data = json.loads(_payload_text(flat[i]))
                info = WorkerInfo.from_dict(data, last_heartbeat=heartbeat,
                                            heartbeat_age=max(now - heartbeat, 0.0))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # another client's entry: it must not hide the real workers
            found.append(info)
        return sorted(found, key=lambda info: info.name)

    def prune_workers(self) -> int:
        return int(self._call("WORKER_PRUNE", None, []))

    def clear(self, queue: str) -> int:
        keys = self.keys(queue)
        count = int(self.client.hlen(keys[0]))
        self.client.delete(*keys)
        return count

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        # Wake early for a delayed job that falls due before the timeout.
        for queue in queues:
            due_ms = int(self._call("NEXT_DUE", queue, []))
            if due_ms >= 0:
                timeout = min(timeout, due_ms / 1000)
        if timeout < 0.01:
            return
        notify_keys = [self.keys(queue)[-1] for queue in queues]
        if len(notify_keys) > 1 and _is_cluster(self.client):
            # A Cluster refuses a BLPOP across slots: wait on one queue per call, in turn.
            # The other queues are then picked up within one wait, not at once.
            self._turn = (self._turn + 1) % len(notify_keys)
            notify_keys, timeout = [notify_keys[self._turn]], timeout / len(notify_keys)
        self._guarded(lambda: self.client.blpop(notify_keys, timeout=timeout))

    def check(self) -> list[Any]:
        try:
            self.client  # noqa: B018 -- building the client validates ALIAS/URL
        except ConfigurationError as exc:
            return [checks.Error(f"jobqueue connection {self.name!r}: {exc}",
                                 id="django_jobqueue.E006")]
        except TransportError:  # unreachable is not misconfigured
            return []
        return []

    def close(self) -> None:
        if self._client is not None and self.options.get("URL"):
            self._client.close()
        self._client = None
        self._encoded_keys.clear()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# Job ids come back from Redis as bytes, and another client may have written one that is not
# UTF-8. Decoding with surrogateescape keeps such an id a str that encodes back to the very
# same bytes, so it is reserved, renewed, acked and released like any other, and one odd
# entry cannot fail the batch it came in (nor orphan the jobs leased beside it).
def _id_text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _id_bytes(job_id: str) -> bytes:
    return job_id.encode("utf-8", "surrogateescape")


def _payload_text(value: Any) -> str:
    # A payload that is not UTF-8 (written by something other than dispatch) must not fail
    # the whole reservation it came in: its bytes are kept visible as \xNN, which no JSON
    # parser accepts, so it fails alone with PayloadError, never runs on altered data.
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)


def _unflatten(queue: str, flat: Sequence[Any], token: str) -> list[Reserved]:
    result = []
    for i in range(0, len(flat), 3):
        job_id = _id_text(flat[i])
        payload = _payload_text(flat[i + 1])
        result.append(Reserved(job_id, queue, payload, int(flat[i + 2]), job_id, token))
    return result


def _pairs(jobs: Sequence[Reserved]) -> list[str | bytes]:
    return [part for job in jobs for part in (_id_bytes(job.id), job.token)]


def _by_queue(jobs: Sequence[Reserved]) -> dict[str, list[Reserved]]:
    groups: dict[str, list[Reserved]] = {}
    for job in jobs:
        groups.setdefault(job.queue, []).append(job)
    return groups


def _grouped(jobs: Sequence[Reserved]) -> dict[tuple[str, str], list[Reserved]]:
    groups: dict[tuple[str, str], list[Reserved]] = {}
    for job in jobs:
        groups.setdefault((job.queue, job.token), []).append(job)
    return groups


def _is_cluster(client: Any) -> bool:
    try:
        from redis.cluster import RedisCluster
    except ImportError:  # pragma: no cover
        return False
    return isinstance(client, RedisCluster)


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import redis
    except ImportError:  # pragma: no cover
        return False
    return isinstance(
        exc, (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError)
    )
