"""The transport contract: where queued jobs live between dispatch and their outcome.

Verbs: ``push`` (and ``push_many``), ``reserve`` under a lease, ``renew`` the lease, ``ack``
(the outcome is recorded: remove), ``release`` (back to the queue, now or later), ``collect``
(take jobs whose lease expired), ``size``. A reserved job stays in the store until ``ack`` or
``release``, so a worker that dies loses nothing: its lease runs out and another worker
collects the job. Operators' verbs: ``find`` one job, list a queue's ``jobs``, ``remove`` a
waiting one (cancelling).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..coordination import Coordination, Guard, Taken


@dataclass(frozen=True)
class PushItem:
    """One job to push: its id, queue, serialised payload, delay (s) and priority."""

    id: str
    queue: str
    payload: str
    delay: float = 0.0
    priority: int = 0


@dataclass
class Reserved:
    """A job taken from a transport under a lease.

    ``attempts`` already counts this attempt. ``receipt`` identifies the job in its store and
    ``token`` this reservation: acking or releasing with a stale token (the lease expired and
    someone else took the job) does nothing.
    """

    id: str
    queue: str
    payload: str
    attempts: int
    receipt: Any
    token: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueSize:
    """How many jobs a queue holds, by state."""

    ready: int = 0
    delayed: int = 0
    reserved: int = 0

    @property
    def total(self) -> int:
        return self.ready + self.delayed + self.reserved


@dataclass(frozen=True)
class CurrentJob:
    """A job a work horse is running: its id, job class (the payload's ``"job"``) and when
    it started (epoch seconds, the worker's clock)."""

    id: str
    job_class: str
    started_at: float


@dataclass(frozen=True)
class DelayedJob:
    """A job waiting for its due time: ``due_in`` seconds from now (store clock; zero or
    less when it is due and not yet taken)."""

    id: str
    payload: str
    due_in: float


@dataclass(frozen=True)
class WorkerInfo:
    """One supervisor as the worker registry knows it.

    ``started_at`` is the worker's clock; ``last_heartbeat`` (epoch seconds) and
    ``heartbeat_age`` (seconds since) come from the store's clock and are filled in by
    :meth:`Transport.workers`, whatever the registering worker sent.
    """

    name: str
    host: str
    pid: int
    connection: str
    queues: tuple[str, ...]
    concurrency: int
    started_at: float
    jobs_processed: int = 0
    current: tuple[CurrentJob, ...] = ()
    last_heartbeat: float = 0.0
    heartbeat_age: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: lists for tuples, current jobs as dicts."""
        data = asdict(self)
        data["queues"], data["current"] = list(self.queues), list(data["current"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], **override: Any) -> WorkerInfo:
        """Rebuild from :meth:`as_dict` output; unknown keys are ignored, missing ones take
        their defaults (entries written by another version stay readable)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in {**data, **override}.items() if key in known}
        values["queues"] = tuple(values.get("queues") or ())
        values["current"] = tuple(
            CurrentJob(str(job.get("id", "")), str(job.get("job_class", "")),
                       float(job.get("started_at") or 0.0))
            for job in values.get("current") or () if isinstance(job, dict)
        )
        return cls(**values)


#: Where a job stands in its store: taken by a worker (``running``; ``prefetched``: held
#: ahead of its work horses, not started yet) or waiting (``queued``: ready now;
#: ``delayed``: due later), the order in which :meth:`Transport.jobs` lists them.
JOB_STATES = ("running", "prefetched", "queued", "delayed")


@dataclass(frozen=True)
class FoundJob:
    """A job as its store holds it now: its ``state`` (one of :data:`JOB_STATES`) and, when
    delayed, ``due_in`` seconds from now (store clock; ``None`` in the other states)."""

    id: str
    queue: str
    payload: str
    state: str
    due_in: float | None = None

    @property
    def waiting(self) -> bool:
        """No worker holds it: :meth:`Transport.remove` can take it out."""
        return self.state in ("queued", "delayed")


T = TypeVar("T")


def check_guard_scope(item: PushItem, guards: Sequence[Guard]) -> None:
    """Refuse guards of a guarded push that are not scoped by the job's queue."""
    if not guards:
        raise ValueError("a guarded push needs a guard")
    for guard in guards:
        if guard.scope != item.queue:
            raise ValueError(
                f"a guard that joins a push is scoped by the job's queue ({item.queue!r}),"
                f" not {guard.scope!r}")


#: Called with the jobs an exchange reserved, before they are handed out: see
#: :meth:`Transport.exchange`.
Admit = Callable[[list["Reserved"]], None]


def admitted(transport: Transport, jobs: list[Reserved], admit: Admit | None) -> list[Reserved]:
    """Run ``admit`` on jobs a store reserved outside any transaction; if it raises, the
    jobs go back to their queues uncharged (best effort: else their leases run out)."""
    if admit is None or not jobs:
        return jobs
    try:
        admit(jobs)
    except Exception:
        for job in jobs:
            try:
                transport.release(job, 0, undo_attempt=True)
            except Exception:  # the store is down: the leases run out, they are collected
                break
        raise
    return jobs


def fill_from_queues(
    queues: Sequence[str], run: int, prefetch: int, take: Callable[[str, int, int], list[T]]
) -> list[T]:
    """Ask ``queues`` in order of preference for ``run + prefetch`` jobs in all.

    ``take(queue, wanted, run_now)`` takes up to ``wanted`` jobs of one queue, the first
    ``run_now`` of them to start at once (the ``run`` still missing from earlier queues).
    """
    taken: list[T] = []
    for queue in queues:
        wanted = run + prefetch - len(taken)
        if wanted <= 0:
            break
        taken += take(queue, wanted, max(run - len(taken), 0))
    return taken


class Transport(ABC):
    """Base class of transports. Subclasses are chosen by dotted path in ``CONNECTIONS``."""

    #: Workers may run jobs in other processes (False for the in-process memory transport).
    shareable_between_processes: bool = True
    #: ``wait()`` blocks in the store and returns as soon as a job is pushed.
    blocking_wait: bool = False
    #: The longest single ``wait()`` an idle worker makes (``None``: its whole ``SLEEP``);
    #: a wait that cannot be cut short by a signal or a heartbeat keeps it short.
    longest_wait: float | None = 0.5
    #: Seconds an idle worker waits between polls when the transport cannot wake it up.
    poll_interval: float = 1.0
    #: Seconds between a worker's calls of :meth:`requeue_expired`: with the prefetch's
    #: one-second lease, how soon a dead worker's prefetched jobs run elsewhere.
    requeue_every: float = 0.5
    #: ``oldest_ready_age()`` answers (the default returns ``None``: "not known").
    reports_oldest_age: bool = False
    #: ``register_worker()`` stores entries that ``workers()`` lists (the defaults keep and
    #: list nothing).
    keeps_worker_registry: bool = False
    #: ``find()``, ``jobs()`` and ``remove()`` work: jobs can be looked up and cancelled
    #: (the defaults raise ``NotImplementedError``).
    finds_jobs: bool = False

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.options = options

    @abstractmethod
    def push_many(self, items: Sequence[PushItem]) -> None:
        """Store jobs, ready now or after their delay, in as few round trips as possible."""

    def push(self, item: PushItem) -> None:
        """Store one job."""
        self.push_many([item])

    def reserve(
        self, queues: Sequence[str], count: int, lease: float, token: str
    ) -> list[Reserved]:
        """Take up to ``count`` ready jobs (queues in order of preference) under a lease, to
        run now (they are marked started)."""
        return fill_from_queues(
            queues, count, 0, lambda queue, wanted, _: self.reserve_from(queue, wanted, lease,
                                                                         token)
        )

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
        """Settle a batch and take the next, in one round trip where the store allows.

        Removes ``acks`` (finished jobs), marks ``started`` (prefetched jobs that began
        running; their lease becomes ``lease``), then reserves up to ``run + prefetch``
        jobs: the first ``run`` are marked started, under ``lease``; the rest are
        prefetched, under ``prefetch_lease`` (``lease`` when None). If it raises, the
        caller keeps ``acks`` and ``started`` and sends them again (both are idempotent).

        ``admit(jobs)`` is called with the jobs reserved (a worker takes their permits and
        puts back those that must wait): inside the same transaction on a database, so
        one commit does it all, and called again if the transaction is retried; elsewhere
        after the reservation. If it raises, no job of the batch stays reserved.
        """
        self.ack_many(acks)
        self.mark_started(started, lease)
        return admitted(self, fill_from_queues(
            queues, run, prefetch,
            lambda queue, wanted, now: self.reserve_from(
                queue, wanted, lease, token, run=now, prefetch_lease=prefetch_lease),
        ), admit)

    @property
    def coordination(self) -> Coordination:
        """The coordination primitives of this transport's store (locks, values); see
        :mod:`django_jobqueue.coordination`. Unique jobs and schedules need them."""
        raise NotImplementedError(f"{type(self).__name__} has no coordination primitives")

    def push_guarded(self, item: PushItem, *guards: Guard) -> Taken:
        """Push ``item`` only if every guard is granted, in one atomic step: the locks are
        taken (the values advanced) and the job queued, or nothing changes; a refusal says
        which guard refused (``Taken.refused_by``). Each guard's scope must be the job's
        queue (on Redis Cluster they live in the queue's slot). Inside the caller's
        transaction on the transport's own database, all of it joins that."""
        raise NotImplementedError(f"{type(self).__name__} cannot push behind a guard")

    @abstractmethod
    def reserve_from(
        self, queue: str, count: int, lease: float, token: str, run: int | None = None,
        *, prefetch_lease: float | None = None,
    ) -> list[Reserved]:
        """Take up to ``count`` ready jobs of one queue; each reserve counts an attempt.

        The first ``run`` jobs (all when ``None``) are marked started and leased for
        ``lease`` seconds; the others for ``prefetch_lease`` (``lease`` when None). A job
        whose lease expires before it is marked started goes back to the queue, first in
        line, with that attempt taken back (see :meth:`requeue_expired`): a worker that dies
        with prefetched jobs costs them nothing but a delay.
        """

    def mark_started(  # noqa: B027 -- optional
        self, jobs: Sequence[Reserved], lease: float | None = None
    ) -> None:
        """Mark prefetched jobs as running, leased for ``lease`` seconds from now when
        given (stores without marks treat every job as running)."""

    def requeue_expired(self, queues: Sequence[str]) -> int:
        """Put back, first in line and with their attempt taken back, jobs of ``queues``
        whose lease expired before they were marked started: what a dead worker held
        ahead of its horses. Returns how many. Cheap enough to call every half second;
        :meth:`collect` does it too. The default relies on ``collect`` alone."""
        return 0

    @abstractmethod
    def renew(self, jobs: Sequence[Reserved], lease: float) -> list[Reserved]:
        """Extend leases; return the jobs whose lease was lost (someone else took them)."""

    @abstractmethod
    def ack(self, job: Reserved) -> bool:
        """Remove a job whose outcome is recorded. False if the reservation was stale."""

    def ack_many(self, jobs: Sequence[Reserved]) -> None:
        """Remove several finished jobs (transports batch this where they can)."""
        for job in jobs:
            self.ack(job)

    @abstractmethod
    def release(
        self,
        job: Reserved,
        delay: float,
        payload: str | None = None,
        undo_attempt: bool = False,
    ) -> bool:
        """Put a job back, ready after ``delay`` seconds, optionally with a new payload.

        ``undo_attempt`` takes back the attempt counted at reserve (a worker shutting down
        hands back a job it interrupted: that run should not count against ``max_tries``).
        """

    def collect(
        self, queues: Sequence[str], limit: int, lease: float, token: str
    ) -> list[Reserved]:
        """Take jobs whose lease expired (their worker died) under a new lease."""
        taken: list[Reserved] = []
        for queue in queues:
            taken += self.collect_from(queue, limit, lease, token)
        return taken

    @abstractmethod
    def collect_from(self, queue: str, limit: int, lease: float, token: str) -> list[Reserved]:
        """Take over expired jobs of one queue that had started (their attempt was abandoned;
        collection counts no new attempt). Expired jobs that never started go back to the
        queue with their attempt taken back, and are not returned."""

    @abstractmethod
    def size(self, queue: str) -> QueueSize:
        """Counts of ready, delayed and reserved jobs in ``queue``."""

    def queue_names(self) -> list[str]:
        """Names of the queues that hold jobs here (ready, delayed or reserved); a transport
        may also list queues that held jobs once and are empty now. Operators' views use it
        to show queues that no job class declares. The default knows none."""
        return []

    def upcoming(self, queue: str, limit: int) -> list[DelayedJob]:
        """The delayed jobs of ``queue`` that fall due first (at most ``limit``), soonest
        first: what a worker waits for (retries in backoff). The default knows none."""
        return []

    def oldest_ready_age(self, queue: str) -> float | None:
        """Seconds (store clock) the longest-waiting ready job of ``queue`` has been ready:
        since its push, its due time or its release. ``None`` when no job is ready, or when
        the transport does not report it (``reports_oldest_age`` is False)."""
        return None

    # -- operators' verbs: looking jobs up, and taking a waiting one out ------------------
    def find(self, job_id: str, queues: Sequence[str]) -> FoundJob | None:
        """Job ``job_id`` as the store holds it now, looked for in ``queues`` (a store that
        finds a job by its id alone ignores them) in one round trip per queue at most;
        ``None`` when it is in none of them (never queued there, or its outcome is in)."""
        raise NotImplementedError(f"{type(self).__name__} cannot look jobs up")

    def jobs(self, queue: str, limit: int, offset: int = 0) -> list[FoundJob]:
        """A page of ``queue``'s jobs, ``offset`` skipped, in the order of
        :data:`JOB_STATES` (the taken ones, running or prefetched, first), then the ready
        ones in the order workers take them, then the delayed ones by due time."""
        raise NotImplementedError(f"{type(self).__name__} cannot list jobs")

    def remove(self, job_id: str, queue: str) -> str | None:
        """Take job ``job_id`` out of ``queue`` if it is waiting (ready or delayed) and return
        its payload, in one atomic step; ``None`` when it is not there or a worker holds it
        (reserved, started or not: that worker ends it, see :mod:`django_jobqueue.flow`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot remove jobs")

    # -- worker registry: one entry per live supervisor of this connection ----------------
    def register_worker(self, info: WorkerInfo, ttl: float) -> None:  # noqa: B027 -- optional
        """Create or replace ``info.name``'s entry; it counts as dead ``ttl`` seconds (store
        clock) after this call unless registered again. Stamps ``last_heartbeat``."""

    def unregister_worker(self, name: str) -> None:  # noqa: B027 -- optional
        """Remove a worker's entry (a clean exit); unknown names are ignored."""

    def workers(self) -> list[WorkerInfo]:
        """Live entries of this connection (expired ones left out), sorted by name."""
        return []

    def prune_workers(self) -> int:
        """Delete expired entries (workers that died without unregistering); how many."""
        return 0

    @abstractmethod
    def clear(self, queue: str) -> int:
        """Delete every job in ``queue``; return how many (for tests and operators)."""

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Block up to ``timeout`` seconds or until a job may be ready (default: sleep)."""
        import time

        time.sleep(timeout)

    def uses_database(self, alias: str) -> bool:
        """True if pushes can join a transaction on database ``alias``."""
        return False

    def check(self) -> list[Any]:
        """System-check messages about this transport's configuration."""
        return []

    def close(self) -> None:  # noqa: B027 -- optional hook, most transports hold nothing
        """Release connections held by this transport."""
