"""What a workflow writes into its jobs' payloads, and where it keeps its records.

A **chain** step carries the chain itself: its id, its position and the payloads of the
steps after it (``"chain"``). The rest of a chain lives in the step that runs, so a step
that fails for good keeps them in its failed-job record: held there, visible, and resumed
by retrying that record, which pushes the same payload again. A **batch** child carries
its batch (``"batch"``: id, home connection, member name); a callback carries the batch
it reports on and the summary (``"batch_callback"``). The batch's count is a tally in its
home connection's coordination store (:mod:`django_jobqueue.coordination.tallies`), its
definition (callbacks, size) a value beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..shapes import is_number

CHAIN, BATCH, CALLBACK = "chain", "batch", "batch_callback"
#: The callbacks a batch can have, in the order they fire.
CALLBACKS = ("on_failure", "on_success", "on_complete")
#: The coordination scope of a batch's records (one Redis Cluster slot per batch).
BATCH_SCOPE = "batch:{id}"
#: The batch's definition, in its scope.
DEFINITION = "definition"
#: A cancel request for a batch's jobs that have not started (in the flow scope).
CANCEL = "cancel:batch:{id}"


@dataclass(frozen=True)
class ChainMark:
    """Step ``step`` (0-based) of ``steps`` of chain ``id``; ``rest``: the payloads of the
    steps after it, in order."""

    id: str
    step: int
    steps: int
    rest: tuple[dict[str, Any], ...]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "step": self.step, "steps": self.steps, "rest": list(self.rest)}

    def next_body(self) -> dict[str, Any] | None:
        """The payload of the next step, carrying the chain from there (None: the last)."""
        if not self.rest:
            return None
        body = dict(self.rest[0])
        body[CHAIN] = ChainMark(self.id, self.step + 1, self.steps, self.rest[1:]).as_json()
        return body

    def once_name(self) -> str:
        """The lock a push of the next step takes, granted once: a step whose end is told
        twice (its worker killed before its ack) pushes the next one once."""
        return f"chain:{self.id}:{self.step + 1}"


@dataclass(frozen=True)
class BatchMark:
    """A child of batch ``id``, whose records live on connection ``home``; ``member`` is
    its name in the count (its first job id: a retry keeps it)."""

    id: str
    home: str
    member: str

    @property
    def scope(self) -> str:
        return BATCH_SCOPE.format(id=self.id)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "home": self.home, "member": self.member}


def chain_of(body: Any) -> ChainMark | None:
    """The chain a payload is a step of (None for any other, or a mark that is not one)."""
    mark = body.get(CHAIN) if isinstance(body, dict) else None
    if not isinstance(mark, dict):
        return None
    rest, step, steps = mark.get("rest"), mark.get("step"), mark.get("steps")
    if (not isinstance(mark.get("id"), str) or not isinstance(rest, list)
            or not all(_is_step(one) for one in rest)
            or not is_number(step) or not is_number(steps)):
        return None
    return ChainMark(mark["id"], int(step), int(steps), tuple(rest))


def _is_step(body: Any) -> bool:
    """A later step's payload names where it goes."""
    return isinstance(body, dict) and all(
        isinstance(body.get(key), str) and body[key] for key in ("id", "job", "queue",
                                                                   "connection"))


def batch_of(body: Any) -> BatchMark | None:
    """The batch a payload is a child of (None for any other)."""
    mark = body.get(BATCH) if isinstance(body, dict) else None
    if not isinstance(mark, dict):
        return None
    fields = (mark.get("id"), mark.get("home"), mark.get("member"))
    if not all(isinstance(value, str) and value for value in fields):
        return None
    return BatchMark(*fields)


def matters(body: Any) -> bool:
    """Whether a job's end moves a workflow on (checked for every job: two lookups)."""
    return isinstance(body, dict) and (CHAIN in body or BATCH in body)


def batch_scope(batch_id: str) -> str:
    return BATCH_SCOPE.format(id=batch_id)


def cancel_name(batch_id: str) -> str:
    return CANCEL.format(id=batch_id)


def callback_once(batch_id: str, kind: str) -> str:
    """The lock a callback's push takes, granted once per batch and kind."""
    return f"batch:{batch_id}:{kind}"
