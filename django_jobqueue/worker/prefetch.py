"""The jobs a supervisor holds ahead of its horses, and the start marks it owes for them.

Jobs held ahead (prefetched) are reserved but not started: a horse that frees up takes one
at once. They are leased for ``PREFETCH_LEASE`` seconds only, renewed every
``RENEW_AHEAD``, so that if the worker dies the store puts them back (first in line, no
attempt counted) within about a second (``Transport.requeue_expired``, which
every worker calls every ``Transport.requeue_every``), instead of waiting out the long lease
of a running job. A job goes to a horse only while its lease is known to be held for a while
yet (``HAND_OUT_WITHIN`` of its last confirmation): a supervisor that stalled renews before
it hands out, so a job whose lease lapsed and went to another worker never runs twice.
So that a worker busy with long jobs does not sit on work others could do, jobs held
longer than ``PREFETCH_HOLD`` seconds are handed back and prefetching pauses until a horse
frees up.

A prefetched job that begins running is owed a start mark; marks ride along with the next
reservation (``Transport.exchange``), like acks (see ``outcomes``). A supervisor killed
before its marks reach the store leaves those jobs unmarked: they then run again without
that attempt counted, which at-least-once delivery allows.
"""

from __future__ import annotations

from collections import deque

from ..transports import Reserved
from .claim import Claim

# Seconds a prefetched job is leased for, until it is marked started (then it has LEASE).
PREFETCH_LEASE = 0.75
# Seconds between renewals of the prefetched jobs' leases.
RENEW_AHEAD = 0.2
# A prefetched job is handed to a horse only this long after its lease was last confirmed;
# the rest of PREFETCH_LEASE (0.3 s) is for its start mark to reach the store.
HAND_OUT_WITHIN = 0.45


def fresh(claim: Claim, now: float) -> bool:
    """True while ``claim``'s prefetch lease is surely held long enough to start it."""
    return now < claim.leased_at + HAND_OUT_WITHIN


class Prefetch:
    """Prefetched jobs and owed start marks of one supervisor."""

    def __init__(self, target: int, hold: float) -> None:
        self.target = max(target, 0)
        self.hold = hold
        self.marks: list[Reserved] = []
        self.marks_since: float | None = None
        self.ahead: deque[tuple[float, Claim]] = deque()
        self.paused = False

    @property
    def empty(self) -> bool:
        return not (self.marks or self.ahead)

    def claims(self) -> list[Claim]:
        """The jobs held ahead, under their short leases."""
        return [claim for _, claim in self.ahead]

    def drop(self, lost: list[Reserved]) -> None:
        """Forget held jobs whose lease was lost (another worker has them)."""
        self.ahead = deque(entry for entry in self.ahead if entry[1].reserved not in lost)

    def next_ahead(self, now: float) -> Claim | None:
        """A prefetched job for a free horse (to be marked started), if one is held."""
        claim = self.take_ahead_one(now)
        if claim is not None:
            self.mark(claim, now)
        return claim

    def take_ahead_one(self, now: float) -> Claim | None:
        """A prefetched job to queue in a busy horse (marked when it begins), if one is
        held whose lease is :func:`fresh`; the next renewal makes the others so."""
        if not self.ahead or not fresh(self.ahead[0][1], now):
            return None
        return self.ahead.popleft()[1]

    def mark(self, claim: Claim, now: float) -> None:
        """``claim`` began running: owe the store its start mark."""
        if self.marks_since is None:
            self.marks_since = now
        self.marks.append(claim.reserved)

    def unmark(self, claim: Claim) -> None:
        """Drop an owed start mark (the job is handed back instead)."""
        if claim.reserved in self.marks:
            self.marks.remove(claim.reserved)

    def marks_sent(self) -> None:
        """The store has the marks."""
        self.marks.clear()
        self.marks_since = None

    def put_back(self, claims: list[Claim], now: float) -> None:
        """Jobs a horse will not run after all go first in line again (but for those whose
        lease was lost)."""
        self.ahead.extendleft((now, claim) for claim in reversed(claims) if not claim.lost)

    def keep_ahead(self, claims: list[Claim], now: float) -> None:
        self.ahead.extend((now, claim) for claim in claims)

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

    def take_ahead(self) -> list[Claim]:
        """Every prefetched job (to hand back to the store)."""
        claims = [claim for _, claim in self.ahead]
        self.ahead.clear()
        return claims
