"""The coordination contract: the few atomic operations that workers on many hosts share.

Unique jobs, schedules that fire each slot once, and later limits, pauses and workflow
counters all reduce to two guarded writes and a handful of plain ones:

- a **lock** bound to a lease (:class:`Lock`): granted when the name is free, expired, or
  already held by the same holder; it ends by :meth:`Coordination.release` or when its
  time-to-live runs out (store clock), so a holder that dies cannot keep it;
- an **advance** (:class:`Advance`): a durable value moves from what the caller last saw to
  a new value, or nothing happens (compare-and-set);
- durable values read and written plainly (flags, the last run of an entry);
- **permits** (:class:`Permit`): at most ``limit`` holders of a name at once, each for its
  time-to-live (store clock). Held while a job runs and renewed with its lease, they make a
  global concurrency limit; taken and never given back, a sliding-window rate limit (at most
  ``limit`` takes in any window of ``ttl`` seconds). :meth:`Coordination.admit` grants the
  permits of several jobs in one atomic step, each job's all or none;
- **tallies** (:mod:`.tallies`, ``Coordination.tallies``): the members of a workflow and how
  each ended, each counted once, so that the callers learn when none is pending.

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

from .tallies import CheckedTallies, Tallies

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


@dataclass(frozen=True)
class Permit:
    """One of at most ``limit`` permits named ``name`` in ``scope``, held by ``holder`` for
    ``ttl`` seconds (store clock).

    A holder that holds a live permit of that name already is granted it again (its
    time-to-live starts again) and is not counted twice.
    """

    scope: str
    name: str
    holder: str
    limit: int
    ttl: float


@dataclass(frozen=True)
class Admission:
    """The answer to one group of permits (one job's) of :meth:`Coordination.admit`."""

    granted: bool
    #: Of the group's permits, the position of the one that refused (None when granted).
    refused_by: int | None = None
    #: Seconds (store clock) until the refusing permit's first holder expires: when trying
    #: again may succeed (None when granted, or when nobody holds it: a limit below one).
    free_in: float | None = None


class Permits(ABC):
    """The permits of one store: the object its :class:`Coordination` holds and hands
    :meth:`~Coordination.admit`, :meth:`~Coordination.give_back`,
    :meth:`~Coordination.extend` and :meth:`~Coordination.holders` to, once their
    arguments are checked (each method is called with something to do)."""

    @abstractmethod
    def admit(self, scope: str, groups: Sequence[Sequence[Permit]],
              releasing: Sequence[tuple[str, str]] = ()) -> list[Admission]:
        """End the ``releasing`` permits, then decide ``groups``, all in ``scope``, in one
        atomic step."""

    @abstractmethod
    def give_back(self, scope: str, permits: Sequence[tuple[str, str]]) -> None:
        """End the ``(name, holder)`` permits held."""

    @abstractmethod
    def extend(self, scope: str, permits: Sequence[tuple[str, str]],
               ttl: float) -> list[tuple[str, str]]:
        """Extend the held ones of the distinct ``permits``; return the others in order."""

    @abstractmethod
    def holders(self, scope: str, names: Sequence[str]) -> dict[str, int]:
        """Count the live holders of each of ``names``."""


class Coordination(ABC):
    """The coordination primitives of one connection's store."""

    def __init__(self, connection: str, permits: Permits, tallies: Tallies) -> None:
        self.connection = connection
        self.permits = permits
        #: The store's tallies, their arguments checked before the store is asked.
        self.tallies: Tallies = CheckedTallies(tallies)

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

    def admit(self, groups: Sequence[Sequence[Permit]],
              releasing: Sequence[tuple[str, str]] = ()) -> list[Admission]:
        """Grant each group of permits (one job's) all or none, the groups in order, in one
        atomic step (one round trip where the store allows): a group's grants count
        against the groups after it. Every permit of one call is in one scope
        (:class:`ValueError` otherwise), so that it is one Redis Cluster slot. An empty
        group is granted; a call without permits asks the store nothing.

        ``releasing``: ``(name, holder)`` permits of that scope to give back first, in the
        same step (a worker gives back its finished jobs' permits with the next admission,
        one round trip and one commit instead of two)."""
        scopes = {permit.scope for group in groups for permit in group}
        if len(scopes) > 1:
            raise ValueError(
                f"the permits of one admit() share one scope, not {sorted(scopes)}")
        if not scopes:
            return [Admission(True) for _ in groups]
        return self.permits.admit(scopes.pop(), groups, list(dict.fromkeys(releasing)))

    def give_back(self, scope: str, permits: Sequence[tuple[str, str]]) -> None:
        """End the ``(name, holder)`` permits in ``scope``; those not held are ignored."""
        if permits:
            self.permits.give_back(scope, permits)

    def extend(self, scope: str, permits: Sequence[tuple[str, str]],
               ttl: float) -> list[tuple[str, str]]:
        """Give the live ``(name, holder)`` permits ``ttl`` seconds from now; return the
        others (expired, perhaps taken by another since, or given back), which stay lost:
        the holder must :meth:`admit` them again."""
        asked = list(dict.fromkeys(permits))
        return self.permits.extend(scope, asked, ttl) if asked else []

    def holders(self, scope: str, names: Sequence[str]) -> dict[str, int]:
        """How many live holders each of ``names`` has (0 for none)."""
        return self.permits.holders(scope, names) if names else {}

    def prune(self) -> int:
        """Delete expired locks, permits and tallies the store does not expire by itself;
        how many."""
        return 0
