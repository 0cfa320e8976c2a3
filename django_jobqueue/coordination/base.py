"""The coordination contract: the few atomic operations that workers on many hosts share.

Unique jobs, schedules that fire each slot once, and later limits, pauses and workflow
counters all reduce to two guarded writes and a handful of plain ones:

- a **lock** bound to a lease (:class:`Lock`): granted when the name is free, expired, or
  already held by the same holder; it ends by :meth:`Coordination.release` or when its
  time-to-live runs out (store clock), so a holder that dies cannot keep it;
- an **advance** (:class:`Advance`): a durable value moves from what the caller last saw to
  a new value, or nothing happens (compare-and-set);
- durable values read and written plainly (flags, the last run of an entry).

Each store implements this once (:mod:`.memory`, :mod:`.database`, :mod:`.redis`), and a
transport can make a push depend on a guard in the same atomic step
(:meth:`django_jobqueue.transports.Transport.push_guarded`): the guards are granted and the
job queued, or nothing changes. Names live in a *scope*; on Redis a scope is a Cluster hash
slot, so a guard that joins a push is scoped by the job's queue.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Names longer than this are stored as a digest (index keys have a size limit).
MAX_NAME = 190
#: Seconds between a worker's deletions of expired locks (:meth:`Coordination.prune`).
PRUNE_EVERY = 60.0


def stored_name(name: str) -> str:
    """``name`` as stored: itself, or ``"sha256:<hex>"`` when it is too long for an index."""
    if len(name) <= MAX_NAME:
        return name
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


@dataclass(frozen=True)
class Lock:
    """Hold ``name`` in ``scope`` for ``holder``, ``ttl`` seconds from now (store clock).

    Granted when nobody holds it, when its holder's time ran out, or when ``holder`` holds
    it already (the time-to-live starts again).
    """

    scope: str
    name: str
    holder: str
    ttl: float


@dataclass(frozen=True)
class Advance:
    """Set the durable value ``name`` in ``scope`` to ``new``, if it still is ``expected``
    (``None``: if it does not exist yet). Of several callers that saw the same value, one
    is granted."""

    scope: str
    name: str
    expected: str | None
    new: str


Guard = Lock | Advance


@dataclass(frozen=True)
class Taken:
    """The answer to a guard: ``granted``, and what the store holds now under the guard's
    name (the lock's holder, the value; ``None`` when nothing)."""

    granted: bool
    current: str | None
    #: Of several guards tried together, the position of the one that refused.
    refused_by: int | None = field(default=None, compare=False)


class Coordination(ABC):
    """The coordination primitives of one connection's store."""

    def __init__(self, connection: str) -> None:
        self.connection = connection

    @abstractmethod
    def take(self, guard: Guard) -> Taken:
        """Try ``guard`` atomically."""

    @abstractmethod
    def release(self, scope: str, name: str, holder: str) -> bool:
        """End ``holder``'s lock on ``name``; False when someone else (or nobody) holds it."""

    @abstractmethod
    def renew(self, scope: str, name: str, holder: str, ttl: float) -> bool:
        """Give ``holder``'s lock ``ttl`` seconds from now; False when it is not theirs."""

    @abstractmethod
    def read(self, scope: str, names: Sequence[str]) -> dict[str, str]:
        """Live values and lock holders of ``names`` (missing and expired ones left out)."""

    @abstractmethod
    def write(self, scope: str, name: str, value: str | None, ttl: float | None = None) -> None:
        """Store a value, replacing any (``None`` deletes it): durable, or gone ``ttl``
        seconds from now (store clock), as a record kept for a while is (progress)."""

    def prune(self) -> int:
        """Delete expired locks the store does not expire by itself; how many."""
        return 0
