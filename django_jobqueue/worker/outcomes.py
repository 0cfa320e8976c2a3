"""Outcomes a supervisor owes its store: the one queue of what the store has not taken yet.

Every attempt that ended leaves an outcome here until the store takes it: a success to ack,
a retry to release, a failure to record (then its job removed). Successes wait to ride
along with the next reservation (``Transport.exchange``), so a busy worker makes one round
trip per batch. Retries and failures wait, oldest first, until they are due; a store that
is down makes them wait (their jobs' leases are renewed meanwhile), never drops them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import job_ends
from ..failures.record import outcome_of
from ..transports import Reserved
from ..workflows import marks as workflow_marks
from ..workflows.advance import End, advance
from .claim import Claim
from .execute import SYSTEM_EXCEPTIONS, failure_of
from .protocol import Failure

#: A batch's children that succeeded are told to its count together, as a group commit:
#: one tally call (one transaction) for many ends, not one for each exchange's few. They
#: wait at most this long (seconds) after the first of them ended, their acks with them.
COUNT_DELAY = 0.2
#: ... or until this many wait (a bound on what a worker holds and on how long one count
#: keeps the supervisor from its horses).
COUNT_AT_LEAST = 1000
#: After a try that the store did not answer, the next is this long after (seconds), not
#: at every turn of the worker's loop.
TELL_AGAIN_AFTER = 1.0


@dataclass(frozen=True)
class Ended:
    """An attempt the supervisor ended (``kind``: JobTimeout, WorkHorseKilled,
    AbandonedJobError, JobCancelled or JobExpired), and what the failure record keeps of a
    horse that died. ``ran`` is False for a job ended before it started."""

    kind: str
    message: str
    death: dict[str, Any] = field(default_factory=dict)
    ran: bool = True


@dataclass
class Owed:
    """A failed attempt the store has not taken yet: a retry to release, or a failure to
    record. ``payload`` is the job's payload with the attempt's error appended."""

    claim: Claim
    failure: Failure
    payload: str
    name: str  # the registry name, or "unknown": a metrics label
    # The horse holding the exception, which calls the failed() hook; None when the
    # supervisor ended the attempt (``ended``): any horse runs its handlers and hooks.
    horse_pid: int | None = None
    ended: Ended | None = None
    due: float = 0.0
    # Once recorded, a failure is only removed and hooked on a later try, never recorded
    # again; one whose batch failed is tried alone next, so a bad record holds no other.
    info: dict[str, Any] | None = None
    alone: bool = False

    @property
    def outcome(self) -> str:
        """``failed``, or ``cancelled`` / ``expired`` for a job kept that did not fail."""
        return outcome_of(self.failure.exception_class)

    @property
    def not_failed(self) -> bool:
        return self.outcome != "failed"

    @classmethod
    def failed(cls, claim: Claim, failure: Failure, name: str, horse_pid: int) -> Owed:
        """A failure a horse reported."""
        return cls(claim, failure, claim.with_error(failure.error), name, horse_pid)

    @classmethod
    def ended_by(cls, claim: Claim, ended: Ended, worker: str) -> Owed:
        """An attempt the supervisor ended, decided by the retry policy as a horse would."""
        exc = SYSTEM_EXCEPTIONS[ended.kind](ended.message)
        job_class = claim.job_class()
        # The label hook is job code: it gets a copy of its own, never ``claim``'s.
        body = claim.decoded() if job_class is not None else claim.body()
        failure = failure_of(exc, claim.attempts, worker, job_class, body)
        name = job_class.name if job_class is not None else "unknown"
        return cls(claim, failure, claim.with_error(failure.error), name, ended=ended)


class Outcomes:
    """Successes to ack and failed attempts to settle, of one supervisor."""

    def __init__(self) -> None:
        self.acks: list[Reserved] = []
        self.acks_since: float | None = None
        self.items: list[Owed] = []
        # Successes whose end means more than the ack (see job_ends), told once it is sent.
        self.ended: list[Claim] = []
        # Successes of workflow jobs: their workflow is told before their ack may go.
        self.advancing: list[Claim] = []
        self.advancing_since: float | None = None
        self._chain_waits = False  # a chain's next step waits for one of them
        self._tell_again_at: float | None = None  # after a try the store did not answer

    def __bool__(self) -> bool:
        return bool(self.items or self.acks or self.advancing)

    def __len__(self) -> int:
        """Failed attempts waiting (successes are cheap to hold and go in bulk)."""
        return len(self.items)

    def succeeded(self, claim: Claim, now: float) -> None:
        if workflow_marks.matters(claim.document):
            self.advancing.append(claim)
            if self.advancing_since is None:
                self.advancing_since = now
            self._chain_waits = self._chain_waits or workflow_marks.CHAIN in claim.document
            return
        if self.acks_since is None:
            self.acks_since = now
        self._ack(claim)

    def _ack(self, claim: Claim) -> None:
        self.acks.append(claim.reserved)
        if job_ends.matter(claim.document):
            self.ended.append(claim)

    def advance_at(self, at_once: bool = False) -> float | None:
        """When the workflows of the successes waiting must be told: at once for a chain
        (its next step waits), once :data:`COUNT_AT_LEAST` wait, or ``at_once`` (the
        worker has nothing else to do), else :data:`COUNT_DELAY` after the first of them
        ended; never before :data:`TELL_AGAIN_AFTER` has passed since a try the store did
        not answer. None: none waits."""
        if self.advancing_since is None:
            return None
        due = self.advancing_since
        if not (at_once or self._chain_waits or len(self.advancing) >= COUNT_AT_LEAST):
            due += COUNT_DELAY
        return max(due, self._tell_again_at or due)

    def advance_workflows(self, now: float, force: bool = False, at_once: bool = False) -> None:
        """Tell the workflows of the jobs that succeeded (a chain's next step, a batch's
        count), once due (:meth:`advance_at`) or ``force`` (the worker stops), then let
        their acks go. A store that does not answer raises, and they wait to be told
        again: never acked first, so a worker killed in between leaves them to be taken
        up and told again."""
        due = self.advance_at(at_once)
        if due is None or (now < due and not force):
            return
        claims, since = self.advancing, self.advancing_since
        self.advancing, self.advancing_since, self._chain_waits = [], None, False
        try:
            advance([End(claim.document, claim.id, "succeeded", claim.payload)
                     for claim in claims])
        except BaseException:
            self.advancing = claims + self.advancing
            self.advancing_since = since
            self._chain_waits = any(workflow_marks.CHAIN in c.document for c in claims)
            self._tell_again_at = now + TELL_AGAIN_AFTER
            raise
        self._tell_again_at = None
        if self.acks_since is None:
            self.acks_since = since
        for claim in claims:
            self._ack(claim)

    def acks_sent(self) -> None:
        """The store has the acks: a unique job's lock ends now, a scheduled job's entry
        learns it succeeded."""
        self.acks.clear()
        self.acks_since = None
        ended, self.ended = self.ended, []
        for claim in ended:
            job_ends.succeeded(claim.document, claim.id)

    def add(self, item: Owed) -> None:
        self.items.append(item)

    def take_due(self, now: float) -> list[Owed]:
        due = [item for item in self.items if item.due <= now]
        if due:
            self.items = [item for item in self.items if item.due > now]
        return due

    def next_due(self) -> float | None:
        return min((item.due for item in self.items), default=None)

    def held(self) -> list[Reserved]:
        """Jobs whose leases the heartbeat must renew until the store takes them."""
        return [*self.acks, *(claim.reserved for claim in self.advancing),
                *(item.claim.reserved for item in self.items)]


__all__ = ["Ended", "Outcomes", "Owed"]
