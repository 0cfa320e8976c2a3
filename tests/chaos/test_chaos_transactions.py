"""Scenario 12: transactional dispatch. Jobs dispatched inside transactions that roll back
never run; jobs dispatched inside transactions that commit all run, and none before the
commit: each job checks that a row written in its transaction is visible when it runs.

Workers run throughout, and every transaction holds its dispatch a moment before it ends, so
a push made before the commit would be taken and caught. Redis pushes wait for
``on_commit``; the database transport inserts inside the caller's transaction.
"""

from __future__ import annotations

import random
import time

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from tests.chaos import jobs
from tests.chaos.harness import FAST, MARIADB_DB, QUEUE, assert_sound, size

pytestmark = [pytest.mark.slow, MARIADB_DB]

EACH = size(150, 1000)
CASES = [pytest.param(("redis", "mysql"), id="redis"),
         pytest.param(("mysql", "mysql"), id="mariadb"),
         pytest.param(("default", "default"), id="sqlite")]


class Rollback(Exception):
    pass


@pytest.mark.parametrize("case", CASES)
def test_rolled_back_dispatches_never_run_committed_ones_run_after_commit(case, request):
    connection, db = case
    chaos = request.getfixturevalue("chaos_factory")(connection)
    rng = random.Random(12)
    for _ in range(2):
        chaos.worker("--concurrency", "2", settings=FAST)
    chaos.wait_ready()
    committed, rolled_back = [], []
    for i in range(2 * EACH):
        commit = i % 2 == 0
        name = f"w{i}"
        try:
            with transaction.atomic(using=db):
                Group.objects.using(db).create(name=name)
                job = jobs.Witness(i, db=db, name=name)
                dispatched = job.dispatch(connection=connection, queue=QUEUE, using=db)
                if rng.random() < 0.1:
                    time.sleep(0.02)  # a worker polling now would see an early push
                if not commit:
                    raise Rollback()
        except Rollback:
            rolled_back.append(dispatched.id)
        else:
            committed.append(dispatched.id)
    chaos.wait_events("finish", len(committed), timeout=size(120, 600))
    drain = chaos.wait_drained(timeout=60)
    chaos.stop_all()
    figures = chaos.tally(committed)
    ran = {e["id"]: e for e in chaos.events("start")}
    figures.update(
        committed=len(committed),
        rolled_back=len(rolled_back),
        rolled_back_ran=sum(1 for i in rolled_back if i in ran),
        ran_before_commit=sum(1 for i in committed if i in ran and not ran[i]["seen"]),
        drain_seconds=drain,
    )
    chaos.report("12-transactional-dispatch", figures)
    assert_sound(figures)
    assert figures["done"] == EACH
    assert figures["rolled_back_ran"] == 0 and figures["ran_before_commit"] == 0
