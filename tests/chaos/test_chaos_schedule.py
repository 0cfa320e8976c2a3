"""Scenario 15: the scheduler under SIGKILL. Three workers, each scheduling (``runworker``'s
default), two every-second entries of the same job (0.3 s of work, ``max_tries`` 5), while
the harness SIGKILLs a whole worker (its process group) every ``PERIOD`` seconds, half of
the time just as a slot falls due (when the workers fire), and starts another. Halfway,
a blackout: all three killed at once, none for ``BLACKOUT`` seconds.

- ``tick-…``: missed policy ``catch_up`` with a limit (1,000) above the run's length, so no
  slot may be dropped: every slot between the first fired and the last fired exactly once,
  the blackout's late (on the workers' return).
- ``once-…``: the default policy ``once``: a turn that comes more than a slot late fires
  the latest due slot and skips the others (by design). Asserted: no slot twice, every fire
  ran, and the blackout's slots skipped (at least ``BLACKOUT`` - 1 of them: not caught up).

Counted from the jobs' ledger and the workers' log lines (:mod:`tests.chaos.firings`), at
quiescence (the scheduling workers stopped, a ``--no-scheduler`` worker drains what the
dead ones held). Runs are counted apart from fires: a job killed mid-run is retried.
"""

from __future__ import annotations

import math
import os
import random
import signal
import time
import uuid
from typing import Any

import pytest

from tests.chaos import firings
from tests.chaos.harness import (
    FAST,
    POSTGRES_IN_FULL,
    QUEUE,
    Chaos,
    assert_sound,
    size,
)
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

pytestmark = [pytest.mark.slow]

SECONDS, PERIOD, BLACKOUT = size(18, 60), size(1.5, 2.0), size(3.0, 5.0)
WORKERS = 3
MAX_TRIES = 5
JOB = {"JOB": "tests.chaos.jobs.Tick", "EVERY": 1, "QUEUE": QUEUE,
       "KWARGS": {"max_tries": MAX_TRIES, "seconds": 0.3}}


def _settings(connection: str, tick: str, once: str) -> dict[str, Any]:
    # Fresh entry names each run: a cursor left by an earlier run would make the catch-up
    # entry fire the slots since then.
    schedule = {
        tick: {**JOB, "CONNECTION": connection, "MISSED": "catch_up", "CATCH_UP_LIMIT": 1000},
        once: {**JOB, "CONNECTION": connection},
    }
    return {**FAST, "SCHEDULE": schedule}


def _keep_workers(chaos: Chaos, settings: dict[str, Any]) -> None:
    while len(chaos.alive()) < WORKERS:
        chaos.worker("--concurrency", "2", settings=settings)


def _kill(chaos: Chaos, victim: WorkerProcess, at_slot: bool) -> dict[str, Any]:
    os.killpg(victim.pid, signal.SIGKILL)
    killed = {"t": time.time(), "at_slot": at_slot, "pid": victim.pid}
    victim.wait(10)
    return killed


def _kill_loop(chaos: Chaos, settings: dict[str, Any], until: float,
               rng: random.Random) -> tuple[list[dict[str, Any]], tuple[float, float]]:
    """SIGKILL a random worker's process group every ``PERIOD`` seconds (on average) until
    ``until`` (epoch), replacing it at once. Half the kills land in the first 50 ms of a
    slot, when the scheduling workers push. Halfway, a blackout: every worker killed at
    once and none started for ``BLACKOUT`` seconds (the kills, and when it began and
    when the workers were started again)."""
    kills: list[dict[str, Any]] = []
    blackout_at = until - SECONDS / 2
    blackout = (0.0, 0.0)
    while True:
        at = time.time() + PERIOD * rng.uniform(0.5, 1.5)
        at_slot = rng.random() < 0.5
        if at_slot:
            at = math.ceil(at) + rng.uniform(0, 0.05)
        if at > until:
            return kills, blackout
        time.sleep(max(at - time.time(), 0))  # the pacing of the fault
        if not blackout[0] and at >= blackout_at:
            kills += [_kill(chaos, victim, at_slot) for victim in chaos.alive()]
            began = kills[-1]["t"]
            time.sleep(BLACKOUT)  # the length of the outage, not a wait for an outcome
            blackout = (began, time.time())
        else:
            kills.append(_kill(chaos, rng.choice(chaos.alive()), at_slot))
        _keep_workers(chaos, settings)


