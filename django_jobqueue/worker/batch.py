"""Acks and start marks a supervisor owes its store, and the jobs it holds ahead of horses.

Finished jobs wait here to be acked and prefetched jobs that began running wait to be marked
started; both ride along with the next reservation (``Transport.exchange``), so a busy worker
makes one round trip per batch, and that round trip overlaps the horses' work instead of
standing between two jobs. What no reservation carries is sent after ``SETTLE_DELAY``: the
jobs' leases are held meanwhile, so the delay costs nothing but a late delete. A supervisor
killed within that delay of starting a prefetched job leaves it unmarked: the job then runs
again without that attempt counted, which at-least-once delivery allows.

Jobs held ahead (prefetched) are reserved but not started: a horse that frees up takes one at
once. If the worker dies, their leases expire and the store puts them back without counting
an attempt. So that a worker busy with long jobs does not sit on work others could do,
jobs held longer than ``PREFETCH_HOLD`` seconds are handed back and prefetching pauses until
a horse frees up.
"""

from __future__ import annotations

from collections import deque

from ..transports import Reserved

SETTLE_DELAY = 0.05


class Batch:
    """Acks, start marks and prefetched jobs of one supervisor."""

    def __init__(self, target: int, hold: float) -> None:
        self.target = max(target, 0)
        self.hold = hold
        self.acks: list[Reserved] = []
        self.unmarked: list[Reserved] = []
        self.ahead: deque[tuple[float, Reserved]] = deque()
        self.paused = False
        self.owed_since: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.acks or self.unmarked or self.ahead)

    def held(self) -> list[Reserved]:
        """Jobs whose leases the heartbeat must renew (beside the running ones)."""
        return [*self.acks, *(job for _, job in self.ahead)]

    def ack(self, job: Reserved, now: float) -> None:
        self._owe(now)
        self.acks.append(job)

    def next_ahead(self, now: float) -> Reserved | None:
        """A prefetched job for a free horse (to be marked started), if one is held."""
        job = self.take_ahead_one()
        if job is not None:
            self.mark(job, now)
        return job

    def take_ahead_one(self) -> Reserved | None:
        """A prefetched job to queue in a busy horse; it is marked when it begins."""
        return self.ahead.popleft()[1] if self.ahead else None

    def mark(self, job: Reserved, now: float) -> None:
        """``job`` began running: owe the store its start mark."""
        self._owe(now)
        self.unmarked.append(job)

    def put_back(self, jobs: list[Reserved], now: float) -> None:
        """Jobs a horse will not run after all go first in line again."""
        self.ahead.extendleft((now, job) for job in reversed(jobs))

    def unmark(self, job: Reserved) -> None:
        """Drop an owed start mark (the job is handed back instead)."""
        if job in self.unmarked:
            self.unmarked.remove(job)

    def _owe(self, now: float) -> None:
        if self.owed_since is None:
            self.owed_since = now

    def settle_at(self) -> float | None:
        """When owed acks and marks must go out even if no reservation carries them."""
        return None if self.owed_since is None else self.owed_since + SETTLE_DELAY

    def keep_ahead(self, jobs: list[Reserved], now: float) -> None:
        self.ahead.extend((now, job) for job in jobs)

    def wanted(self, run: int, queue_empty: bool, room: int, in_horses: int = 0) -> int:
        """How many jobs to prefetch beside ``run`` jobs reserved for free horses, with
        ``in_horses`` prefetched jobs already queued in busy horses.

        A refill waits until half the target is used, so round trips carry several jobs;
        while the queue looked empty, only a free horse's request reserves anything.
        """
        if self.target == 0 or self.paused:
            return 0
        held = len(self.ahead) + in_horses
        if run == 0 and (queue_empty or held > self.target // 2):
            return 0
        return max(min(self.target - held, room), 0)

    def stale_at(self) -> float | None:
        """When the oldest prefetched job will have waited ``hold`` seconds."""
        return self.ahead[0][0] + self.hold if self.ahead else None

    def stale(self, now: float) -> bool:
        """True if the oldest prefetched job has waited longer than ``hold``."""
        at = self.stale_at()
        return at is not None and now >= at

    def take_ahead(self) -> list[Reserved]:
        """Every prefetched job (to hand back to the store)."""
        jobs = [job for _, job in self.ahead]
        self.ahead.clear()
        return jobs

    def sent(self) -> None:
        """The store has the acks and marks."""
        self.acks.clear()
        self.unmarked.clear()
        self.owed_since = None
