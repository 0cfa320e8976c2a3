"""How a batch stands: :func:`batch_status` (its progress, for the API, the admin and
``batch_status``), and the :class:`BatchSummary` its callbacks get."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import failures
from ..coordination.tallies import FAILED, Tally
from ..flow.lookup import UNANSWERED, connections_to_search
from ..flow.names import FLOW_SCOPE
from ..payload import json_object
from ..transports import get_transport
from .marks import CALLBACKS, DEFINITION, batch_scope, cancel_name


@dataclass(frozen=True)
class BatchSummary:
    """What a batch's callback is told: the batch's counts when it fired, and the ids of
    its failed jobs (their first ids, as dispatched; at most 1000)."""

    id: str
    name: str
    callback: str
    total: int
    succeeded: int
    failed: int
    cancelled: int
    failed_ids: tuple[str, ...] = ()

    @classmethod
    def of_callback(cls, mark: dict[str, Any]) -> BatchSummary:
        summary = mark.get("summary") if isinstance(mark.get("summary"), dict) else {}
        return cls(
            id=str(mark.get("batch") or ""), name=str(summary.get("name") or ""),
            callback=str(mark.get("kind") or ""),
            **{key: int(summary.get(key) or 0)
               for key in ("total", "succeeded", "failed", "cancelled")},
            failed_ids=tuple(str(one) for one in summary.get("failed_ids") or ()),
        )


@dataclass(frozen=True)
class BatchStatus:
    """A batch's progress: its counts now (``pending`` = not ended yet), its ``name``,
    when it was created, the callbacks it has, and whether its rest was cancelled."""

    id: str
    home: str
    name: str
    created_at: dt.datetime | None
    total: int
    succeeded: int
    failed: int
    cancelled: int
    pending: int
    complete: bool
    callbacks: tuple[str, ...] = ()
    cancel_requested: bool = False
    failed_ids: tuple[str, ...] = field(default=())
    #: The connections its children were dispatched to.
    connections: tuple[str, ...] = ()

    @property
    def percent(self) -> float:
        return 100.0 * (self.total - self.pending) / self.total if self.total else 100.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        data["percent"] = round(self.percent, 1)
        return data


def batch_status(batch_id: str, connection: str | None = None, *,
                 failed_ids: int = 0) -> BatchStatus | None:
    """Batch ``batch_id``'s progress, looked for on ``connection`` (every configured one
    when None); None when no store knows it (never dispatched, or forgotten
    ``WORKFLOW_TTL`` after its last change). ``failed_ids``: how many failed jobs' ids to
    list with it."""
    unanswered: list[Exception] = []
    for name in connections_to_search(connection):
        try:
            found = _read(name, batch_id, failed_ids)
        except UNANSWERED as exc:
            unanswered.append(exc)
            continue
        if found is not None:
            return found
    if unanswered:
        raise unanswered[0]
    return None


def _read(home: str, batch_id: str, failed_ids: int) -> BatchStatus | None:
    coordination, scope = get_transport(home).coordination, batch_scope(batch_id)
    definition = json_object(coordination.read(scope, [DEFINITION]).get(DEFINITION))
    if definition is None:
        return None
    tally = coordination.tallies.read(scope, [batch_id]).get(batch_id) or Tally(batch_id)
    cancel = coordination.read(FLOW_SCOPE, [cancel_name(batch_id)])
    failed: Sequence[tuple[str, str]] = coordination.tallies.members(
        scope, batch_id, FAILED, limit=failed_ids) if failed_ids and tally.failed else ()
    created = definition.get("created")
    return BatchStatus(
        id=batch_id, home=home, name=str(definition.get("name") or ""),
        created_at=dt.datetime.fromtimestamp(created, dt.UTC)
        if isinstance(created, (int, float)) else None,
        total=tally.total, succeeded=tally.succeeded, failed=tally.failed,
        cancelled=tally.cancelled, pending=tally.pending,
        complete=tally.complete or (tally.total == 0 and not definition.get("size")),
        callbacks=tuple(kind for kind in CALLBACKS if kind in (definition.get("callbacks") or {})),
        cancel_requested=bool(cancel), failed_ids=tuple(member for member, _ in failed),
        connections=tuple(str(one) for one in definition.get("connections") or (home,)),
    )


def held_chains(connection: str, queue: str) -> int:
    """How many chain steps of ``queue`` on ``connection`` failed for good and are still
    recorded, holding the steps after them (a count of failed-job records by their
    payloads: it reads that queue's failures, so it is asked for, not shown always)."""
    return failures.count(queue=queue, connection=connection, chain_held=True,
                          outcome="failed")


__all__ = ["BatchStatus", "BatchSummary", "batch_status", "held_chains"]
