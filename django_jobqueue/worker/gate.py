"""What a supervisor checks before a reserved job may start, and what it watches while jobs
run: paused queues, cancel requests, expiry, concurrency and rate limits.

Every check is the store's, never this process's: a pause or a cancel request is a value in
the connection's coordination store, read for all queues and jobs at once twice a second
(:data:`POLL_EVERY`); a limit is a permit the store grants
(:meth:`~django_jobqueue.coordination.Coordination.admit`) to the batch just reserved, in
one round trip. A job that may not start yet goes back to its queue, delayed, with its
attempt taken back: it holds up nothing behind it. A job that must not run at all (expired,
cancelled before it started) is settled like a failure the supervisor decided, under
:class:`~django_jobqueue.exceptions.JobExpired` or
:class:`~django_jobqueue.exceptions.JobCancelled`: kept in the failed-job store, not failed.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..conf import jobqueue_settings
from ..coordination import Permit
from ..exceptions import ConfigurationError, TransportError
from ..flow.limits import concurrency_name, expired, expiry_message, parse_rate, rate_name
from ..flow.names import FLOW_SCOPE, cancel_name, paused_name
from ..jobs import Job, resolve
from ..logutil import log_event
from ..transports import Transport
from ..workflows.marks import batch_of
from ..workflows.marks import cancel_name as batch_cancel_name
from .admission import Admission, Plan
from .claim import Claim
from .outcomes import Ended, Outcomes, Owed
from .slots import RUNNING, Slot

logger = logging.getLogger("django_jobqueue.worker")

#: Seconds between reads of the pause flags and of the held jobs' cancel requests: a
#: cancelled job that ignores its request ends within ``CANCEL_GRACE`` plus this and a turn.
POLL_EVERY = 0.5
#: A job refused a concurrency permit waits this long, times its refusals so far (with
#: jitter), at most :data:`WAIT_LONGEST`: a slot frees when some job ends, which no store
#: announces, so waiting jobs look again, less often the longer the limit stays full.
WAIT_STEP = 0.25
WAIT_LONGEST = 5.0
#: Seconds a rate permit outlives its period. The store dates a permit when the worker takes
#: it; the job starts a few milliseconds later, a little later for some jobs than for
#: others, so starts counted by their own clock could crowd one window with a job more.
RATE_MARGIN = 0.05
#: Seconds finished jobs' permits wait for the next admission to carry them back (one
#: round trip for both) before they go back alone: as acks wait for a reservation.
GIVE_BACK_WITHIN = 0.015


class Gate:
    """Flow control for one supervisor of ``transport`` named ``worker``."""

    def __init__(self, transport: Transport, worker: str, outcomes: Outcomes) -> None:
        self.transport, self.worker, self.outcomes = transport, worker, outcomes
        self.paused: set[str] = set()
        # Cancel requests seen for jobs this worker holds: job id -> who asked.
        self.cancels: dict[str, str] = {}
        # Batches whose rest was cancelled, seen by this worker: batch id -> who asked.
        # Kept for the worker's life: their children it takes later never start.
        self.cancelled_batches: dict[str, str] = {}
        # Concurrency permits held, by job id: given back when the job ends.
        self.held: dict[str, list[tuple[str, str]]] = {}
        self.to_give_back: list[tuple[str, str]] = []
        self.give_back_since: float | None = None  # monotonic: the oldest owed permit
        self.next_poll = 0.0
        self.poll_failing = False
        self._classes: dict[str, type[Job] | None] = {}

    # -- pauses and cancel requests ------------------------------------------------------------
    def active(self, queues: Sequence[str]) -> list[str]:
        """``queues`` without the paused ones, in order."""
        return [queue for queue in queues if queue not in self.paused]

    def poll_due(self, now: float) -> bool:
        """Whether :meth:`poll` would read the store at ``now``."""
        return now >= self.next_poll

    def poll(self, queues: Sequence[str], held: Sequence[str], now: float,
             batches: Mapping[str, str] | None = None) -> set[str]:
        """Once every :data:`POLL_EVERY` s, read which of ``queues`` are paused and which of
        the ``held`` jobs were cancelled, by their own request or their batch's
        (``batches``: job id -> batch id), in one round trip; returns the queues newly
        paused."""
        if not self.poll_due(now):
            return set()
        self.next_poll = now + POLL_EVERY
        batches = batches or {}
        names = [paused_name(queue) for queue in queues]
        names += [cancel_name(job_id) for job_id in held if job_id not in self.cancels]
        names += [batch_cancel_name(one) for one in sorted(set(batches.values()))
                  if one not in self.cancelled_batches]
        try:
            found = self.transport.coordination.read(FLOW_SCOPE, names)
        except NotImplementedError:
            return set()
        except TransportError as exc:
            # What was last seen stands: a read that fails must not stop the work (the
            # steps that need the store say so themselves).
            if not self.poll_failing:
                log_event(logger, logging.WARNING, "flow_poll_failed", error=exc)
            self.poll_failing = True
            return set()
        self.poll_failing = False
        paused = {queue for queue in queues if paused_name(queue) in found}
        newly, resumed = paused - self.paused, self.paused - paused
        for queue in sorted(newly):
            log_event(logger, logging.INFO, "queue_paused_seen", queue=queue,
                      worker=self.worker)
        for queue in sorted(resumed):
            log_event(logger, logging.INFO, "queue_resumed_seen", queue=queue,
                      worker=self.worker)
        self.paused = paused
        for batch_id in set(batches.values()):
            request = found.get(batch_cancel_name(batch_id))
            if request is not None:
                self.cancelled_batches[batch_id] = _who(request)
        for job_id in held:
            request = found.get(cancel_name(job_id))
            if request is not None and job_id not in self.cancels:
                self.cancels[job_id] = _who(request)
            elif batches.get(job_id) in self.cancelled_batches and job_id not in self.cancels:
                self.cancels[job_id] = self.cancelled_batches[batches[job_id]]
        return newly

    def cancelled(self, job_id: str, document: Any = None) -> bool:
        """Whether job ``job_id`` was cancelled: by its own request, or (given its payload
        ``document``) by its batch's, once this worker has seen the batch's."""
        if job_id in self.cancels:
            return True
        mark = batch_of(document) if self.cancelled_batches and document is not None else None
        if mark is not None and mark.id in self.cancelled_batches:
            self.cancels[job_id] = self.cancelled_batches[mark.id]
            return True
        return False

    def end_cancelled(self, claim: Claim) -> None:
        """A held job that had not started: kept as cancelled, never run."""
        by = self.cancels.get(claim.id, "")
        log_event(logger, logging.INFO, "job_cancel_seen", id=claim.id, queue=claim.queue,
                  running=False, by=by)
        self._end(claim, "JobCancelled", f"cancelled{_by(by)} before it started")
        self.ended(claim.id)

    def stop_cancelled(self, slots: Sequence[Slot], now: float) -> None:
        """Tell the horses running cancelled jobs (their ``cancel_requested`` turns True),
        and kill those still running ``CANCEL_GRACE`` seconds later."""
        grace = float(jobqueue_settings.CANCEL_GRACE)
        for slot in slots:
            job = slot.job
            if job is None or slot.phase != RUNNING or job.id not in self.cancels:
                continue
            if slot.cancel_at is None and slot.horse is not None:
                slot.horse.cancel.set(job.id)
                slot.cancel_at = now + grace
                log_event(logger, logging.INFO, "job_cancel_seen", id=job.id, queue=job.queue,
                          running=True, grace=grace, by=self.cancels[job.id])
            elif slot.cancel_at is not None and now >= slot.cancel_at and not slot.kill_reason:
                slot.kill(("JobCancelled", f"cancelled{_by(self.cancels[job.id])} while it"
                           f" ran; it did not stop within {grace:g}s: work horse killed"))

    # -- admission ---------------------------------------------------------------------------
    def admission(self, default_timeout: float, run: int) -> Admission:
        """The way in of the batch an exchange reserves, the first ``run`` jobs to start
        now (see :class:`~.admission.Admission`)."""
        return Admission(self, default_timeout, run)

    def admit_one(self, claim: Claim) -> str:
        """A rate-limited job held ahead, about to start: ``"run"`` once its permits are
        granted, ``"wait"`` when it went back to its queue to wait for one, ``"ended"``
        when it expired or was cancelled meanwhile (its end is owed to the store)."""
        claim.admit_at_start = False
        plan = self.plan([claim], {claim.id})
        try:
            self.take(plan)
        except TransportError:
            self.hand_back([claim])
            raise
        runnable, ended = self.apply(plan)
        return "run" if runnable else "ended" if ended else "wait"

    def plan(self, claims: list[Claim], starting: set[str]) -> Plan:
        """Sort ``claims`` (nothing asked of the store, nothing changed here): to end
        (expired, cancelled), to admit at their start (rate-limited, held ahead), to take
        permits for now, free to run."""
        now, plan = time.time(), Plan(claims)
        for claim in claims:
            if expired(claim.document, now):
                plan.ended.append((claim, "JobExpired", expiry_message(claim.document, now)))
            elif claim.id in self.cancels:
                plan.ended.append((claim, "JobCancelled", ""))  # end_cancelled says why
            else:
                permits = self._permits(claim)
                rated = any(permit.name.startswith("rate:") for permit in permits)
                if rated and claim.id not in starting:
                    plan.deferred.append(claim)
                elif permits:
                    plan.wanted.append((claim, permits))
        return plan

    def take(self, plan: Plan) -> None:
        """The store's part of ``plan``, in one round trip (inside the exchange's
        transaction on a database, where it may run again): the permits owed back go back,
        the wanted ones are asked for, and the jobs refused go back to their queues,
        delayed, uncharged. Nothing here changes until :meth:`apply`."""
        plan.refused.clear()
        plan.given_back = 0
        if not plan.wanted:
            return
        owed = list(self.to_give_back)
        answers = self.transport.coordination.admit([permits for _, permits in plan.wanted],
                                                    owed)
        plan.given_back, plan.answers = len(owed), answers
        for (claim, permits), answer in zip(plan.wanted, answers, strict=True):
            if not answer.granted:
                refused = permits[answer.refused_by or 0]
                plan.refused[claim.id] = (refused.name, self._wait(claim, refused,
                                                                   answer.free_in))

    def apply(self, plan: Plan) -> tuple[list[Claim], list[Claim]]:
        """What ``plan`` means here once the store has it: the claims that may start, and
        those ended (settled through ``outcomes``)."""
        for claim, kind, message in plan.ended:
            if kind == "JobCancelled":
                self.end_cancelled(claim)
            else:
                self._end(claim, kind, message)
        for claim in plan.deferred:
            claim.admit_at_start = True
        self._given_back(plan.given_back)
        for (claim, permits), answer in zip(plan.wanted, plan.answers, strict=True):
            if answer.granted:
                self.held[claim.id] = [(p.name, p.holder) for p in permits if _given_back(p)]
            else:
                limit, delay = plan.refused[claim.id]
                log_event(logger, logging.DEBUG, "job_waits_for_limit", id=claim.id,
                          queue=claim.queue, limit=limit, retry_in=round(delay, 3))
        ended = {claim.id for claim, _, _ in plan.ended}
        runnable = [claim for claim in plan.claims
                    if claim.id not in ended and claim.id not in plan.refused]
        return runnable, [claim for claim, _, _ in plan.ended]

    def hand_back(self, claims: list[Claim]) -> None:
        """Put back jobs whose admission failed (the store did not answer): to be tried
        again soon, uncharged."""
        for claim in claims:
            try:
                self.transport.release(claim.reserved, WAIT_STEP, undo_attempt=True)
            except TransportError:
                return  # the store is down: their leases expire and they are collected

    def _permits(self, claim: Claim) -> list[Permit]:
        cls = self._class(claim.name)
        if cls is None or (cls.concurrency_limit is None and cls.rate_limit is None):
            return []
        keys = claim.document.get("limits") if isinstance(claim.document, dict) else None
        keys = keys if isinstance(keys, dict) else {}
        permits = []
        if cls.concurrency_limit is not None:
            key = str(keys.get("concurrency") or cls.name)
            # Held by this reservation, not by the job: a retry, or the job handed back,
            # may run elsewhere before this worker gives its permit back, and that
            # give-back must not end the other run's.
            permits.append(Permit(FLOW_SCOPE, concurrency_name(key), _holder(claim),
                                  int(cls.concurrency_limit), float(jobqueue_settings.LEASE)))
        if cls.rate_limit is not None:
            rate = parse_rate(cls.rate_limit)
            key = str(keys.get("rate") or cls.name)
            # Each start is a permit of its own, held for the window and never given back:
            # a retry, or a run again after its worker died, is another start.
            permits.append(Permit(FLOW_SCOPE, rate_name(key), _holder(claim),
                                  rate.count, rate.period + RATE_MARGIN))
        return permits

    def _class(self, name: str) -> type[Job] | None:
        if name not in self._classes:
            try:
                cls = resolve(name)
                if cls.rate_limit is not None:
                    parse_rate(cls.rate_limit)
            except (LookupError, ValueError, ConfigurationError):
                cls = None  # the horse reports an unknown class; a bad rate is E029
            self._classes[name] = cls
        return self._classes[name]

    def _wait(self, claim: Claim, refused: Permit, free_in: float | None) -> float:
        """Put a job refused a permit back in its queue, to try again when a permit may be
        free (a rate's when its oldest start leaves the window); returns the delay."""
        waits = _waits(claim) + 1
        if refused.name.startswith("rate:") and free_in is not None:
            delay = free_in + random.uniform(0, 0.05)
        else:
            delay = min(WAIT_STEP * waits, WAIT_LONGEST) * random.uniform(0.8, 1.2)
        # A lost lease needs nothing more: the job is another worker's now.
        self.transport.release(claim.reserved, delay, _with_waits(claim, waits),
                               undo_attempt=True)
        return delay

    # -- the end of a job ----------------------------------------------------------------------
    def ended(self, job_id: str) -> None:
        """The job ended (or went back to its queue): its permits are given back with the
        next admission, or by :meth:`give_back`."""
        self.cancels.pop(job_id, None)
        permits = self.held.pop(job_id, ())
        if permits:
            self.to_give_back += permits
            if self.give_back_since is None:
                self.give_back_since = time.monotonic()

    def give_back_at(self) -> float | None:
        """When owed permits go back alone if no admission carried them."""
        since = self.give_back_since
        return None if since is None else since + GIVE_BACK_WITHIN

    def give_back(self, force: bool = False) -> None:
        """Give back the permits of jobs that ended once due (one round trip); a store that
        does not answer keeps them owed, and they expire by themselves meanwhile."""
        due = self.give_back_at()
        if due is None or not (force or time.monotonic() >= due):
            return
        owed = self.to_give_back
        self.transport.coordination.give_back(FLOW_SCOPE, owed)
        self._given_back(len(owed))

    def _given_back(self, count: int) -> None:
        """The store has the first ``count`` owed permits back."""
        del self.to_give_back[:count]
        if not self.to_give_back:
            self.give_back_since = None

    def renew(self) -> None:
        """Extend the permits of running jobs with their leases (the heartbeat's turn)."""
        held = [pair for pairs in self.held.values() for pair in pairs]
        if held:
            lost = self.transport.coordination.extend(FLOW_SCOPE, held,
                                                      float(jobqueue_settings.LEASE))
            for job_id, pairs in list(self.held.items()):
                for name, _ in set(pairs) & set(lost):
                    log_event(logger, logging.WARNING, "permit_lost", id=job_id, limit=name)
                # Once: the job runs on without it (it cannot be taken back mid-run).
                self.held[job_id] = [pair for pair in pairs if pair not in lost]

    def _end(self, claim: Claim, kind: str, message: str) -> None:
        self.outcomes.add(Owed.ended_by(claim, Ended(kind, message, ran=False), self.worker))


def _holder(claim: Claim) -> str:
    """Who holds a concurrency permit: the job's reservation (a token is unique to one
    worker's one reservation)."""
    return f"{claim.id}:{claim.reserved.token}"


def _given_back(permit: Permit) -> bool:
    return permit.name.startswith("concurrency:")


def _waits(claim: Claim) -> int:
    waits = claim.document.get("limit_waits") if isinstance(claim.document, dict) else None
    return waits if isinstance(waits, int) and not isinstance(waits, bool) else 0


def _with_waits(claim: Claim, waits: int) -> str | None:
    """The payload counting one more wait (None: keep it as it is, when unreadable)."""
    if not isinstance(claim.document, dict):
        return None
    claim.document["limit_waits"] = waits
    return json.dumps(claim.document, separators=(",", ":"))


def batches_of(claims: Sequence[Claim]) -> dict[str, str]:
    """Job id -> batch id, of the ``claims`` that are batch children."""
    marks = ((claim.id, batch_of(claim.document)) for claim in claims)
    return {job_id: mark.id for job_id, mark in marks if mark is not None}


def _who(request: str) -> str:
    try:
        value: Any = json.loads(request)
    except ValueError:
        return ""
    return str(value.get("by") or "") if isinstance(value, dict) else ""


def _by(who: str) -> str:
    return f" by {who}" if who else ""
