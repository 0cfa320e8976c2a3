"""Records kept for jobs that did not fail (cancelled, expired): the ``outcome`` criterion on
the table and in Redis, no fingerprint and no new-kind alert, and the commands that count
failures leave them out."""

from __future__ import annotations

import pytest

from django_jobqueue import failures
from django_jobqueue.failures.record import classes_of, outcome_of
from tests.support.commands import command, failing_command, refused
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue

CANCELLED = "django_jobqueue.exceptions.JobCancelled"
EXPIRED = "django_jobqueue.exceptions.JobExpired"
announced = []


def remember(record):
    announced.append(record)


def record_three():
    return {outcome: failures.record(make(exc=exc)) for outcome, exc in
            (("failed", "KeyError"), ("cancelled", CANCELLED), ("expired", EXPIRED))}


def selected(**criteria):
    return {record.exception_class for record in failures.select(**criteria)}


def test_outcome_of_an_exception_class():
    assert [outcome_of(c) for c in ("KeyError", CANCELLED, EXPIRED)] == [
        "failed", "cancelled", "expired"]
    assert classes_of("expired") == [EXPIRED] and set(classes_of("failed")) == {CANCELLED,
                                                                               EXPIRED}
    with pytest.raises(ValueError, match="unknown outcome"):
        classes_of("lost")


@pytest.mark.parametrize("store", STORES[:2], indirect=True)
def test_the_table_selects_by_outcome_and_cancelled_jobs_have_no_kind(store):
    announced.clear()
    with jobqueue(NEW_FINGERPRINT_HANDLER="tests.test_failure_outcomes.remember"):
        recorded = record_three()
    assert selected(outcome="failed") == {"KeyError"}
    assert selected(outcome="cancelled") == {CANCELLED}
    assert failures.count(outcome="expired", queue="default") == 1
    assert [r.exception_class for r in announced] == ["KeyError"]  # one new kind, not three
    assert recorded["failed"].fingerprint and not recorded["cancelled"].fingerprint
    assert [g["exception_class"] for g in failures.stats()["by_fingerprint"]] == ["KeyError"]
    with pytest.raises(ValueError, match="unknown outcome"):
        failures.count(outcome="lost")


def test_the_redis_store_selects_by_outcome(redis_client):
    with jobqueue(FAILED_STORE="redis", DEFAULT_CONNECTION="memory"):
        record_three()
        assert selected(outcome="failed") == {"KeyError"}
        assert selected(outcome="expired") == {EXPIRED}
        assert failures.count(outcome="cancelled") == 1
        assert failures.get(failures.select(outcome="cancelled")[0].uuid).fingerprint == ""


@pytest.mark.parametrize("store", STORES[:1], indirect=True)
def test_commands_that_count_failures_leave_them_out(store):
    record_three()
    out, _ = command("check_failed_jobs", "--threshold", "1")
    assert out.startswith("OK: 1 failed job in the last 1h")
    assert failing_command("check_failed_jobs", "--threshold", "0").startswith("ALERT: 1 ")
    out, _ = command("failed_jobs", "--outcome", "cancelled", "--json")
    assert [line.count(CANCELLED) for line in out.splitlines()] == [1]
    refused("failed_jobs", "--outcome", "lost", match="invalid choice")
