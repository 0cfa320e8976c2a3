"""Dispatch: turn ``Job`` instances into payloads and push them.

Payload problems (arguments that are not JSON, a payload over the size limit, an unknown
connection) raise here, in the caller's process, never later in a worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, transaction

from . import payload as payload_codec
from .conf import jobqueue_settings
from .coordination import Lock
from .exceptions import ConfigurationError, DuplicateJob, PayloadError
from .flow.limits import expiry_of, keys_for
from .jobs import ensure_discoverable, resolve
from .logutil import log_event
from .retry import retry_after_to_json
from .shapes import is_number
from .transports import PushItem, Transport, get_transport
from .unique import UniqueLock, lock_for

if TYPE_CHECKING:
    from .jobs import Job

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dispatched:
    """A dispatched job: its id, where it went and when it becomes ready.

    ``duplicate`` is True when a unique job was not queued because another with its key
    holds the lock: ``id`` then names that job.
    """

    id: str
    job: str
    queue: str
    connection: str
    delay: float
    duplicate: bool = False


class Prepared(NamedTuple):
    """A job ready to push: its connection, what to push, what dispatch returns for it,
    and the unique lock it must take (None for a plain job)."""

    connection: str
    item: PushItem
    result: Dispatched
    guard: Lock | None


class _Defaults(NamedTuple):
    """The settings a dispatch reads, read together (see :meth:`JobQueueSettings.read`)."""

    connection: str
    queue: str
    connections: dict[str, Any]
    max_tries: int
    max_bytes: int
    max_depth: int


def _defaults() -> _Defaults:
    return _Defaults._make(jobqueue_settings.read(
        "DEFAULT_CONNECTION", "DEFAULT_QUEUE", "CONNECTIONS", "DEFAULT_MAX_TRIES",
        "MAX_PAYLOAD_BYTES", "MAX_PAYLOAD_DEPTH"))


def prepare(
    job: Job, *, delay: float = 0, queue: str | None = None, connection: str | None = None,
    priority: int = 0, extra: dict[str, Any] | None = None,
    expires_at: dt.datetime | float | None = None, job_id: str | None = None,
) -> Prepared:
    """Validate ``job`` and build its payload (``extra``: more payload keys, such as the
    schedule entry a fired job belongs to; ``job_id``: its id, when the caller needs it
    before the payload exists, as a workflow does); raises :class:`PayloadError` in the
    caller."""
    cls = type(job)
    if cls.abstract:
        raise PayloadError(f"{cls.__name__} is abstract and cannot be dispatched")
    if not -100 <= priority <= 100:
        raise PayloadError("priority must be between -100 and 100")
    defaults = _defaults()
    connection = connection or cls.connection or defaults.connection
    queue = queue or cls.queue or defaults.queue
    if connection not in defaults.connections:
        jobqueue_settings.connection(connection)  # unknown names raise now, not in a worker
    ensure_discoverable(cls, connection)  # so do classes workers lack
    overrides = job.dispatch_overrides()
    max_tries = overrides.get("max_tries") or cls.max_tries
    if max_tries is not None and (not isinstance(max_tries, int) or max_tries < 1):
        raise PayloadError(f"{cls.__name__}.max_tries must be an integer >= 1")
    body = payload_codec.new_payload(
        job=cls.name,
        data={"args": job._jq_args, "kwargs": job._jq_kwargs},
        queue=queue,
        connection=connection,
        max_tries=max_tries or defaults.max_tries,
        timeout=overrides.get("timeout") or cls.timeout,
        job_id=overrides.get("id") or job_id,
        priority=priority,
    )
    if overrides.get("retry_after") is not None:
        try:
            body["retry_after"] = retry_after_to_json(overrides["retry_after"])
        except (TypeError, ValueError) as exc:
            raise PayloadError(str(exc)) from None
    if extra:
        body.update(extra)
    _add_flow_control(job, body, delay, expires_at)
    unique = lock_for(job)
    if unique is not None:
        body["unique"] = unique[0].as_json()
    text = payload_codec.dumps(body, defaults.max_bytes, defaults.max_depth)
    item = item_of(body, text, delay)
    # A delayed job's lock covers its wait too: unique_for counts from when it is due.
    guard = None if unique is None else unique[0].guard(queue, body["id"],
                                                        unique[1] + item.delay)
    return Prepared(connection, item, Dispatched(body["id"], cls.name, queue, connection,
                                                  item.delay), guard)


def _add_flow_control(job: Job, body: dict[str, Any], delay: float, expires_at: Any) -> None:
    """The limit keys (job code, so computed here) and the expiry a worker checks."""
    try:
        expiry = expiry_of(job, delay, expires_at, time.time())
    except ConfigurationError as exc:
        raise PayloadError(str(exc)) from None
    if expiry is not None:
        body["expires_at"] = expiry
    keys = keys_for(job)
    if keys is not None:
        body["limits"] = keys


def item_of(body: dict[str, Any], text: str, delay: float = 0) -> PushItem:
    """The push of payload ``body`` (its text ``text``), ready after ``delay`` seconds."""
    # Where, when and how urgently a payload goes is read from the payload itself, so a
    # job pushed again later (an operator's retry) keeps every option it was dispatched with.
    priority = body.get("priority") or 0
    return PushItem(body["id"], body["queue"], text, max(float(delay or 0), 0.0), priority)


def push_payload(body: dict[str, Any], *, using: str | None = None) -> PushItem:
    """Push a complete payload again, ready now, on the queue, connection and priority it
    names (an operator's retry of a failed job). Inside ``transaction.atomic(using=...)``
    the push waits for the commit, as a dispatch does.

    The size and depth limits are not applied again: they guard the caller's arguments at
    dispatch, and a payload accepted then stays retryable after the limits change.
    """
    item = item_of(body, payload_codec.dumps(body))
    transport, using = get_transport(body["connection"]), using or DEFAULT_DB_ALIAS
    guard = _retry_guard(body, item)
    if guard is None:
        _push(transport, [item], using)
        return item
    # A unique job goes back behind its lock, as a dispatch would: a retry must not queue
    # a second job of a key that another holds (the failed record then stays). At once,
    # not at a commit: the record is deleted after this returns, so a refusal must be
    # known now.
    result = Dispatched(item.id, str(body.get("job")), item.queue, transport.name, 0.0)
    pushed = push_now(Prepared(transport.name, item, result, guard))
    if pushed.duplicate:
        raise DuplicateJob(
            f"a job with the same unique key ({guard.name.removeprefix('unique:')}) is"
            f" queued or running already: {pushed.id}; retry this one once it is over")
    return item


def push_now(prepared: Prepared) -> Dispatched:
    """Push what :func:`prepare` built at once, whatever transaction is open (an
    operator's action, whose outcome is reported at once): behind its unique lock, if it
    has one."""
    transport = get_transport(prepared.connection)
    if prepared.guard is None:
        transport.push_many([prepared.item])
        return prepared.result
    taken = transport.push_guarded(prepared.item, prepared.guard)
    if taken.granted:
        return prepared.result
    return replace(prepared.result, id=taken.current or prepared.result.id, duplicate=True)


def _retry_guard(body: dict[str, Any], item: PushItem) -> Lock | None:
    """The lock a pushed-again unique job takes: its payload's key, its class's
    ``unique_for`` now (None for a plain job, or a class no longer unique)."""
    lock = UniqueLock.of_payload(body)
    if lock is None:
        return None
    ttl = resolve(str(body.get("job"))).unique_for
    if not is_number(ttl) or ttl <= 0:
        return None
    return lock.guard(item.queue, item.id, float(ttl))


def _push(transport: Transport, items: list[PushItem], using: str) -> None:
    """Push now, or when the surrounding transaction on ``using`` commits."""
    if defers(transport, using):
        transaction.on_commit(lambda: transport.push_many(items), using=using, robust=False)
    else:
        transport.push_many(items)


def defers(transport: Transport, using: str) -> bool:
    """Whether a dispatch to ``transport`` now waits for the commit of the surrounding
    transaction on ``using`` (never made if it rolls back). On the same database it does
    not: the insert joins the transaction, which gives the same visibility as on_commit
    and no window in which a crash loses the job."""
    return (transaction.get_connection(using).in_atomic_block
            and not transport.uses_database(using)
            and bool(jobqueue_settings.DISPATCH_AFTER_COMMIT))


def _push_unique(
    transport: Transport, prepared: Prepared, guard: Lock, using: str
) -> Dispatched:
    """Push a unique job behind its lock: now, or at the commit of the surrounding
    transaction on ``using`` (then a duplicate is dropped at commit, and logged)."""
    result = prepared.result

    def push() -> Dispatched:
        taken = transport.push_guarded(prepared.item, guard)
        if taken.granted:
            return result
        log_event(logger, logging.INFO, "job_duplicate", job=result.job, queue=result.queue,
                  holder=taken.current)
        return replace(result, id=taken.current or result.id, duplicate=True)

    if not defers(transport, using):
        return push()
    transaction.on_commit(push, using=using, robust=False)
    return result


def dispatch(
    job: Job,
    *,
    delay: float = 0,
    queue: str | None = None,
    connection: str | None = None,
    priority: int = 0,
    using: str | None = None,
    expires_at: dt.datetime | float | None = None,
) -> Dispatched:
    """Queue ``job``: ready after ``delay`` seconds, on ``queue`` of ``connection``.

    Inside ``transaction.atomic(using=...)`` the push waits for the commit (setting
    ``DISPATCH_AFTER_COMMIT``); a rollback drops it. ``expires_at`` (an aware ``datetime``
    or epoch seconds) overrides the class's ``expires_after``: a job not started by then
    never runs, and is kept as expired.
    """
    prepared = prepare(job, delay=delay, queue=queue, connection=connection, priority=priority,
                       expires_at=expires_at)
    return push_prepared(prepared, using=using)


def push_prepared(prepared: Prepared, *, using: str | None = None) -> Dispatched:
    """Push what :func:`prepare` built, as :func:`dispatch` does (behind its unique lock,
    after the commit of a transaction on ``using``)."""
    transport, using = get_transport(prepared.connection), using or DEFAULT_DB_ALIAS
    if prepared.guard is None:
        _push(transport, [prepared.item], using)
        result = prepared.result
    else:
        result = _push_unique(transport, prepared, prepared.guard, using)
    log_event(logger, logging.DEBUG, "job_dispatched", job=result.job, id=result.id,
              queue=result.queue)
    return result


def dispatch_many(
    jobs: Iterable[Job],
    *,
    delay: float = 0,
    queue: str | None = None,
    connection: str | None = None,
    priority: int = 0,
    using: str | None = None,
    expires_at: dt.datetime | float | None = None,
) -> list[Dispatched]:
    """Queue many jobs with one round trip per connection. All are validated before any
    is pushed, so a bad argument queues nothing."""
    prepared = [
        prepare(job, delay=delay, queue=queue, connection=connection, priority=priority,
                expires_at=expires_at)
        for job in jobs
    ]
    return push_all_prepared(prepared, using=using)


def push_all_prepared(prepared: list[Prepared], *, using: str | None = None) -> list[Dispatched]:
    """Push what :func:`prepare` built for many jobs, as :func:`dispatch_many` does: one
    round trip per connection, unique jobs one by one behind their locks."""
    using = using or DEFAULT_DB_ALIAS
    grouped: dict[str, list[PushItem]] = defaultdict(list)
    for one in prepared:
        if one.guard is None:
            grouped[one.connection].append(one.item)
    for name, items in grouped.items():
        _push(get_transport(name), items, using)
    # Unique jobs one by one, each behind its lock.
    return [one.result if one.guard is None
            else _push_unique(get_transport(one.connection), one, one.guard, using)
            for one in prepared]
