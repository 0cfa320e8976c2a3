"""Scenario 14: whole workers SIGKILLed mid-drain, and how fast their work comes back.

Short jobs drained by 3 workers of 2 horses with the default prefetch; every ``PERIOD``
seconds the harness SIGKILLs a whole worker (its process group: supervisor and horses) and
starts another. Right after each kill it reads, from the store, which jobs the dead worker
held: prefetched ones never started (their short lease: ``worker/prefetch.py``) and started
ones (their lease: ``LEASE``).

Expected, besides nothing lost and one terminal state per job:

- every prefetched job the dead worker never started runs elsewhere within 2 s of the kill
  (it used to wait out the 30 s lease);
- the jobs that ran twice because their outcome died with the worker are only those that
  finished in the worker's last moments (``SETTLE_DELAY``, 15 ms, plus the store's round
  trip), not a whole batch.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time

import pytest
from django.db import connections

from tests.chaos import jobs
from tests.chaos.harness import (
    MARIADB_DB,
    QUEUE,
    TRANSPORTS,
    assert_sound,
    dispatch_all,
    percentile,
    size,
)

pytestmark = [pytest.mark.slow, MARIADB_DB]

JOBS, KILLS, PERIOD = size(3_000, 20_000), size(4, 15), size(1.0, 2.0)
WORKERS = 3
# CI: a 5 s lease, still far above the 2 s target, so a prefetched job back in time was not
# waiting for the lease. Full: the library's defaults, as a deployment would run.
LEASES = size({"LEASE": 5.0, "HEARTBEAT": 1.0, "MAINTENANCE_INTERVAL": 1.0}, {})
# The 2 s is the full run's bound. A CI machine runs this beside the rest of the suite
# on 2 cores, just after starting its servers: a clean-clone run of 2026-12-07 measured 3.0 s
# on Redis once (the other runs that week: 1.0-1.3 s; the replacement workers' start-up
# takes the cores the live workers' requeue turns need). CI allows 3.5 s, still far from the
# lease (5 s) a prefetched job waited for before; the full run holds the 2 s.
PREFETCHED_BACK_WITHIN = size(3.5, 2.0)


def _name(pid: int) -> str:
    # A worker's default name (worker/options.py); its reservation tokens start with it.
    return f"{socket.gethostname()[:40]}.{pid}"


def _held_by(chaos, name: str) -> tuple[set[str], set[str]]:
    """Ids of the jobs the store shows reserved by worker ``name``: (not started, started)."""
    transport = chaos.transport
    if chaos.connection == "redis":
        meta = transport.keys(QUEUE)[4]
        fields = {k.decode(): v for k, v in transport.client.hgetall(meta).items()}
        mine = {key[2:] for key, token in fields.items()
                if key.startswith("t:") and token.decode().startswith(f"{name}:")}
        started = {job for job in mine if f"s:{job}" in fields}
        return mine - started, started
    with connections[transport.alias].cursor() as cursor:
        cursor.execute("SELECT uuid, started FROM queue_jobs WHERE queue = %s"
                       " AND reserved_by LIKE %s", [QUEUE, f"{name}:%"])
        rows = cursor.fetchall()
    return {u for u, s in rows if not s}, {u for u, s in rows if s}


def _kill_whole_worker(chaos, rng) -> dict:
    victim = rng.choice(chaos.alive())
    pids = {victim.pid, *victim.horse_pids()}
    os.killpg(victim.pid, signal.SIGKILL)
    killed_at = time.time()
    unstarted, started = _held_by(chaos, _name(victim.pid))
    victim.wait(5)
    return {"t": killed_at, "pids": pids, "unstarted": unstarted, "started": started}


def _keep_workers(chaos) -> None:
    while len(chaos.alive()) < WORKERS:
        chaos.worker("--concurrency", "2", settings=LEASES)


def _prefetched_back(chaos, kills) -> list[float | None]:
    """For each job a dead worker held prefetched, seconds from the kill to its next start
    (None: it never started again)."""
    starts: dict[str, list[tuple[float, int]]] = {}
    for e in chaos.events("start"):
        starts.setdefault(e["id"], []).append((e["t"], e["pid"]))
    delays = []
    for kill in kills:
        for job in kill["unstarted"]:
            runs = starts.get(job, [])
            # Begun in the dead worker, its start mark not sent yet: a running job (its
            # lease may be the long one), not one held ahead.
            if any(pid in kill["pids"] and t <= kill["t"] for t, pid in runs):
                continue
            later = [t for t, _ in runs if t > kill["t"]]
            delays.append(round(min(later) - kill["t"], 3) if later else None)
    return delays


def _finished_then_rerun(chaos, kills) -> list[float]:
    """For each job that finished in a worker killed before it could store the outcome and
    then ran again: seconds from that finish to the kill."""
    events = chaos.events()
    gaps = []
    for kill in kills:
        finished = {e["id"]: e["t"] for e in events if e["event"] == "finish" and e["ok"]
                    and e["pid"] in kill["pids"] and e["t"] <= kill["t"]}
        again = {e["id"] for e in events if e["event"] == "start" and e["t"] > kill["t"]
                 and e["id"] in finished}
        gaps += [round(kill["t"] - finished[job], 4) for job in again]
    return gaps


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_a_killed_workers_prefetched_jobs_run_elsewhere_within_two_seconds(chaos):
    rng = random.Random(14)
    ids = dispatch_all((jobs.Step(i, max_tries=5, seconds=0.005) for i in range(JOBS)),
                       chaos.connection)
    _keep_workers(chaos)
    chaos.wait_ready()
    chaos.wait_events("start", 1, timeout=30)
    kills = []
    for _ in range(KILLS):
        time.sleep(PERIOD)  # the pacing of the fault, not a wait for an outcome
        if not chaos.queued():
            break
        kills.append(_kill_whole_worker(chaos, rng))
        _keep_workers(chaos)
    drain = chaos.wait_drained(timeout=(LEASES.get("LEASE") or 30.0) * 4 + size(60, 300))
    chaos.stop_all()
    figures = chaos.tally(ids, max_tries=5)
    back = _prefetched_back(chaos, kills)
    reruns = _finished_then_rerun(chaos, kills)
    figures.update(
        kills=len(kills),
        prefetched_held=len(back),
        prefetched_back_p50=percentile([d for d in back if d is not None], 50),
        prefetched_back_max=max((d for d in back if d is not None), default=None),
        prefetched_never_back=sum(d is None for d in back),
        started_held=sum(len(k["started"]) for k in kills),
        finished_then_rerun=len(reruns),
        rerun_finished_before_kill_max=max(reruns, default=None),
        drain_seconds=drain,
        lease=LEASES.get("LEASE", 30.0),
    )
    chaos.report("14-worker-killed-mid-drain", figures)
    assert_sound(figures, allow_duplicates=len(reruns) + figures["interrupted_runs"])
    assert back and None not in back, figures
    assert max(back) <= PREFETCHED_BACK_WITHIN, figures
    # Finished in the worker's last moments only: SETTLE_DELAY (15 ms) plus a round trip,
    # with room for a loaded CI machine's scheduling.
    assert all(gap <= 0.1 for gap in reruns), figures
