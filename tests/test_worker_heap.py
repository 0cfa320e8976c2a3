"""``runworker`` leaves what start-up loaded out of later garbage collections, before it
forks its horses (see ``django_jobqueue/worker/heap.py``)."""

from __future__ import annotations

import pytest

from tests import jobs
from tests.support import ledger

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]


def test_a_horse_shares_the_supervisors_frozen_start_up_objects(start_worker, empty_queues):
    jobs.FrozenCount().dispatch(connection="redis")
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(60) == 0, worker.output()
    [event] = ledger.events("frozen")
    # Django, the project and the worker: tens of thousands of objects at least.
    assert event["count"] > 10_000, event
