"""The jobs that ship with the app: ``django_jobqueue.PruneFailedJobs``."""

from __future__ import annotations

import datetime as dt

import pytest

from django_jobqueue import failures
from django_jobqueue.builtin_jobs import PruneFailedJobs
from django_jobqueue.conf import DATABASE_STORE
from django_jobqueue.exceptions import JobQueueError
from django_jobqueue.failures.base import PruneReport
from django_jobqueue.jobs import registered
from django_jobqueue.models import FailedJob
from tests.support.factories import make
from tests.support.settings_overrides import jobqueue

DAY = 24


@pytest.fixture
def aged():
    """Failed jobs 1, 10, 40 and 60 days old, in the table alone."""
    with jobqueue(FAILED_STORE={"STORE": DATABASE_STORE}):
        for days in (1, 10, 40, 60):
            failures.record(make(queue=f"q{days}", age_hours=days * DAY))
        yield


def queues():
    return sorted(FailedJob.objects.values_list("queue", flat=True))


def test_registered_at_start_under_its_short_name():
    cls = registered()["django_jobqueue.PruneFailedJobs"]
    assert cls is PruneFailedJobs
    assert not cls._jq_created_late  # a worker knows it: imported by the app's ready()


@pytest.mark.django_db
def test_prunes_failed_jobs_older_than_days(aged):
    assert PruneFailedJobs(days=30).handle() == 2
    assert queues() == ["q1", "q10"]


@pytest.mark.django_db
def test_days_default_to_the_retention_setting_when_it_runs(aged):
    job = PruneFailedJobs()
    with jobqueue(FAILED_STORE={"STORE": DATABASE_STORE}, FAILED_RETENTION_DAYS=5):
        assert job.handle() == 3
    assert queues() == ["q1"]


@pytest.mark.django_db
def test_calls_the_prune_service_like_the_command(aged, monkeypatch):
    seen = {}

    def prune_report(**options):
        seen.update(options)
        return PruneReport(by_store={"database": {"a": 4}})

    monkeypatch.setattr(failures, "prune_report", prune_report)
    assert PruneFailedJobs(days=2.5).handle() == 4
    # The command's service, given the age only: it computes the cut-off and batches.
    assert seen == {"older_than": dt.timedelta(days=2.5)}


@pytest.mark.django_db
def test_a_store_that_could_not_be_pruned_fails_the_job(aged, monkeypatch):
    monkeypatch.setattr(failures, "prune_report", lambda **o: PruneReport(
        by_store={"database": {"a": 1}}, errors={"redis": "ConnectionError: refused"}))
    with pytest.raises(JobQueueError, match="redis: ConnectionError: refused"):
        PruneFailedJobs(days=1).handle()


@pytest.mark.parametrize("days", [-1, "30", True, 10**9])
def test_bad_days_raise_where_the_job_is_made(days):
    with pytest.raises(ValueError, match="days"):
        PruneFailedJobs(days=days)