def _fired(chaos: Chaos, entry: str) -> list[float]:
    return [float(e["slot"]) for e in chaos.events("slot") if e["entry"] == entry]


@pytest.mark.parametrize("chaos", POSTGRES_IN_FULL, indirect=True)
def test_every_slot_fires_exactly_once_while_workers_are_sigkilled(chaos):
    nonce = uuid.uuid4().hex[:8]
    tick, once = f"tick-{nonce}", f"once-{nonce}"
    settings = _settings(chaos.connection, tick, once)
    chaos.env["JQ_CHAOS_LOG_TS"] = "1"
    _keep_workers(chaos, settings)
    chaos.wait_ready()
    wait_until(lambda: _fired(chaos, tick) and _fired(chaos, once), timeout=30, interval=0.1)
    began = time.time()
    kills, blackout = _kill_loop(chaos, settings, began + SECONDS, random.Random(15))
    ended = time.time()
    # The window must cover the whole attack: wait for a slot after its end to have fired.
    wait_until(lambda: max(_fired(chaos, tick)) >= ended, timeout=30, interval=0.1)
    chaos.stop_all()  # SIGTERM: no more scheduling; running jobs finish first
    # What the killed workers held comes back after the lease; a worker that does not
    # schedule runs it, so the window stays where the attack left it.
    chaos.worker("--no-scheduler", "--concurrency", "2", settings=settings)
    drain = chaos.wait_drained(timeout=FAST["LEASE"] * 4 + size(60, 120))
    chaos.stop_all()

    logged = firings.logged_fires(chaos.outputs())
    events = chaos.events()
    counts = {name: firings.count(name, 1.0, events, logged) for name in (tick, once)}
    ids = sorted({e["id"] for e in events if e["event"] == "slot"} | {f.id for f in logged})
    figures = chaos.tally(ids, max_tries=MAX_TRIES)
    figures.update(
        attack_seconds=round(ended - began, 1),
        kills=len(kills),
        kills_at_slot=sum(k["at_slot"] for k in kills),
        blackout_seconds=round(blackout[1] - blackout[0], 1),
        workers_started=len(chaos.workers),
        drain_seconds=drain,
        catch_up={k: v for k, v in counts[tick].items()},
        once={k: v for k, v in counts[once].items()},
    )
    chaos.report("15-scheduler-sigkill", figures)
    # A job whose worker died after it finished and before its outcome was stored runs
    # again (at-least-once); each kill can leave at most one such job per horse.
    assert_sound(figures, allow_duplicates=2 * len(kills))
    assert figures["done"] == len(ids), figures
    for name, policy in ((tick, "catch_up"), (once, "once")):
        c = counts[name]
        assert c["duplicates"] == 0, (policy, c)
        assert c["log_ledger_disagree"] == [], (policy, c)
        assert c["never_ran"] == [] and c["done"] == c["fires"], (policy, c)
    c = counts[tick]
    assert c["missing"] == 0 and c["slots"] == c["window"] == c["fires"], c
    # The blackout's slots fired late, on the workers' return, rather than not at all...
    assert c["max_fire_delay"] >= BLACKOUT - 1, c
    # ...where the ``once`` entry fired only the latest of them and skipped the others.
    assert counts[once]["missing"] >= BLACKOUT - 1, counts[once]
    assert c["first_slot"] <= began and c["last_slot"] >= ended, c
    assert len(kills) >= SECONDS / PERIOD / 2 and blackout[0], kills
