"""Scenario 1: a SIGKILL loop. Short jobs, workers restarted by the harness, a random process
(a supervisor or one of its work horses) SIGKILLed every 0.5 s, ``max_tries`` 5.

Expected: nothing lost, one terminal state per job, every duplicate execution explained by
a recorded system failure (the attempt a kill interrupted), no attempt past ``max_tries``,
and kill-to-collection time (the kill to the handler call for the interrupted attempt:
``WorkHorseKilled`` at once, ``AbandonedJobError`` once the lease runs out) p99 <= 60 s.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.chaos import jobs
from tests.chaos.harness import (
    FAST,
    MARIADB_DB,
    TRANSPORTS,
    assert_sound,
    dispatch_all,
    every,
    percentile,
    size,
)

pytestmark = [pytest.mark.slow, MARIADB_DB]

JOBS, WORKERS, SECONDS = size(300, 10_000), size(2, 4), size(5, 30)
# CI: leases of seconds. Full: the library's defaults, as a deployment would run.
LEASES = size(FAST, {"LEASE": 30.0, "HEARTBEAT": 5.0, "MAINTENANCE_INTERVAL": 5.0})


def _kill_one(chaos, rng, kills):
    live = chaos.alive()
    if not live:
        return
    worker = rng.choice(live)
    horses = worker.horse_pids()
    victim = worker.pid if not horses or rng.random() < 0.5 else rng.choice(horses)
    try:
        os.kill(victim, signal.SIGKILL)
    except ProcessLookupError:
        return
    kills.append({"t": time.time(), "supervisor": victim == worker.pid, "victim": victim,
                  "pids": {victim} if victim != worker.pid else {worker.pid, *horses}})


def _keep_workers(chaos, settings):
    for worker in chaos.workers:
        if worker.proc.poll() is not None:
            worker.wait(1)
    while len(chaos.alive()) < WORKERS:
        chaos.worker("--concurrency", "2", settings=settings)


def _collection_latencies(chaos, kills):
    starts = {(e["id"], e["attempt"]): e for e in chaos.events("start")}
    latencies = []
    for err in chaos.events("error"):
        if err["exc"] not in ("AbandonedJobError", "WorkHorseKilled"):
            continue
        start = starts.get((err["id"], err["attempt"]))
        if start is None:
            continue
        hit = [k for k in kills if start["pid"] in k["pids"] and k["t"] >= start["t"]]
        if hit:
            latencies.append(err["t"] - hit[0]["t"])
    return latencies


def _uncharged_reruns(chaos, kills):
    """Jobs that ran twice under one attempt number, and for each, the time from its first
    run's start to the supervisor kill that ended it: prefetch.py documents that a supervisor
    killed within SETTLE_DELAY of starting a prefetched job leaves it unmarked, so the job
    runs again with that attempt not counted."""
    runs: dict[tuple[str, int], list[dict]] = {}
    for e in chaos.events("start"):
        runs.setdefault((e["id"], e["attempt"]), []).append(e)
    gaps = []
    for starts in runs.values():
        for first in starts[:-1]:
            # A horse may read a job already sent to it just after its supervisor died and
            # before PR_SET_PDEATHSIG's SIGKILL lands, so the start can follow the kill.
            hit = [k for k in kills if k["supervisor"] and first["pid"] in k["pids"]]
            gap = min((k["t"] - first["t"] for k in hit), key=abs, default=None)
            gaps.append(None if gap is None else round(gap, 3))
    return gaps


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_sigkill_loop_loses_nothing(chaos):
    rng = random.Random(1)
    ids = dispatch_all((jobs.Step(i, max_tries=5, seconds=0.01) for i in range(JOBS)),
                       chaos.connection)
    kills: list[dict] = []
    _keep_workers(chaos, LEASES)
    chaos.wait_events("start", 1, timeout=30)

    def round_() -> None:
        _kill_one(chaos, rng, kills)
        _keep_workers(chaos, LEASES)

    every(0.5, time.monotonic() + SECONDS, round_)
    drain = chaos.wait_drained(timeout=LEASES["LEASE"] * 4 + size(60, 300))
    chaos.stop_all()
    figures = chaos.tally(ids, max_tries=5)
    latencies = _collection_latencies(chaos, kills)
    uncharged = _uncharged_reruns(chaos, kills)
    figures.update(
        kills=len(kills),
        supervisor_kills=sum(k["supervisor"] for k in kills),
        horse_kills=sum(not k["supervisor"] for k in kills),
        workers_started=len(chaos.workers),
        kill_to_collection_p50=percentile(latencies, 50),
        kill_to_collection_p99=percentile(latencies, 99),
        collected=len(latencies),
        drain_seconds=drain,
        lease=LEASES["LEASE"],
        uncharged_reruns=len(uncharged),
        uncharged_start_to_kill=uncharged[:10],
    )
    chaos.report("1-sigkill-loop", figures)
    explained = sum(figures["system_failures"].values()) + len(uncharged)
    assert_sound(figures, allow_duplicates=explained)
    # Each uncharged rerun was a supervisor killed moments after the run began (the 50 ms
    # settle window, plus scheduling on a loaded machine), never an unexplained repeat.
    assert all(gap is not None and abs(gap) < 2.0 for gap in uncharged), uncharged
    assert figures["done"] + figures["failed"] == JOBS
    assert figures["kill_to_collection_p99"] is None or figures["kill_to_collection_p99"] <= 60
