"""What chains and batches share as they are dispatched: jobs prepared with known ids,
payloads read back and written again with a workflow's mark, and the rule that a workflow
only spans stores every worker can reach."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import payload as payload_codec
from ..conf import jobqueue_settings
from ..dispatch import Prepared, prepare
from ..exceptions import ConfigurationError, PayloadError
from ..transports import PushItem, get_transport

if TYPE_CHECKING:
    from ..jobs import Job


def new_id() -> str:
    return uuid.uuid4().hex


def workflow_ttl() -> float:
    """Seconds a workflow's records live after their last change (``WORKFLOW_TTL``)."""
    return float(jobqueue_settings.WORKFLOW_TTL)


def definition_ttl() -> float:
    """A batch's definition outlives its count: renewed a quarter of the TTL apart at
    most, it is kept half a TTL longer than the count it serves."""
    return 1.5 * workflow_ttl()


def prepared(job: Job, **options: Any) -> tuple[Prepared, dict[str, Any]]:
    """``job`` validated with an id of its own, and its payload as a dict."""
    if not is_job(job):
        raise PayloadError(f"a workflow is made of Job instances, not {job!r}")
    ready = prepare(job, job_id=new_id(), **options)
    return ready, payload_codec.loads(ready.item.payload)


def with_mark(ready: Prepared, body: dict[str, Any], key: str, mark: Any) -> Prepared:
    """``ready`` again, its payload carrying ``mark`` under ``key`` (size limits apply to
    the whole: a chain carries the payloads of its later steps)."""
    body = {**body, key: mark}
    max_bytes, max_depth = jobqueue_settings.read("MAX_PAYLOAD_BYTES", "MAX_PAYLOAD_DEPTH")
    text = payload_codec.dumps(body, max_bytes, max_depth)
    item = ready.item
    return ready._replace(item=PushItem(item.id, item.queue, text, item.delay, item.priority))


def refuse_unique(ready: Prepared, where: str) -> None:
    """A unique job refused as a duplicate would never end where a workflow waits for it
    (a batch's count, a chain's next step): such jobs may not be there."""
    if ready.guard is not None:
        raise PayloadError(
            f"{ready.result.job} is a unique job (unique_for): it cannot be {where}, where"
            " a duplicate refused would never end; dispatch it on its own, or as a chain's"
            " first step")


def check_reachable(connections: Iterable[str]) -> None:
    """A workflow's later jobs are pushed by whichever worker ends the one before: every
    store it uses must be one that every worker reaches, unless it uses only one store."""
    names = sorted(set(connections))
    if len(names) < 2:
        return
    local = [name for name in names if not get_transport(name).shareable_between_processes]
    if local:
        raise ConfigurationError(
            f"a workflow cannot span connections {names}: {local} keep their jobs in one"
            " process (the memory transport), where a worker of another store cannot push"
            " the next job; put the whole workflow on one connection")


def is_job(value: Any) -> bool:
    from ..jobs import Job

    return isinstance(value, Job)
