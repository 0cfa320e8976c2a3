"""Batches: jobs that run side by side, with callbacks once all have ended.

``batch([...], on_success=J1, on_failure=J2, on_complete=J3).dispatch()`` queues every
job, each marked with its batch. The batch's count is a tally in its home connection's
coordination store: a worker tells it each child's end (succeeded, failed for good,
cancelled or expired) *before* it acks the child, and a worker killed in between tells it
again when the child is taken up again: the tally counts each child once. Whoever sees the
count complete pushes the callbacks, each behind a lock granted once per batch, so each
fires exactly once. Callbacks are jobs: each gets the batch's summary (``self.batch_summary``).

- ``on_failure``: once every child has ended, if any failed or was cancelled;
- ``on_success``: once every child has succeeded (after retries of the failed ones too);
- ``on_complete``: once every child has ended, however.

A running child can add jobs to its batch (``self.job_batch.add([...])``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import payload as payload_codec
from ..conf import jobqueue_settings
from ..coordination import Lock
from ..dispatch import Dispatched, Prepared, prepare, push_all_prepared
from ..exceptions import PayloadError
from ..transports import get_transport
from .build import (
    check_reachable,
    definition_ttl,
    is_job,
    new_id,
    refuse_unique,
    workflow_ttl,
)
from .marks import BATCH, CALLBACKS, DEFINITION, BatchMark, batch_scope

if TYPE_CHECKING:
    from ..jobs import Job


@dataclass(frozen=True)
class BatchDispatched:
    """A dispatched batch: its ``id``, the connection keeping its count (``home``) and
    its jobs as dispatched."""

    id: str
    home: str
    jobs: tuple[Dispatched, ...]


class Batch:
    """Jobs run side by side, with callbacks (see :func:`batch`)."""

    def __init__(self, jobs: Sequence[Job], *, on_success: Job | None = None,
                 on_failure: Job | None = None, on_complete: Job | None = None,
                 name: str = "", connection: str | None = None) -> None:
        self.jobs = tuple(jobs)
        self.callbacks = {kind: job for kind, job in zip(
            CALLBACKS, (on_failure, on_success, on_complete), strict=True) if job is not None}
        self.name, self.connection = str(name)[:200], connection

    def dispatch(self, *, queue: str | None = None, connection: str | None = None,
                 using: str | None = None) -> BatchDispatched:
        """Queue every job (one round trip per connection; at the commit of a transaction
        on ``using``, as :func:`~django_jobqueue.dispatch_many` does). ``queue`` and
        ``connection``, when given, apply to every job and callback; the batch's count is
        kept on ``connection`` too. Every job and callback is validated first, so a bad
        one queues nothing. An empty batch is complete at once: its ``on_success`` and
        ``on_complete`` are queued now."""
        batch_id = new_id()
        where = {"queue": queue, "connection": connection}
        callbacks = {kind: _callback_body(job, where) for kind, job in self.callbacks.items()}
        home = connection or self.connection or _home(self.jobs)
        children = [_child(job, batch_id, home, child_id(batch_id, number), where)
                    for number, job in enumerate(self.jobs)]
        check_reachable([home, *(one.connection for one in children),
                         *(str(body["connection"]) for body in callbacks.values())])
        _open(home, batch_id, self.name, callbacks, children)
        if not children:
            from .advance import fire

            fire(BatchMark(batch_id, home, ""))
            return BatchDispatched(batch_id, home, ())
        return BatchDispatched(batch_id, home, tuple(push_all_prepared(children, using=using)))


def batch(jobs: Sequence[Job], *, on_success: Job | None = None,
          on_failure: Job | None = None, on_complete: Job | None = None,
          name: str = "", connection: str | None = None) -> Batch:
    """The batch of ``jobs`` with its callbacks (see :mod:`django_jobqueue.workflows.batch`).

    ``name`` is shown in the admin and logs; ``connection`` keeps the batch's count (by
    default the first job's connection)."""
    return Batch(jobs, on_success=on_success, on_failure=on_failure,
                 on_complete=on_complete, name=name, connection=connection)


