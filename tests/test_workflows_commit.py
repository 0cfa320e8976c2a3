"""A chain dispatched inside a transaction whose steps live on different stores: its
later steps' ``waiting`` records are written before its first step can run, whichever
store waits for the commit."""

from __future__ import annotations

import pytest
from django.db import transaction

from django_jobqueue import job_status
from django_jobqueue.transports import get_transport
from django_jobqueue.workflows import chain
from tests import jobs

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])


def test_a_first_step_that_waits_for_the_commit_takes_its_notes_with_it(empty_queues):
    with transaction.atomic():
        sent = chain(jobs.RedisStep("a"), jobs.Step("b")).dispatch()
        assert get_transport("redis").size("default").total == 0
        assert job_status(sent.steps[1].id, "default").state == "unknown"
    assert get_transport("redis").size("default").ready == 1
    assert job_status(sent.steps[1].id, "default").state == "waiting"


def test_a_first_step_that_joins_the_transaction_is_noted_before_it(empty_queues):
    with transaction.atomic():
        sent = chain(jobs.Step("a"), jobs.RedisStep("b")).dispatch()
        # The note is on Redis, outside the transaction: written before the step, which
        # is not visible to anyone until the commit.
        assert job_status(sent.steps[1].id, "redis").state == "waiting"
    assert get_transport("default").size("default").ready == 1
    assert job_status(sent.steps[1].id, "redis").state == "waiting"
