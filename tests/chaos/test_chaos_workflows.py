"""Scenario 18: workflows under a SIGKILL loop.

4 / 20 batches (CI / full) of 100 / 500 children (20 ms each), a tenth of them failing for
good (``DontRetry``; child ``n`` when ``n % 10 == 9``), each batch with the three
callbacks; and 8 / 30 chains of 5 steps (0.1 s each) on a queue of their own that the
workers prefer, one chain in four failing for good at step 1, 2 or 3 (which holds the
rest), their starts spread over the first 4 / 60 s. Every job has ``max_tries`` 20: room
for the kills, each of which charges the jobs it takes an attempt. 3 workers x 2 horses;
leases 2 s. Two kinds of kills until every queue is empty, a worker started for each one
lost:

- the loop of scenario 17 (:mod:`tests.chaos.killing`): every 0.5 s a whole worker (its
  process group) or one horse, preferring those that run a job, while at least
  :data:`TAIL` jobs are queued (below that it would kill the last few jobs again and
  again, each kill costing a lease);
- aimed shots (:mod:`tests.chaos.shots`): a worker killed the moment a job writes its end
  (before the worker tells its workflow and acks it: the last 3 children of every batch,
  a step of every even chain), or the moment it logs a push (a chain's next step or a
  callback, before the ack of the job whose end caused it).

The worker tells a workflow a job's end before it acks the job: a kill between the two
leaves the job to be taken up and told again, and each such kill shows as a job that ran
again after it. The counts (:mod:`tests.chaos.workflowcount`) come from the ledger the jobs
write, the failed-job store and the workers' push lines, set against what the test
dispatched:

- each batch: exactly one ``on_complete`` and one ``on_failure`` callback, no
  ``on_success`` (every batch has failures), and each callback told the batch as it ended:
  total 100 / 500, failed a tenth, succeeded the rest. A child killed mid-run is retried
  and counted once, by its final outcome: a child meant to succeed that the kills had
  ended for good would be counted failed, rightly (its record would be in the store), and
  the exact figures would then fail; with 20 tries none was;
- every child that failed for good has its record in the failed-job store, by job id;
- each chain: every step ran under its own job id, after the one before it succeeded,
  none skipped; a chain with a failing step has that step recorded, nothing after it ran,
  and ``job_status`` tells the next step ``held`` (and the later ones ``waiting``); every
  step that succeeded reported its progress, and ``job_status`` tells it ``succeeded``
  (a step told again after the next one ran used to erase the next one's record);
- pushes granted (the workers' ``chain_next`` and ``batch_callback`` log lines): never
  two for one step or one (batch, kind);
- nothing lost, one terminal state each, and each job that succeeded twice is explained by
  a kill that took its process within 1 s after its first finish (before its ack);
- ``failed()`` once per failed job, or not at all when a kill of its worker within 1 s
  after its failure explains it (the hook is at most once under SIGKILL:
  tests/test_worker_failed_hook.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from django_jobqueue import job_status
from django_jobqueue.workflows import batch, chain
from tests.chaos import flowcount, jobs, killing, shots, workflowcount
from tests.chaos.harness import (
    FAILED_DB,
    FAST,
    MARIADB_DB,
    QUEUE,
    WITH_POSTGRES,
    Chaos,
    assert_sound,
    size,
)
from tests.chaos.workflowcount import BatchPlan, ChainPlan
from tests.support.settings_overrides import jobqueue
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow]

BATCHES, CHILDREN = size(4, 20), size(100, 500)
CHAINS, STEPS = size(8, 30), 5
WORKERS, HORSES = 3, 2
# Room for a job killed several times (each kill that takes it charges an attempt): the
# last jobs of a full run share their workers with the aimed shots' targets, and up to 8
# attempts of one were seen with 10 tries.
MAX_TRIES = 20
CHILD_SECONDS, STEP_SECONDS = 0.02, 0.1
# Chains start over this many seconds, so that they run while the batches do.
SPREAD = size(4, 60)
CHAIN_QUEUE = "chaos-chains"
QUEUES = (CHAIN_QUEUE, QUEUE)  # in the workers' order of preference
# SQLite and Redis in CI (the MariaDB run takes as long as both); MariaDB and PostgreSQL too
# in the full size.
PARAMS = [pytest.param("default", id="sqlite", marks=MARIADB_DB),
          *size(WITH_POSTGRES[:1], WITH_POSTGRES)]
# Aimed kills (tests/chaos/shots.py): after the end of each of the last LAST children of
# every batch to end, and more.
LAST = 3
# Fewer jobs queued than this: the loop's random kills stop, the aimed ones go on. The last
# few jobs would otherwise be killed again and again (the loop prefers workers that run a
# job), each kill costing a lease, which makes a long tail and uses up tries.
TAIL = WORKERS * HORSES * 4


def fails_for_good(n: int) -> bool:
    return n % 10 == 9


def fails_at(n: int) -> int | None:
    """The step chain ``n`` fails at for good (None: it runs to its end)."""
    return 1 + (n // 4) % 3 if n % 4 == 3 else None


def _dispatch_batches(connection: str) -> list[BatchPlan]:
    plans = []
    for b in range(BATCHES):
        children = [jobs.Member(n, max_tries=MAX_TRIES, seconds=CHILD_SECONDS,
                                fail=fails_for_good(n)) for n in range(CHILDREN)]
        sent = batch(children, on_failure=jobs.Tally(max_tries=MAX_TRIES),
                     on_success=jobs.Tally(max_tries=MAX_TRIES),
                     on_complete=jobs.Tally(max_tries=MAX_TRIES), name=f"chaos-{b}",
                     ).dispatch(queue=QUEUE, connection=connection)
        ids = tuple(one.id for one in sent.jobs)
        plans.append(BatchPlan(sent.id, ids, frozenset(
            i for n, i in enumerate(ids) if fails_for_good(n))))
    return plans


def _dispatch_chains(connection: str) -> list[ChainPlan]:
    plans = []
    for c in range(CHAINS):
        steps = [jobs.Link(n, chain=c, max_tries=MAX_TRIES, seconds=STEP_SECONDS,
                           fail=n == fails_at(c), progress=True) for n in range(STEPS)]
        sent = chain(*steps).dispatch(delay=c * SPREAD / CHAINS, queue=CHAIN_QUEUE,
                                      connection=connection)
        plans.append(ChainPlan(c, tuple(step.id for step in sent.steps), fails_at(c)))
    return plans


def _queued(chaos: Chaos) -> int:
    return sum(chaos.transport.size(queue).total for queue in QUEUES)


def _recorded(chaos: Chaos) -> set[str]:
    return {row["uuid"] for row in chaos.failed_rows()} | set(chaos.fallback_uuids())


def _settled(chaos: Chaos, batches: list[BatchPlan], chains: list[ChainPlan]) -> bool:
    """Every batch has run its two callbacks, every chain finished or is held."""
    events = chaos.events()
    runs = workflowcount.runs_by_id(events)
    fired = workflowcount.callbacks(events)
    for plan in batches:
        kinds = fired.get(plan.id, {})
        if not all(any(runs[i].succeeded for i in kinds.get(kind, ()))
                   for kind in (workflowcount.ON_FAILURE, workflowcount.ON_COMPLETE)):
            return False
    recorded = _recorded(chaos)
    return all(plan.steps[plan.fails_at] in recorded if plan.fails_at is not None
               else runs[plan.steps[-1]].succeeded for plan in chains)


def _states(plans: list[ChainPlan], connection: str) -> dict[str, dict[int, list[str]]]:
    """What ``job_status`` tells of the steps (it finds failed ones in the failed-job store
    the workers record into): ``held``, those after each failing step; ``succeeded``, the
    steps before it (or all) that did not tell ``succeeded`` (each reported its progress,
    so its status record says so)."""
    with jobqueue(FAILED_DATABASE=FAILED_DB):
        held = {plan.number: [job_status(step, connection).state
                              for step in plan.steps[plan.fails_at + 1:]]
                for plan in plans if plan.fails_at is not None}
        wrong = {plan.number: found for plan in plans if (found := [
            f"{n}:{state}" for n, step in enumerate(plan.steps[:plan.fails_at])
            if (state := job_status(step, connection).state) != "succeeded"])}
    return {"held": held, "not_succeeded": wrong}


@pytest.mark.parametrize("chaos", PARAMS, indirect=True)
def test_batches_and_chains_move_on_exactly_once_while_workers_are_sigkilled(chaos):
    chaos.transport.clear(CHAIN_QUEUE)
    began = time.monotonic()
    batches = _dispatch_batches(chaos.connection)
    chains = _dispatch_chains(chaos.connection)
    dispatch_seconds = round(time.monotonic() - began, 2)
    try:
        figures = _run(chaos, batches, chains)
    finally:
        chaos.transport.clear(CHAIN_QUEUE)
    figures["dispatch_seconds"] = dispatch_seconds
    chaos.report("18-workflows-sigkill", figures)
    _assert_sound(figures)


def _run(chaos: Chaos, batches: list[BatchPlan], chains: list[ChainPlan]) -> dict[str, Any]:
    killing.keep_workers(chaos, WORKERS, HORSES, QUEUES)
    chaos.wait_events("start", 1, timeout=60)
    attacked = time.monotonic()
    aim = shots.Shots(chaos, batches, chains, LAST)
    kills = killing.attack(chaos, WORKERS, HORSES, size(90, 900), seed=18, queues=QUEUES,
                           busy=lambda: _queued(chaos), aim=aim,
                           calm=lambda: _queued(chaos) < TAIL)
    attack_seconds = round(time.monotonic() - attacked, 1)
    killing.keep_workers(chaos, WORKERS, HORSES, QUEUES)  # those the last kill took
    since = time.monotonic()
    wait_until(lambda: _queued(chaos) == 0, timeout=FAST["LEASE"] * 4 + size(60, 300),
               interval=0.2)
    wait_until(lambda: _settled(chaos, batches, chains), timeout=30, interval=0.2)
    drain = round(time.monotonic() - since, 2)
    chaos.stop_all()
    return _figures(chaos, batches, chains, kills) | {
        "attack_seconds": attack_seconds, "drain_seconds": drain}


def _figures(chaos: Chaos, batches: list[BatchPlan], chains: list[ChainPlan],
             kills: list[dict[str, Any]]) -> dict[str, Any]:
    events = chaos.events()
    runs = workflowcount.runs_by_id(events)
    recorded = _recorded(chaos)
    batch_reports = [workflowcount.batch_report(p, events, recorded, runs) for p in batches]
    chain_reports = [workflowcount.chain_report(p, events, recorded, runs) for p in chains]
    callback_ids = sorted({i for r in batch_reports for ids in r["callback_ids"].values()
                           for i in ids})
    ran_steps = [s for p in chains for n, s in enumerate(p.steps)
                 if p.fails_at is None or n <= p.fails_at]
    children = [c for p in batches for c in p.children]
    ids = [*children, *ran_steps, *callback_ids]
    figures = chaos.tally(ids, max_tries=MAX_TRIES)
    figures["still_queued"] = _queued(chaos)
    gaps = flowcount.reruns(events, kills)
    found = flowcount.runs(events, kills)
    pushed = workflowcount.pushes(chaos.outputs())
    lost_hooks = workflowcount.hooks_lost(events, kills, recorded & set(ids))
    twice = {i for i, r in runs.items() if r.successes > 1}
    figures.update(
        batches=len(batches), children=len(children),
        chains=len(chains), chains_held=sum(p.fails_at is not None for p in chains),
        **killing.kill_figures(chaos, kills),
        aimed=shots.landed(events, kills),
        runs=len(found),
        runs_killed=sum(r.how == flowcount.KILLED for r in found),
        runs_unexplained=sum(r.how == flowcount.UNEXPLAINED for r in found),
        # Ends told again: jobs that succeeded twice, each one a kill between a job's end
        # and its ack (its count, or the push of the next step, came before the kill).
        told_again={"children": len(twice & set(children)),
                    "steps": len(twice & set(ran_steps)),
                    "callbacks": len(twice & set(callback_ids))},
        reruns=len(gaps),
        # A rerun is explained by a kill of its process within 1 s after its first finish.
        reruns_unexplained=sum(gap is None or gap >= 1.0 for gap in gaps),
        rerun_finish_to_kill_max=max((g for g in gaps if g is not None), default=None),
        # failed() calls lost with a worker killed after the job's failure was recorded
        # (and the job removed): see tests/chaos/workflowcount.py.
        hooks_lost=len(lost_hooks),
        hooks_lost_unexplained=sum(gap is None or gap >= 1.0 for gap in lost_hooks),
        hook_lost_finish_to_kill_max=max((g for g in lost_hooks if g is not None),
                                         default=None),
        callbacks_fired=len(callback_ids),
        summaries=sorted({str(r["expected_summary"]) for r in batch_reports}),
        failed_children=sum(r["failed"] for r in batch_reports),
        failed_not_meant=sum(len(r["failed_not_meant"]) for r in batch_reports),
        batch_faults={r["batch"]: f for r in batch_reports
                      if (f := workflowcount.batch_faults(r))},
        chain_faults={r["chain"]: f for r in chain_reports
                      if (f := workflowcount.chain_faults(r))},
        steps_succeeded_twice={r["chain"]: r["succeeded_twice"] for r in chain_reports
                               if r["succeeded_twice"]},
        pushed_twice=workflowcount.pushed_twice(pushed),
        pushes_logged={event: sum(counts.values()) for event, counts in pushed.items()},
        **{f"{key}_states": value for key, value in _states(chains, chaos.connection).items()},
    )
    return figures


def _assert_sound(figures: dict[str, Any]) -> None:
    assert figures["batch_faults"] == {}, figures
    assert figures["chain_faults"] == {}, figures
    assert figures["pushed_twice"] == {"chain_next": [], "batch_callback": []}, figures
    assert figures["not_succeeded_states"] == {}, figures
    held = figures["held_states"]
    assert held and all(states[0] == "held" and set(states[1:]) <= {"waiting"}
                        for states in held.values()), held
    assert figures["failed_children"] == BATCHES * CHILDREN // 10, figures
    assert figures["failed_not_meant"] == 0, figures
    assert figures["summaries"] == [str({"total": CHILDREN, "succeeded": CHILDREN * 9 // 10,
                                         "failed": CHILDREN // 10, "cancelled": 0})], figures
    assert figures["callbacks_fired"] == 2 * BATCHES, figures
    # Each job run again is explained by a kill of its process just after its first
    # finish (its ack died with it), and nothing else.
    assert_sound(figures, allow_duplicates=figures["reruns"], hooks=False)
    assert set(figures["failed_hook_calls"]) <= {0, 1}, figures
    assert figures["failed_hook_calls"].get(0, 0) == figures["hooks_lost"], figures
    assert figures["hooks_lost_unexplained"] == 0, figures
    assert figures["reruns_unexplained"] == 0, figures
    assert figures["runs_unexplained"] == 0, figures
    assert figures["kills"] >= size(4, 40), figures
    # The window between a job's end and its ack was attacked: an aimed shot landed in it,
    # or a kill there had an end told again. Shots after an end land most of the time (a
    # CI run on a loaded machine saw 0 of 6 land, with 11 children told again by the
    # random kills); after a push, only now and then: reported, not required.
    told_again = sum(figures["told_again"].values())
    assert figures["aimed"]["after_end_landed"] + told_again >= 1, figures