class BatchRef:
    """The batch of a running child (``self.job_batch``): add jobs to it while it runs."""

    def __init__(self, mark: BatchMark) -> None:
        self.mark = mark
        self.id = mark.id
        self._added = 0

    def add(self, jobs: Sequence[Job]) -> list[Dispatched]:
        """Queue ``jobs`` as children of this batch; it is not complete until they end.
        Ids are derived from this child and the order of adds, so a child that runs
        again (its worker killed) adds the same children, counted once."""
        first, self._added = self._added, self._added + len(jobs)
        members = [uuid.uuid5(uuid.NAMESPACE_OID, f"{self.id}:{self.mark.member}:{n}").hex
                   for n in range(first + 1, self._added + 1)]
        children = [_child(job, self.id, self.mark.home, member)
                    for job, member in zip(jobs, members, strict=True)]
        check_reachable([self.mark.home, *(one.connection for one in children)])
        _tallies(self.mark.home).add(self.mark.scope, self.id, members, workflow_ttl())
        return [_push_once(one, self.id) for one in children]

    def status(self) -> Any:
        """The batch's :class:`~django_jobqueue.workflows.status.BatchStatus` now."""
        from .status import batch_status

        return batch_status(self.id, self.mark.home)


def _push_once(ready: Prepared, batch_id: str) -> Dispatched:
    """Push a child added from inside the batch behind a lock granted once: a parent that
    runs again (its worker killed) adds the same ids, and none is queued twice."""
    transport = get_transport(ready.connection)
    once = Lock(ready.item.queue, f"batch:{batch_id}:added:{ready.item.id}", new_id(),
                workflow_ttl())
    taken = transport.push_guarded(ready.item, once)
    return ready.result if taken.granted else replace(ready.result, duplicate=True)


def _home(jobs: Sequence[Job]) -> str:
    for job in jobs:
        if job.connection:
            return job.connection
    return str(jobqueue_settings.DEFAULT_CONNECTION)


def child_id(batch_id: str, number: int) -> str:
    """The job id of a batch's child ``number`` (from 0): the batch id's first 20 hex
    digits, then the number in 12. Unique as the batch id is, and in the order of dispatch:
    the children a worker ends together are neighbours in the tally's indexes, so a
    database's count of them writes a few index pages, not one per child."""
    return f"{batch_id[:20]}{number:012x}"


def _child(job: Job, batch_id: str, home: str, member: str,
           where: dict[str, str | None] | None = None) -> Prepared:
    if not is_job(job):
        raise PayloadError(f"a batch is made of Job instances, not {job!r}")
    ready = prepare(job, job_id=member, **(where or {}),
                    extra={BATCH: BatchMark(batch_id, home, member).as_json()})
    refuse_unique(ready, "in a batch")
    return ready


def _callback_body(job: Job, where: dict[str, str | None]) -> dict[str, Any]:
    if not is_job(job):
        raise PayloadError(f"a batch's callback is a Job instance, not {job!r}")
    ready = prepare(job, **where)
    refuse_unique(ready, "a batch's callback")
    return payload_codec.loads(ready.item.payload)


def _open(home: str, batch_id: str, name: str, callbacks: dict[str, Any],
          children: list[Prepared]) -> None:
    """The batch's definition, then its count with every member pending: both before any
    child is pushed, so no child can end before its batch knows it. The definition names
    the connections of its children, where a cancel of the batch looks for them (a child
    added later on another connection is stopped by the batch's request only)."""
    coordination, scope = get_transport(home).coordination, batch_scope(batch_id)
    members = [one.result.id for one in children]
    definition = {"name": name, "created": time.time(), "callbacks": callbacks,
                  "size": len(members),
                  "connections": sorted({home, *(one.connection for one in children)})}
    coordination.write(scope, DEFINITION, json.dumps(definition), ttl=definition_ttl())
    if members:
        coordination.tallies.add(scope, batch_id, members, workflow_ttl())


def _tallies(home: str) -> Any:
    return get_transport(home).coordination.tallies
