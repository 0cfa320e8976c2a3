"""A job's ``failed()`` hook when its worker is SIGKILLed after the failure is recorded and
the job removed, before a horse ran the hook (found by chaos scenario 18, where up to 4 of 1,000
failing children lost their hook this way at full size on SQLite).

The supervisor records the failure, removes the job from its queue, then has the horse that
ran the job call the hook. The whole worker is killed while the hook runs (here a slow
one; in the scenario, before it began). Nothing anywhere owes the hook any more: the
job is gone from its queue and its record is written, so no worker takes it up again. The
hook is at most once under SIGKILL, where docs/failures.md says "once". Known and open:
making it at least once means keeping the job (or a mark of the owed hook) in the store
until the hook has run, a change of the settle order left to a decision.
"""

from __future__ import annotations

import os
import signal

import pytest

from django_jobqueue import failures
from django_jobqueue.exceptions import FailedJobNotFound
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow,
              pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])]


def _recorded(job_id: str) -> bool:
    try:
        failures.get(job_id)
    except FailedJobNotFound:
        return False
    return True


@pytest.mark.xfail(strict=True, reason="failed() is lost with a worker SIGKILLed after the "
                   "job's record and removal (known, open: see the module's docstring)")
def test_the_hook_of_a_removed_failure_survives_its_worker_sigkilled(start_worker,
                                                                    empty_queues):
    failing = jobs.SlowHook("f", seconds=1).dispatch(connection="redis")
    worker = start_worker("--connection", "redis", "--concurrency", "1")
    # The hook runs: the failure is recorded and the job gone from its queue.
    wait_until(lambda: ledger.events("hook_started"), timeout=30)
    assert _recorded(failing.id)
    assert get_transport("redis").size("default").total == 0
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    # Another worker, whose maintenance collects what a dead worker held within seconds.
    start_worker("--connection", "redis", "--concurrency", "1",
                 settings_overrides={"LEASE": 2.0, "MAINTENANCE_INTERVAL": 0.5})
    wait_until(lambda: ledger.events("failed_hook"), timeout=8)
