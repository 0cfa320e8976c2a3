"""``manage.py prune_failed_jobs``."""

from __future__ import annotations

import pytest

from django_jobqueue import failures
from django_jobqueue.models import FailedJob
from tests.support.commands import TTY, command, refused
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue, mysql_down

DAY = 24


def queues(alias="default"):
    return sorted(FailedJob.objects.using(alias).values_list("queue", flat=True))


@pytest.fixture
def aged(store):
    """Failed jobs aged 0-60 days in queues a and b, 2 of b older than 30 days."""
    for queue, days in [("a", 0), ("a", 10), ("a", 40), ("b", 35), ("b", 60), ("b", 1)]:
        failures.record(make(queue=queue, exc="KeyError" if queue == "a" else "OSError",
                            age_hours=days * DAY))
    return store


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_days_deletes_older_jobs_and_reports_by_queue(aged):
    out, _ = command("prune_failed_jobs", "--days", "30")
    assert out.splitlines()[0] == "Deleted 3 failed jobs:"
    assert out.splitlines()[1:] == ["  queue  database  redis", "  a             1      0",
                                    "  b             2      0"]
    assert queues(aged) == ["a", "a", "b"]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_dry_run_reports_and_deletes_nothing(aged):
    out, _ = command("prune_failed_jobs", "--hours", str(30 * DAY), "--dry-run")
    assert out.startswith("Would delete 3 failed jobs:")
    assert FailedJob.objects.using(aged).count() == 6


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize(("args", "left"), [
    (["--queue", "b"], ["a", "a", "a"]),
    (["--exception-class", "KeyError"], ["b", "b", "b"]),
    (["--keep", "2"], ["a", "b"]),
    (["--keep", "1", "--queue", "a"], ["a", "b", "b", "b"]),
    (["--days", "30", "--queue", "a"], ["a", "a", "b", "b", "b"]),
    (["--all"], []),
])
def test_the_three_cleanups_and_all(args, left):
    with jobqueue(FAILED_DATABASE="default"):
        for queue, days in [("a", 0), ("a", 10), ("a", 40), ("b", 35), ("b", 60), ("b", 1)]:
            failures.record(make(queue=queue, exc="KeyError" if queue == "a" else "OSError",
                                age_hours=days * DAY))
        command("prune_failed_jobs", *args)
    assert queues() == left


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize(("args", "match"), [
    ([], "refusing to delete every failed job"),
    (["--days", "-1"], "must be a number of at least 0"),
    (["--days", "x"], "not a float"),
    (["--days", "nan"], "must be a finite number"),
    (["--days", "1", "--hours", "1"], "not allowed with argument"),
    (["--keep", "-1"], "at least 0"),
    (["--batch-size", "0"], "at least 1"),
    (["--days", "99999999"], "before the year 1"),
])
def test_bad_arguments_change_nothing(args, match):
    failures.record(make(age_hours=100 * DAY))
    refused("prune_failed_jobs", *args, match=match)
    assert FailedJob.objects.count() == 1


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_zero_days_prunes_every_failure_until_now_like_the_admin():
    failures.record(make(age_hours=1))
    out, _ = command("prune_failed_jobs", "--days", "0", "--dry-run")
    assert out.startswith("Would delete 1 failed job")
    command("prune_failed_jobs", "--hours", "0")
    assert FailedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_refusal_exits_with_the_usage_code():
    assert refused("prune_failed_jobs").returncode == 2


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_progress_only_with_verbosity_2_or_a_terminal():
    for _ in range(5):
        failures.record(make(age_hours=40 * DAY))
    out, _ = command("prune_failed_jobs", "--days", "30", "--batch-size", "2", verbosity=2)
    assert out.splitlines()[:3] == ["deleted 2 failed jobs so far", "deleted 4 failed jobs so far",
                                    "deleted 5 failed jobs so far"]
    for _ in range(3):
        failures.record(make(age_hours=40 * DAY))
    out, _ = command("prune_failed_jobs", "--days", "30", "--batch-size", "2")
    assert "so far" not in out and out.startswith("Deleted 3 failed jobs:")
    failures.record(make(age_hours=40 * DAY))
    tty = TTY()
    command("prune_failed_jobs", "--days", "30", stdout=tty)
    assert tty.getvalue().startswith("\rdeleted 1 failed job so far\nDeleted 1 failed job:")


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_prunes_the_redis_fallback_too(redis_client):
    with mysql_down():
        failures.record(make(queue="a", age_hours=40 * DAY))
        failures.record(make(queue="a"))
    with jobqueue(FAILED_DATABASE="mysql"):
        failures.record(make(queue="a", age_hours=50 * DAY))
        out, _ = command("prune_failed_jobs", "--days", "30")
    assert out.splitlines() == ["Deleted 2 failed jobs:", "  queue  database  redis",
                                "  a             1      1"]
    assert redis_client.llen("jqtest:queue:failed:a") == 1


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_unreachable_fallback_is_reported_on_stderr():
    with jobqueue(FAILED_REDIS={"URL": "redis://127.0.0.1:9/0"}):
        failures.record(make(age_hours=40 * DAY))
        out, err = command("prune_failed_jobs", "--days", "30")
    assert out.startswith("Deleted 1 failed job:")
    assert "The redis store was not pruned" in err
