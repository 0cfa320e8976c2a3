"""Scenario 3: SIGTERM during a long job, at random moments.

Rounds of slots run in parallel; each slot has a queue of its own (``chaos3-<slot>``) and, in
each round, a fresh one-horse worker on it and one long job (a new one, or the job released
by the previous round). At a random moment the worker gets SIGTERM, in one of three modes:

- ``graceful``: shutdown timeout twice the job's length; the job finishes, the worker exits
  within the shutdown timeout;
- ``timeout``: shutdown timeout below the job's length; the job is released (back to ready,
  nothing left reserved) and the worker exits shortly after the timeout;
- ``second``: a second SIGTERM 0.2 s after the first; the job is released at once.

The moment: usually a uniform time into the job's run (the job's ``start`` line seen), in 15 %
of the signals a moment just after the dispatch, before or while the worker claims the job.
Released jobs finish in a later round, or on the last worker, which listens on every slot's
queue, runs what is left, and once idle must exit on its SIGTERM, not at its next turn: within
its idle wait plus the teardown slack of the releases (its turns are 10 s apart).
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from django_jobqueue import dispatch_many
from tests.chaos import jobs
from tests.chaos.harness import (
    MARIADB_DB,
    TRANSPORTS,
    assert_sound,
    percentile,
    size,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, MARIADB_DB]

LENGTH = size(2.0, 5.0)        # seconds a job runs
ROUNDS = size(1, 50)
MODES = size(["graceful", "timeout", "second"], ["graceful", "graceful", "timeout", "second"])
SLOTS = len(MODES)
GRACEFUL_TIMEOUT = 2 * LENGTH  # the shutdown timeout of the graceful mode
SHORT_TIMEOUT = LENGTH / 4     # below the job's length
STOP_SLACK = 2.0               # process teardown after a release, on 2 loaded cores
IDLE_SLEEP = 0.1               # the last worker's wait in the store when idle
# The last worker's turns (heartbeat, maintenance), 10 s apart: one that noticed its signal
# only at a turn would overrun the idle bound, IDLE_SLEEP + STOP_SLACK.
SPARSE_TURNS = {"HEARTBEAT": 10.0, "MAINTENANCE_INTERVAL": 10.0}
EARLY = 0.15                   # share of signals sent just after the dispatch


def _queue(slot: int) -> str:
    return f"chaos3-{slot}"


def _shutdown_timeout(mode: str) -> float:
    return {"graceful": GRACEFUL_TIMEOUT, "timeout": SHORT_TIMEOUT, "second": 60.0}[mode]


def _starts(chaos, job_id):
    return [e for e in chaos.events("start") if e["id"] == job_id]


def _finished(chaos, job_id):
    return [e for e in chaos.events("finish") if e["id"] == job_id and e["ok"]]


def _size(chaos, queue):
    return chaos.transport.size(queue)


def _bound(s: dict) -> float:
    """The latest a worker may exit after the (first) signal."""
    if s["mode"] == "graceful":
        return GRACEFUL_TIMEOUT
    return (SHORT_TIMEOUT if s["mode"] == "timeout" else 0.2) + STOP_SLACK


def _describe(s: dict) -> dict:
    moment = s["signalled"] - s["start"] if "start" in s else None
    return {"mode": s["mode"], "early": s["early"], "latency": round(s["latency"], 3),
            "signal_after_start": None if moment is None else round(moment, 3),
            "started_before_signal": s["started_before_signal"], "done": s["done"]}


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_sigterm_at_random_moments_loses_nothing(chaos):
    rng = random.Random(3)
    queues = [_queue(i) for i in range(SLOTS)]
    for queue in queues:
        chaos.transport.clear(queue)
    ids: list[str] = []
    pending: dict[int, str] = {}  # slot -> the job id its queue holds
    signals: list[dict] = []
    try:
        for round_ in range(ROUNDS):
            modes = [MODES[(slot + round_) % SLOTS] for slot in range(SLOTS)]
            # Runs so far of each slot's job, counted before a worker can start it.
            runs_before = {slot: len(_starts(chaos, pending[slot])) if slot in pending else 0
                           for slot in range(SLOTS)}
            workers = [chaos.worker("--shutdown-timeout", str(_shutdown_timeout(mode)),
                                    "--sleep", "0.1", queues=[queues[slot]])
                       for slot, mode in enumerate(modes)]
            chaos.wait_ready()
            for slot in range(SLOTS):
                if slot not in pending:
                    job = jobs.Step(len(ids), seconds=LENGTH, max_tries=1)
                    [dispatched] = dispatch_many([job], connection=chaos.connection,
                                                 queue=queues[slot])
                    pending[slot] = dispatched.id
                    ids.append(dispatched.id)
            plan = []
            for slot in range(SLOTS):
                early = rng.random() < EARLY
                plan.append({"slot": slot, "mode": modes[slot], "job": pending[slot],
                             "early": early, "offset": rng.uniform(0, 0.3) if early
                             else rng.uniform(0, LENGTH)})
            dispatched_at = time.time()
            # Signal each worker at its moment: run the plan in order of due time.
            for p in plan:
                if not p["early"]:
                    before = runs_before[p["slot"]]
                    wait_until(lambda p=p, before=before: len(_starts(chaos, p["job"])) > before,
                               timeout=30, interval=0.02)
                    p["start"] = _starts(chaos, p["job"])[-1]["t"]
                    p["due"] = p["start"] + p["offset"]
                else:
                    p["due"] = dispatched_at + p["offset"]
            sends = [(p["due"], 1, p) for p in plan]
            sends += [(p["due"] + 0.2, 2, p) for p in plan if p["mode"] == "second"]
            exited: dict[int, float] = {}

            def all_exited(exited=exited, workers=workers) -> bool:
                for slot, worker in enumerate(workers):
                    if slot not in exited and worker.proc.poll() is not None:
                        exited[slot] = time.monotonic()
                return len(exited) == len(workers)

            for due, nth, p in sorted(sends, key=lambda s: s[0]):
                # Exits are watched while later signals wait for their moment: a worker that
                # exits meanwhile is timed when it exits, not when the last signal went out.
                while time.time() < due:
                    all_exited()
                    time.sleep(min(0.005, max(due - time.time(), 0)))
                if nth == 1:
                    p["signalled"] = time.time()
                    p["sent"] = time.monotonic()
                workers[p["slot"]].signal(signal.SIGTERM)

            wait_until(all_exited, timeout=GRACEFUL_TIMEOUT + 30, interval=0.01)
            for p in plan:
                worker = workers[p["slot"]]
                p["exit"] = worker.wait(1)
                p["latency"] = exited[p["slot"]] - p["sent"]
                started = [e for e in _starts(chaos, p["job"]) if e["t"] <= p["signalled"]]
                done = bool(_finished(chaos, p["job"]))
                p["started_before_signal"] = bool(started)
                p["done"] = done
                queued = _size(chaos, queues[p["slot"]])
                p["left_reserved"] = queued.reserved
                p["back_ready"] = queued.ready
                p["released"] = "event=job_released" in worker.output()
                if done:
                    pending.pop(p["slot"], None)
            signals.extend(plan)

        # The last worker: every slot's queue; it runs what was released, then idles.
        last = chaos.worker("--concurrency", str(SLOTS), "--sleep", str(IDLE_SLEEP),
                            queues=queues, settings=SPARSE_TURNS)
        chaos.wait_ready()
        wait_until(lambda: all(_size(chaos, q).total == 0 for q in queues),
                   timeout=LENGTH * 3 + 60, interval=0.1)
        wait_until(lambda: all(_finished(chaos, i) for i in ids), timeout=LENGTH + 30,
                   interval=0.1)
        time.sleep(0.5)  # idle for a moment before the signal (not a wait for an outcome)
        sent = time.monotonic()
        last.signal(signal.SIGTERM)
        last_exit = last.wait(10)
        idle_exit = time.monotonic() - sent

        figures = chaos.tally(ids, max_tries=1)
        figures["still_queued"] = sum(_size(chaos, q).total for q in queues)
        by_mode = {m: [s for s in signals if s["mode"] == m] for m in set(MODES)}
        graceful = by_mode["graceful"]
        released = [s for s in signals if s["mode"] != "graceful"]
        figures.update(
            job_seconds=LENGTH,
            signals=len(signals),
            early_signals=sum(s["early"] for s in signals),
            graceful_signals=len(graceful),
            graceful_started_and_finished=sum(s["started_before_signal"] and s["done"]
                                              for s in graceful),
            graceful_started_not_finished=sum(s["started_before_signal"] and not s["done"]
                                              for s in graceful),
            graceful_exit_p50=percentile([s["latency"] for s in graceful], 50),
            graceful_exit_max=round(max(s["latency"] for s in graceful), 3),
            graceful_shutdown_timeout=GRACEFUL_TIMEOUT,
            release_signals=len(released),
            released_mid_job=sum(s["started_before_signal"] and not s["done"]
                                 for s in released),
            release_exit_max_by_mode={
                m: round(max(s["latency"] for s in by_mode[m]), 3)
                for m in ("timeout", "second")},
            short_shutdown_timeout=SHORT_TIMEOUT,
            release_exit_p50_by_mode={
                m: percentile([s["latency"] for s in by_mode[m]], 50)
                for m in ("timeout", "second")},
            slow_exits=[_describe(s) for s in signals if s["latency"] > _bound(s)][:10],
            left_reserved_after_exit=sum(s["left_reserved"] for s in signals),
            nonzero_exits=sum(s["exit"] != 0 for s in signals) + (last_exit != 0),
            idle_exit_seconds=round(idle_exit, 3),
        )
        chaos.report("3-sigterm-random-moments", figures)
        # Interrupted runs (released jobs) ran again: one successful run each, no attempt
        # charged for the interruption (max_tries 1 and every job done).
        assert_sound(figures)
        assert figures["done"] == len(ids), figures
        assert figures["nonzero_exits"] == 0, figures
        assert figures["left_reserved_after_exit"] == 0, signals
        # Every worker exits within its bound: the shutdown timeout (graceful), the short
        # timeout or the second signal plus teardown slack (released).
        assert figures["slow_exits"] == [], figures
        for s in graceful:
            if s["started_before_signal"]:
                assert s["done"], s  # the running job finished before the worker exited
        for s in released:
            if s["started_before_signal"] and not s["done"]:
                assert s["released"] and s["back_ready"] == 1, s
        assert idle_exit < IDLE_SLEEP + STOP_SLACK, figures
    finally:
        for queue in queues:
            chaos.transport.clear(queue)
