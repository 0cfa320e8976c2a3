"""The way into a worker of one batch of reserved jobs: which may start, which wait for a
limit, which end without running.

An :class:`Admission` is handed to :meth:`~django_jobqueue.transports.Transport.exchange`,
which calls it with the jobs it reserved: on a database inside the reservation's own
transaction, so the batch, its permits and the jobs put back to wait are one commit (and
a retried transaction calls it again, so it changes nothing in this process). Once the
exchange returns, :meth:`Admission.settle` applies what the store agreed to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..coordination import Admission as Answer
from ..coordination import Permit
from ..transports import Reserved
from .claim import Claim

if TYPE_CHECKING:
    from .gate import Gate


@dataclass
class Plan:
    """A batch sorted by :meth:`~.gate.Gate.plan`, then answered by the store."""

    claims: list[Claim]
    #: (claim, JobExpired or JobCancelled, the record's message)
    ended: list[tuple[Claim, str, str]] = field(default_factory=list)
    deferred: list[Claim] = field(default_factory=list)  # rate-limited, held ahead
    wanted: list[tuple[Claim, list[Permit]]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    #: job id -> (the permit that refused it, the delay it was put back with)
    refused: dict[str, tuple[str, float]] = field(default_factory=dict)
    given_back: int = 0  # owed permits the admission gave back


class Admission:
    """One exchange's batch, for ``gate``; the first ``run`` jobs start now."""

    def __init__(self, gate: Gate, default_timeout: float, run: int) -> None:
        self.gate, self.default_timeout, self.run = gate, default_timeout, run
        self.plan = Plan([])

    def __call__(self, jobs: list[Reserved]) -> None:
        """The store's part, while the jobs are reserved (maybe in a transaction)."""
        claims = [Claim.of(job, self.default_timeout) for job in jobs]
        self.plan = self.gate.plan(claims, {claim.id for claim in claims[:self.run]})
        if claims:
            self.gate.take(self.plan)

    @property
    def starting(self) -> set[str]:
        """The ids of the jobs the exchange marked started."""
        return {claim.id for claim in self.plan.claims[:self.run]}

    def settle(self) -> tuple[list[Claim], list[Claim]]:
        """The claims that may start (in order), and those ended without running."""
        return self.gate.apply(self.plan)
