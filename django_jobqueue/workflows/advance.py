"""What a job's end does to its workflow, told by the worker before it acks the job.

The order is the guarantee: tell the workflow, then ack. A worker killed in between leaves
the job leased; it is taken up again (run again, or ended by the retry policy) and its end
is told again. Every step here is safe to repeat: the batch's tally counts a child once,
a chain's next step and a batch's callbacks are pushed behind locks granted once
(:class:`~django_jobqueue.coordination.Lock` in the pushed job's queue, one atomic step
with the push). A store that does not answer raises: the caller keeps the end, its lease
renewed, and tells it again later.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError

from .. import failures
from .. import payload as payload_codec
from ..coordination import Lock
from ..coordination.tallies import CANCELLED, FAILED, SUCCEEDED, Tally
from ..dispatch import item_of
from ..exceptions import TransportError
from ..flow.cancel import cancelled_record
from ..flow.names import FLOW_SCOPE, status_name
from ..logutil import exception_for_log, log_event
from ..payload import json_object
from ..transports import FoundJob, PushItem, Transport, get_transport
from .build import definition_ttl, new_id, workflow_ttl
from .chain import WAITING
from .marks import (
    CALLBACK,
    CALLBACKS,
    CHAIN,
    DEFINITION,
    BatchMark,
    ChainMark,
    batch_of,
    callback_once,
    chain_of,
)

logger = logging.getLogger("django_jobqueue.workflows")

#: A job's outcome as a batch counts it: expired children did not run, as cancelled ones.
_TALLIED = {"succeeded": SUCCEEDED, "failed": FAILED, "cancelled": CANCELLED,
            "expired": CANCELLED}
#: Failed children a callback's summary names, at most.
SUMMARY_IDS = 1000


@dataclass(frozen=True)
class End:
    """Job ``job_id`` ended: ``succeeded``, ``failed`` (for good), ``cancelled`` or
    ``expired``. ``document`` is its payload parsed as plain JSON, ``payload`` its text
    (decoded only for a chain, whose later steps are written again)."""

    document: Any
    job_id: str
    outcome: str
    payload: str


def advance(ends: Sequence[End]) -> None:
    """Move on the workflows of ``ends``: each chain a step, each batch's count (one call
    per batch), then callbacks of batches now complete."""
    # Keyed by (batch id, home): a worker tells a thousand ends at a time, and a frozen
    # mark made and hashed for each would be most of the grouping's cost.
    batches: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for end in ends:
        if isinstance(end.document, dict) and CHAIN in end.document:
            _guarded(end.job_id, lambda end=end: _chain_end(end))
        mark = batch_of(end.document)
        if mark is not None:
            batches[mark.id, mark.home].append((mark.member, _TALLIED[end.outcome]))
    for (batch_id, home), counted in batches.items():
        mark = BatchMark(batch_id, home, "")
        _guarded(counted[0][0], lambda mark=mark, counted=counted: _count(mark, counted))


def _guarded(job_id: str, step: Any) -> None:
    """Run one workflow's step. A store that does not answer raises (the ends are told
    again later); anything else is a workflow that cannot move on (a payload's marks made
    up, a job class gone): logged with its traceback, and the job's own end goes on, as
    telling it again would fail again."""
    try:
        step()
    except (TransportError, DatabaseError):
        raise
    except Exception as error:
        log_event(logger, logging.ERROR, "workflow_failed", id=job_id,
                  error=type(error).__name__, detail=str(error)[:300],
                  traceback=exception_for_log(error))


def _chain_end(end: End) -> None:
    chain = chain_of(payload_codec.loads(end.payload))
    if chain is not None:
        _chain_step(end, chain)


def _count(mark: BatchMark, counted: list[tuple[str, str]]) -> None:
    tally = get_transport(mark.home).coordination.tallies.count(
        mark.scope, mark.id, counted, workflow_ttl())
    if tally.total:
        _keep_definition(mark)
    if tally.complete:
        fire(mark, tally)
    elif tally.total == 0:
        # Its count expired (WORKFLOW_TTL after its last change) or was never made: its
        # callbacks cannot fire. Said loudly, once per end told.
        log_event(logger, logging.ERROR, "batch_forgotten", batch=mark.id, home=mark.home,
                  ended=len(counted))


#: When this process last renewed each batch's definition (monotonic seconds).
_renewed: dict[str, float] = {}


def _keep_definition(mark: BatchMark) -> None:
    """Renew the batch's definition as its count is renewed, so a batch that runs (or is
    retried) longer than ``WORKFLOW_TTL`` after its dispatch still has its callbacks: each
    process renews it when it first counts the batch and then a quarter of the TTL apart,
    not at every count (two round trips); see :func:`.build.definition_ttl`."""
    now, ttl = time.monotonic(), workflow_ttl()
    last = _renewed.get(mark.id)
    if last is not None and now - last < ttl / 4:
        return
    coordination = get_transport(mark.home).coordination
    value = coordination.read(mark.scope, [DEFINITION]).get(DEFINITION)
    if value is not None:
        coordination.write(mark.scope, DEFINITION, value, ttl=definition_ttl())
    if len(_renewed) >= 10_000:  # a worker's lifetime of batches: forget the stale ones
        for batch_id, when in list(_renewed.items()):
            if now - when >= ttl / 4:
                del _renewed[batch_id]
    _renewed[mark.id] = now


# -- chains ------------------------------------------------------------------------------------
def _chain_step(end: End, chain: ChainMark) -> None:
    if end.outcome == "succeeded":
        _push_next(end, chain)
    elif not holds(chain):
        # It succeeded and pushed the next step, then its worker died before the ack: this
        # end (the lease collected, its attempts spent) holds nothing back.
        if chain.rest:
            log_event(logger, logging.WARNING, "chain_step_ended_after_next", chain=chain.id,
                      id=end.job_id, step=chain.step + 1, outcome=end.outcome)
    elif end.outcome == "failed":
        _waits_on(chain, end.job_id)
        log_event(logger, logging.WARNING, "chain_held", chain=chain.id, id=end.job_id,
                  step=chain.step + 1, steps=chain.steps, waiting=len(chain.rest))
    else:
        cancel_rest(chain, end.job_id, f"the chain's step {chain.step + 1} was {end.outcome}")


def holds(chain: ChainMark) -> bool:
    """Whether the steps after ``chain``'s wait on it: it has some, and the next one was
    never pushed (its once-lock is not taken)."""
    body = chain.next_body()
    if body is None:
        return False
    coordination = get_transport(str(body["connection"])).coordination
    return not coordination.read(str(body["queue"]), [chain.once_name()])


def _push_next(end: End, chain: ChainMark) -> None:
    body = chain.next_body()
    if body is None:
        log_event(logger, logging.INFO, "chain_finished", chain=chain.id, id=end.job_id,
                  steps=chain.steps)
        return
    transport = get_transport(str(body["connection"]))
    _forget_waiting(transport, str(body["id"]))
    item = _item(body)
    once = Lock(item.queue, chain.once_name(), new_id(), workflow_ttl())
    taken = transport.push_guarded(item, once)
    log_event(logger, logging.INFO, "chain_next" if taken.granted else "chain_next_repeat",
              chain=chain.id, id=item.id, after=end.job_id, step=chain.step + 2,
              steps=chain.steps, queue=item.queue)


def _waits_on(chain: ChainMark, job_id: str) -> None:
    """The next step's "waiting" record names the job it waits on: after a retry of a step
    that failed, that is the retry (a new job id), which ``job_status`` looks up to tell
    ``held``."""
    body = chain.next_body()
    if body is None:
        return
    coordination, name = get_transport(str(body["connection"])).coordination, status_name(
        str(body["id"]))
    record = json_object(coordination.read(FLOW_SCOPE, [name]).get(name))
    if record is not None and record.get("state") == WAITING and record.get("after") != job_id:
        coordination.write(FLOW_SCOPE, name, json.dumps({**record, "after": job_id}),
                           ttl=workflow_ttl())


def _forget_waiting(transport: Transport, job_id: str) -> None:
    """Remove the "waiting" record of the next step ``job_id`` before its push, so a worker
    killed after the push cannot leave it. Only that record: a step told again (its worker
    killed before its ack) may be told after the next one ran, whose record is its own by
    then (its progress, that it succeeded) and stays. Two workers telling one step at once
    could still remove a record the next step wrote between one's read and its write; the
    next step would have to start and report in that instant."""
    coordination, name = transport.coordination, status_name(job_id)
    record = json_object(coordination.read(FLOW_SCOPE, [name]).get(name))
    if record is not None and record.get("state") == WAITING:
        coordination.write(FLOW_SCOPE, name, None)


def cancel_rest(chain: ChainMark, job_id: str, why: str) -> int:
    """Keep the steps after ``chain``'s as cancelled records (their reason: ``why``);
    how many (none if the next step was pushed already). Repeating it records nothing
    twice (a record's job id is unique)."""
    if not holds(chain):
        return 0
    records = []
    for n, body in enumerate(chain.rest):
        text = payload_codec.dumps(body)
        found = FoundJob(str(body["id"]), str(body.get("queue") or ""), text, "held")
        message = f"cancelled: {why} (chain {chain.id}, step {chain.step + n + 2})"
        records.append(cancelled_record(found, str(body.get("connection") or ""), text,
                                        json_object(text), "", message=message))
    if records:
        failures.record_all(records)
        log_event(logger, logging.INFO, "chain_cancelled", chain=chain.id, id=job_id,
                  cancelled=len(records), why=why)
    return len(records)


# -- batches -----------------------------------------------------------------------------------
def fire(mark: BatchMark, tally: Tally | None = None) -> list[str]:
    """Push the callbacks batch ``mark`` is due, each once ever; the kinds pushed now.
    ``tally`` None: the batch is empty, so it succeeded and completed."""
    coordination = get_transport(mark.home).coordination
    definition = json_object(coordination.read(mark.scope, [DEFINITION]).get(DEFINITION))
    if definition is None:
        log_event(logger, logging.ERROR, "batch_forgotten", batch=mark.id, home=mark.home)
        return []
    callbacks = definition.get("callbacks") or {}
    due = [kind for kind in CALLBACKS if kind in callbacks and _due(kind, tally)]
    if not due:
        return []
    summary = _summary(mark, definition, tally)
    fired = [kind for kind in due if _push_callback(mark, kind, callbacks[kind], summary)]
    return fired


def _due(kind: str, tally: Tally | None) -> bool:
    if tally is None:
        return kind != "on_failure"
    if kind == "on_success":
        return tally.all_succeeded
    if kind == "on_failure":
        return tally.complete and tally.failed + tally.cancelled > 0
    return tally.complete


def _summary(mark: BatchMark, definition: dict[str, Any], tally: Tally | None) -> dict[str, Any]:
    tally = tally or Tally(mark.id)
    failed = [member for member, _ in get_transport(mark.home).coordination.tallies.members(
        mark.scope, mark.id, FAILED, limit=SUMMARY_IDS)] if tally.failed else []
    return {"id": mark.id, "name": definition.get("name") or "", "total": tally.total,
            "succeeded": tally.succeeded, "failed": tally.failed,
            "cancelled": tally.cancelled, "failed_ids": failed}


def _push_callback(mark: BatchMark, kind: str, body: dict[str, Any],
                   summary: dict[str, Any]) -> bool:
    body = {**body, CALLBACK: {"batch": mark.id, "home": mark.home, "kind": kind,
                               "summary": summary}}
    item = _item(body)
    transport = get_transport(str(body["connection"]))
    taken = transport.push_guarded(
        item, Lock(item.queue, callback_once(mark.id, kind), new_id(), workflow_ttl()))
    if taken.granted:
        log_event(logger, logging.INFO, "batch_callback", batch=mark.id, callback=kind,
                  id=item.id, job=body.get("job"), succeeded=summary["succeeded"],
                  failed=summary["failed"], cancelled=summary["cancelled"])
    return taken.granted


# -- helpers -----------------------------------------------------------------------------------
def _item(body: dict[str, Any]) -> PushItem:
    return item_of(body, payload_codec.dumps(body))




__all__ = ["End", "advance", "cancel_rest", "fire", "holds"]
