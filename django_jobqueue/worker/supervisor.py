"""The supervisor: reserves jobs, hands them to work horses, and settles every outcome.

One loop, each turn a list of named steps: renew the prefetched jobs' short leases, assign
work, flush acks and start marks, wait and read the horses' answers, settle what they leave
owed, enforce timeouts and memory limits, heartbeat, hand back stale prefetched jobs, put
back dead workers' prefetched jobs, maintenance. Every step catches its own errors,
so a store that is down slows the worker but never stops it, and no job is dropped: a job
leaves the store only once its outcome is recorded. The supervisor holds its parts and runs
their steps: the ``Feeder`` gives horses work, the ``Reader`` reads their answers, and the
``Settler`` settles with the store the outcomes they leave in ``Outcomes``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import random
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import metrics
from ..conf import jobqueue_settings
from ..coordination.base import PRUNE_EVERY
from ..exceptions import ConfigurationError, TransportError
from ..logutil import exception_for_log, log_event
from ..schedule.firing import Scheduler
from ..transports import get_transport
from .burst import BurstWatch
from .claim import Claim
from .feeder import Feeder
from .gate import Gate, batches_of
from .handlers import build_chain, killed_handler
from .horse import Horse, HorseConfig, StopFlag, stop_horses
from .options import WorkerOptions
from .outcomes import Ended, Outcomes, Owed
from .presence import Presence
from .reader import Reader
from .settler import Settler
from .slots import IDLE, RUNNING, Slot, enforce_limits

if TYPE_CHECKING:
    from ..metrics.server import MetricsServer

logger = logging.getLogger("django_jobqueue.worker")


class Supervisor:
    """Runs jobs from one connection's queues with ``concurrency`` work horses."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options.resolved()
        self.name: str = self.options.name or ""
        self.queues = self.options.queues
        self.transport = get_transport(self.options.connection)
        if not self.transport.shareable_between_processes:
            raise ConfigurationError(
                f"connection {self.transport.name!r} keeps jobs in this process only; "
                "run them with django_jobqueue.testing.work() instead of a worker"
            )
        # Fail at start on a bad handler path, not in a horse at the first error.
        build_chain(self.options.exception_handlers, self.options.disable_default_exception_handler)
        self.slots = [Slot() for _ in range(self.options.concurrency)]
        self.stop_flag = StopFlag()
        self.stopping = self.force = False
        self.stop_deadline: float | None = None
        self.started = time.monotonic()
        self.presence = Presence(self.transport, self.name, self.queues, len(self.slots))
        self.burst_watch = BurstWatch(self.transport, self.queues, self.name,
                                      float(self.options.store_wait or 0))
        # The first heartbeat is at once: it puts this worker in the registry.
        self.next_heartbeat = self.started
        self.next_maintenance = self.started + random.uniform(0, 1)
        self.next_requeue = self.started + random.uniform(0, self.transport.requeue_every)
        self.next_coordination_prune = self.started + random.uniform(0, PRUNE_EVERY)
        self._tokens = itertools.count()
        self.metrics_server = self._start_metrics()  # first: a port in use leaks nothing
        self._wakeup_r, self._wakeup_w = os.pipe()
        self.outcomes = Outcomes()
        self.gate = Gate(self.transport, self.name, self.outcomes)
        self.feeder = Feeder(self.transport, self.options, self.slots, self.outcomes,
                             self._spawn, self.burst_watch, self.gate)
        self.settler = Settler(self.transport, self.name, self.outcomes, self.feeder.hook,
                               self.feeder.hand_back)
        self.scheduler = Scheduler(self.transport, self.name) if self.options.scheduler else None
        self.reader = Reader(self.slots, self.feeder, self.outcomes, self.name,
                             killed_handler(self.options.work_horse_killed_handler),
                             self._wakeup_r, self.metrics_server, self.gate)

    def _start_metrics(self) -> MetricsServer | None:
        port = self.options.metrics_port
        if port is None:
            return None
        # Imported here: prometheus-client (and its http.server) only loads when metrics are on.
        from ..metrics import server as metrics_server

        counts = metrics.activate(self.transport.name)
        return metrics_server.start(counts, self.queues, self.transport.name,
                                    str(jobqueue_settings.METRICS_ADDR), int(port))

    def _spawn(self) -> Horse:
        others = [s.horse.conn.fileno() for s in self.slots if s.horse is not None]
        config = HorseConfig(
            exception_handlers=self.options.exception_handlers,
            disable_default=bool(self.options.disable_default_exception_handler),
            max_jobs=int(self.options.horse_max_jobs or 0),
            max_memory_mb=float(self.options.horse_max_memory_mb or 0),
        )
        if self.metrics_server is not None:
            others.append(self.metrics_server.fileno())  # the port stays the supervisor's
        return Horse.spawn(config, [*others, self._wakeup_r, self._wakeup_w], self.stop_flag)

    # -- lifecycle -----------------------------------------------------------------------
    def run(self) -> int:
        """Work until stopped (signal, ``--burst``, ``--max-jobs``, ``--max-time``)."""
        self._install_signals()
        log_event(logger, logging.INFO, "worker_started", worker=self.name,
                  connection=self.transport.name, queues=self.queues,
                  concurrency=len(self.slots), pid=os.getpid())
        try:
            while not self._finished():
                self._turn()
        finally:
            self._shutdown()
        log_event(logger, logging.INFO, "worker_stopped", worker=self.name,
                  jobs=self.feeder.jobs_started)
        return 0

    def _install_signals(self) -> None:
        os.set_blocking(self._wakeup_w, False)
        os.set_blocking(self._wakeup_r, False)
        signal.set_wakeup_fd(self._wakeup_w)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only flags here: the loop logs and acts (logging in a handler can deadlock).
        if self.stopping:
            self.force = True
        else:
            self._begin_stop(time.monotonic())

    def _begin_stop(self, now: float, skip_queued: bool = True) -> None:
        self.stopping = True
        self.stop_deadline = now + float(self.options.shutdown_timeout or 0)
        if skip_queued:
            self.stop_flag.set()  # horses skip the jobs queued for them

    def _turn(self) -> None:
        for step in (
            self._renew_prefetched,
            self._flow_control,
            self._assign_work,
            self._flush,
            self._wait_and_read,
            self._settle,
            self._enforce_limits,
            self._heartbeat,
            self._hand_back_stale_prefetch,
            self._requeue_expired,
            self._maintenance,
            self._schedule,
        ):
            try:
                step()
            except TransportError as exc:
                log_event(logger, logging.WARNING, "store_unavailable", step=step.__name__,
                          error=exc)
                now = time.monotonic()
                self.feeder.back_off(now)
                self.burst_watch.store_failed(now, exc)
            except Exception as error:
                log_event(logger, logging.ERROR, "worker_step_failed", step=step.__name__,
                          error=type(error).__name__, traceback=exception_for_log(error))
                self.feeder.back_off(time.monotonic())

    def _finished(self) -> bool:
        now = time.monotonic()
        if self.force:
            return True
        if self.stopping and self.stop_deadline is not None and now >= self.stop_deadline:
            log_event(logger, logging.WARNING, "shutdown_timeout_reached", worker=self.name)
            self.force = True
            return True
        limits, started = self.options, self.feeder.jobs_started
        if not self.stopping:
            if limits.max_jobs is not None and started >= limits.max_jobs:
                # Never more than max_jobs were handed out: let the queued ones run too.
                self._begin_stop(now, skip_queued=False)
            elif limits.max_time is not None and now - self.started >= limits.max_time:
                self._begin_stop(now)
        idle = self._all_idle()
        if self.stopping:
            return idle
        return self.options.burst and self._burst_done(now, idle)

    def _burst_done(self, now: float, idle: bool) -> bool:
        """Nothing is left for a burst worker: nothing running, ready or delayed. Raises
        ``StoreGaveUp`` once the store has not answered for ``store_wait``."""
        watch = self.burst_watch
        watch.check_store(now)
        if not (idle and self.feeder.queue_empty):
            return False
        try:
            if self._queues_drained():
                return True
            watch.report_waiting(now, self.feeder.jobs_started)
        except TransportError as exc:
            watch.store_failed(now, exc)
        return False

    def _all_idle(self) -> bool:
        busy = any(slot.phase != IDLE for slot in self.slots)
        return not (busy or self.outcomes) and self.feeder.idle

    def _queues_drained(self) -> bool:
        # Burst mode waits for delayed jobs (retries in backoff) too; reserved jobs of
        # other workers are theirs to finish.
        sizes = [self.transport.size(queue) for queue in self.gate.active(self.queues)]
        self.burst_watch.store_answered()
        return all(size.ready == 0 and size.delayed == 0 for size in sizes)

    # -- steps -----------------------------------------------------------------------------
    def _renew_prefetched(self) -> None:
        # Before handing work out: after a stall, what is held is confirmed first.
        self.feeder.renew_unstarted()

    def _flow_control(self) -> None:
        """Read pauses and cancel requests (about once a second), stop cancelled jobs, and
        kill those that outlive their grace."""
        now = time.monotonic()
        if self.gate.poll_due(now):  # the held jobs are listed only for a read
            claims = [claim for slot in self.slots for claim in slot.jobs()]
            claims += self.feeder.prefetch.claims()
            held = [claim.id for claim in claims]
            if self.gate.poll(self.queues, held, now, batches=batches_of(claims)):
                self.feeder.hand_back_prefetched()  # a queue paused: none kept
        self.feeder.end_cancelled_ahead()
        self.gate.stop_cancelled(self.slots, now)

    def _assign_work(self) -> None:
        self.feeder.assign(self.stopping)

    def _flush(self) -> None:
        self.feeder.flush()
        self.gate.give_back()

    def _wait_and_read(self) -> None:
        timeout = self._wait_timeout()
        if timeout is None and not self.gate.active(self.queues):
            # Every queue is paused: only the next poll can give work.
            timeout = max(min(float(self.options.sleep or 1.0),
                              self.gate.next_poll - time.monotonic()), 0.0)
        if timeout is None:
            # Fully idle with a transport that can wake us: block in the store itself.
            # At most SLEEP (or the transport's longest wait), and never past a heartbeat,
            # maintenance turn or other deadline.
            longest = self.transport.longest_wait
            until = min([self._next_turn(), *self._deadlines()])
            self.transport.wait(self.gate.active(self.queues), max(min(
                float(self.options.sleep or 1.0), longest if longest is not None else math.inf,
                until - time.monotonic()), 0.0))
            timeout = 0.0
        self.reader.read(timeout)

    def _wait_timeout(self) -> float | None:
        now = time.monotonic()
        limit = min([self._next_turn(), *self._deadlines()]) - now
        busy = [slot for slot in self.slots if slot.phase != IDLE]
        deadlines = [slot.deadline - now for slot in busy if slot.deadline]
        if deadlines:
            limit = min(limit, *deadlines)
        if busy and self.options.memory_limit_mb:
            limit = min(limit, 0.1)
        return self.feeder.wait_timeout(now, limit, self.stopping)

    def _next_turn(self) -> float:
        """When the next timed step is due: heartbeat, maintenance or the schedule's next
        slot. The requeue has no wake-up of its own: it rides on the turns the worker makes
        anyway (a busy worker's many; an idle one's, at least every ``SLEEP``), so an idle
        worker's store sees no more sessions' worth of traffic than before."""
        turns = [self.next_heartbeat, self.next_maintenance]
        if self.scheduler is not None and not self.stopping:
            # The schedule's clock is the wall clock: its next slot, on the monotonic one.
            turns.append(time.monotonic() + self.scheduler.next_at - time.time())
        return min(turns)

    def _deadlines(self) -> list[float]:
        """When owed acks, marks and outcomes are due, when prefetched jobs go stale, and
        when a stop's shutdown timeout runs out (else a busy worker would notice it only at
        its next heartbeat)."""
        due = (self.outcomes.next_due(), self.stop_deadline if self.stopping else None,
               self.gate.give_back_at(), *(slot.cancel_at for slot in self.slots))
        if any(slot.phase != IDLE for slot in self.slots):
            # Cancel requests of the jobs it runs are read on time, however busy it is.
            due += (self.gate.next_poll,)
        return [*self.feeder.deadlines(), *(t for t in due if t is not None)]

    def _settle(self) -> None:
        self.settler.settle_due(time.monotonic())

    def _enforce_limits(self) -> None:
        enforce_limits(self.slots, self.options.memory_limit_mb, time.monotonic())

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + jobqueue_settings.HEARTBEAT
        # Running jobs and outcomes owed; prefetched ones keep their short leases.
        held = [slot.job.reserved for slot in self.slots if slot.job is not None]
        held += self.outcomes.held()
        running = [(s.job, s.started_at) for s in self.slots if s.job and s.phase == RUNNING]
        try:
            if held:
                for job in self.transport.renew(held, jobqueue_settings.LEASE):
                    log_event(logger, logging.WARNING, "lease_lost", id=job.id, queue=job.queue,
                              action="renew")
            self.gate.renew()
        finally:
            # Never raises; after the renewal, which matters more to the running jobs.
            self.presence.publish(self.feeder.jobs_started - len(running), running)

    def _hand_back_stale_prefetch(self) -> None:
        self.feeder.hand_back_stale()

    def _requeue_expired(self) -> None:
        now = time.monotonic()
        if now < self.next_requeue:
            return
        self.next_requeue = now + self.transport.requeue_every
        count = self.transport.requeue_expired(self.queues)
        if count:
            log_event(logger, logging.WARNING, "prefetched_jobs_requeued", count=count,
                      why="their worker stopped before starting them")

    def _maintenance(self) -> None:
        now = time.monotonic()
        if now < self.next_maintenance:
            return
        interval = jobqueue_settings.MAINTENANCE_INTERVAL
        self.next_maintenance = now + interval * random.uniform(0.8, 1.2)
        self.presence.prune()
        token = f"{self.name[:50]}:m{next(self._tokens)}"
        default = float(self.options.timeout or 0)
        for job in self.transport.collect(self.queues, 100, jobqueue_settings.LEASE, token):
            log_event(logger, logging.WARNING, "abandoned_job_collected", id=job.id,
                      queue=job.queue, attempt=job.attempts)
            ended = Ended("AbandonedJobError", "the job's lease expired: its worker stopped"
                          f" without finishing it (collected by {self.name})")
            self.outcomes.add(Owed.ended_by(Claim.of(job, default), ended, self.name))
        moved = self.settler.move_fallback()
        if moved:
            log_event(logger, logging.INFO, "fallback_moved", count=moved)
        self._prune_coordination(now)

    def _prune_coordination(self, now: float) -> None:
        """Delete locks long expired (a store that does not expire its own keeps them)."""
        if now < self.next_coordination_prune:
            return
        self.next_coordination_prune = now + PRUNE_EVERY * random.uniform(0.8, 1.2)
        with contextlib.suppress(NotImplementedError):  # a transport without primitives
            self.transport.coordination.prune()

    def _schedule(self) -> None:
        if self.scheduler is not None and not self.stopping:
            self.scheduler.tick()

    # -- shutdown --------------------------------------------------------------------------
    def _shutdown(self) -> None:
        feeder = self.feeder
        for slot in self.slots:
            if slot.horse is not None and slot.phase != IDLE:
                slot.horse.kill()
            if slot.phase == RUNNING and slot.job is not None:
                feeder.hand_back(slot.job)
            feeder.return_queued(slot)
        self._guarded(feeder.hand_back_prefetched)
        self._guarded(lambda: feeder.flush(force=True))
        self._guarded(lambda: self.gate.give_back(force=True))
        self._guarded(self.settler.settle_before_stop)
        if feeder.hooks:
            log_event(logger, logging.WARNING, "hooks_not_run", count=len(feeder.hooks))
        stop_horses([slot.horse for slot in self.slots if slot.horse is not None])
        self.presence.withdraw()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)
        if self.metrics_server is not None:
            self.metrics_server.close()
            metrics.deactivate()


    @staticmethod
    def _guarded(step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:
            log_event(logger, logging.WARNING, "shutdown_store_error", error=exc)
