"""Scenario 16: unique jobs under a dispatch storm and a SIGKILLed worker.

*Storm*: 8 processes (``tests.chaos.unique_storm``, real interpreters) set Django up, wait
together for one go file, then each dispatches the same unique job (one key, ``unique_until``
``finished``) as fast as it can, while a worker runs: 125 each, 1,000 in all (CI) / 1,000
each, 8,000 in all (full). The one job queued holds the key until the test opens its gate,
after every process is done. Expected: one dispatch accepted, every other one
``duplicate=True`` naming the accepted job, one job in the ledger, run once.

*Killed*: a worker is SIGKILLed (its process group) while it runs the unique job. Expected:
the key stays held (a dispatch is a duplicate naming the job) while the job waits for
collection and, when it has tries left, while its retry runs; once the job has ended,
succeeded on its retry or failed for good when collected on its last try, the key is free
within seconds (not its ``unique_for``, 300 s) and a new dispatch is accepted and runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from django_jobqueue import dispatch
from django_jobqueue.models import FailedJob
from tests.chaos import jobs
from tests.chaos.harness import (
    FAILED_DB,
    FAST,
    POSTGRES_IN_FULL,
    QUEUE,
    Chaos,
    assert_sound,
    size,
)
from tests.support import REPO
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow]

PROCESSES, EACH = 8, size(125, 1_000)


def _storm(chaos: Chaos, gate: str) -> list[subprocess.Popen[bytes]]:
    """Start the dispatching processes; return once every one waits for the go file."""
    ready = chaos.tmp / "ready"
    ready.mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.chaos.settings", "JQ_TESTING_DB": "1",
           "JQ_LEDGER": str(chaos.ledger), "PYTHONPATH": str(REPO)}
    procs = []
    for n in range(PROCESSES):
        argv = [sys.executable, "-m", "tests.chaos.unique_storm", "--connection",
                chaos.connection, "--gate", gate, "--ready", str(ready), "--go",
                str(chaos.tmp / "go"), "--out", str(chaos.tmp / f"out{n}.jsonl"),
                "--count", str(EACH)]
        log = (chaos.tmp / f"storm{n}.log").open("wb")
        procs.append(subprocess.Popen(argv, cwd=REPO, env=env, stdout=log,
                                      stderr=subprocess.STDOUT))
    wait_until(lambda: len(list(ready.iterdir())) == PROCESSES, timeout=120, interval=0.1)
    return procs


def _results(chaos: Chaos) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every dispatch's answer, and each process's start and end."""
    answers, spans = [], []
    for n in range(PROCESSES):
        for line in (chaos.tmp / f"out{n}.jsonl").read_text().splitlines():
            entry = json.loads(line)
            (spans if "began" in entry else answers).append(entry)
    return answers, spans


@pytest.mark.parametrize("chaos", POSTGRES_IN_FULL, indirect=True)
def test_eight_processes_dispatch_one_key_and_one_job_runs(chaos):
    gate = str(chaos.tmp / "gate")
    chaos.worker("--concurrency", "2", settings=FAST)
    chaos.wait_ready()
    procs = _storm(chaos, gate)
    (chaos.tmp / "go").touch()
    exits = [p.wait(size(120, 600)) for p in procs]
    assert exits == [0] * PROCESSES, [(chaos.tmp / f"storm{n}.log").read_text()[-2000:]
                                      for n in range(PROCESSES)]
    answers, spans = _results(chaos)
    accepted = [a["id"] for a in answers if not a["duplicate"]]
    # The one job runs (it holds the key until its gate opens, after the storm).
    chaos.wait_events("start", 1, timeout=30)
    Path(f"{gate}.1").touch()
    chaos.wait_drained(timeout=60)
    chaos.stop_all()
    starts = [e["id"] for e in chaos.events("start")]
    named = {a["id"] for a in answers if a["duplicate"]}
    figures = chaos.tally(accepted, max_tries=1)
    storm = max(s["ended"] for s in spans) - min(s["began"] for s in spans)
    figures.update(
        processes=PROCESSES,
        dispatches=len(answers),
        accepted=len(accepted),
        duplicates=len(answers) - len(accepted),
        duplicates_naming=len(named),
        duplicates_naming_another=len(named - set(accepted)),
        jobs_started=len(set(starts)),
        runs=len(starts),
        storm_seconds=round(storm, 2),
        dispatches_per_second=round(len(answers) / storm),
    )
    chaos.report("16-unique-storm", figures)
    assert_sound(figures)
    assert figures["dispatches"] == PROCESSES * EACH, figures
    assert len(accepted) == 1, figures
    assert named == set(accepted), figures
    assert starts == accepted, figures


def _lock_holder(chaos: Chaos, job: jobs.UniqueHold) -> str | None:
    name = f"unique:{job.unique_key()}"
    return chaos.transport.coordination.read(QUEUE, [name]).get(name)


def _ended(chaos: Chaos, job_id: str, retried: bool) -> bool:
    """Whether the job ended: succeeded on its retry, or failed for good when collected."""
    if retried:
        return any(e["id"] == job_id and e["ok"] for e in chaos.events("finish"))
    return FailedJob.objects.using(FAILED_DB).filter(uuid=job_id).exists()


@pytest.mark.parametrize("ending", ["retried-then-succeeds", "killed-on-its-last-try"])
@pytest.mark.parametrize("chaos", POSTGRES_IN_FULL, indirect=True)
def test_a_unique_job_whose_worker_died_holds_its_key_until_it_ends(chaos, ending):
    retried = ending == "retried-then-succeeds"
    gate = str(chaos.tmp / "gate")
    job = jobs.UniqueHold(16, max_tries=2 if retried else 1, gate=gate)

    def again() -> Any:
        return dispatch(jobs.UniqueHold(*job._jq_args, **job._jq_kwargs),
                        connection=chaos.connection, queue=QUEUE)

    first = again()
    victim = chaos.worker("--concurrency", "1", settings=FAST)
    wait_until(lambda: any(e["id"] == first.id for e in chaos.events("start")), timeout=60)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    killed_at = time.time()
    held = [again()]  # its worker is dead, its lease not yet out
    chaos.worker("--concurrency", "1", settings=FAST)
    if retried:
        wait_until(lambda: any(e["id"] == first.id and e["attempt"] == 2
                               for e in chaos.events("start")), timeout=60)
        held.append(again())  # collected, and running again elsewhere
        Path(f"{gate}.2").touch()
    wait_until(lambda: _ended(chaos, first.id, retried), timeout=60, interval=0.05)
    ended_at = time.time()
    wait_until(lambda: _lock_holder(chaos, job) is None, timeout=10, interval=0.02)
    freed_after = time.time() - ended_at
    after = again()
    Path(f"{gate}.1").touch()  # the new job's first attempt may finish
    chaos.wait_drained(timeout=60)
    chaos.stop_all()
    ids = [first.id] + ([] if after.duplicate else [after.id])
    figures = chaos.tally(ids, max_tries=2 if retried else 1)
    figures.update(
        ending=ending,
        held_dispatches=len(held),
        held_naming_the_job=sum(d.duplicate and d.id == first.id for d in held),
        end_after_kill=round(ended_at - killed_at, 2),
        key_freed_after_end=round(freed_after, 3),
        dispatch_after_end_accepted=not after.duplicate,
    )
    chaos.report(f"16-unique-killed-{ending}", figures)
    assert_sound(figures)
    assert all(d.duplicate and d.id == first.id for d in held), figures
    assert not after.duplicate and after.id != first.id, figures
    assert figures["done"] == (2 if retried else 1) and figures["failed"] == (0 if retried else 1)
