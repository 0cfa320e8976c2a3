"""``manage.py retry_failed_jobs``."""

from __future__ import annotations

import json
import time

import pytest

from django_jobqueue import failures
from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from tests.support.commands import command, failing_command, refused
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue


def pushed(queue="default"):
    return [json.loads(job.payload) for job in
            get_transport("memory").reserve([queue], 100, 30, "t")]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_retry_by_ids(store):
    a, b, c = (failures.record(make()).id for _ in range(3))
    out, _ = command("retry_failed_jobs", str(a), str(c))
    assert out == "Retried 2 failed jobs (default 2).\n"
    assert list(FailedJob.objects.using(store).values_list("pk", flat=True)) == [b]
    assert len(pushed()) == 2


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_gone_classes_are_reported_kept_and_exit_1(store):
    ok = failures.record(make()).id
    gone = failures.record(make(job="shop.jobs.Deleted")).id
    out = failing_command("retry_failed_jobs", "--all")
    assert out.splitlines()[:2] == ["Retried 1 failed job (default 1).",
                                    "Kept 1 that cannot be retried:"]
    assert f"  {gone}: no registered job class named 'shop.jobs.Deleted'" in out
    assert list(FailedJob.objects.using(store).values_list("pk", flat=True)) == [gone]
    assert ok not in FailedJob.objects.using(store).values_list("pk", flat=True)


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_filters_select_what_is_retried(store):
    old = make(queue="q", exc="KeyError", age_hours=5)
    new = make(queue="q", exc="KeyError")
    other = make(queue="q", exc="OSError", job="tests.jobs.AsyncRecord")
    for record in (old, new, other):
        failures.record(record)
    command("retry_failed_jobs", "--since", "2h", "--exception-class", "KeyError")
    assert [p["retry_of"] for p in pushed("q")] == [new.uuid]
    command("retry_failed_jobs", "--job-class", "tests.jobs.AsyncRecord", "--queue", "q")
    assert [p["retry_of"] for p in pushed("q")] == [other.uuid]
    command("retry_failed_jobs", "--until", "1h", "--fingerprint", old_fingerprint(store))
    assert [p["retry_of"] for p in pushed("q")] == [old.uuid]
    assert FailedJob.objects.using(store).count() == 0


def old_fingerprint(alias):
    return FailedJob.objects.using(alias).get().fingerprint


SQLITE = [STORES[0]]


@pytest.mark.parametrize("store", SQLITE, indirect=True)
def test_dry_run_changes_nothing(store):
    failures.record(make())
    out, _ = command("retry_failed_jobs", "--all", "--dry-run")
    assert out == "Would retry 1 failed job (default 1).\n"
    assert FailedJob.objects.count() == 1 and pushed() == []


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize(("args", "match"), [
    ([], "give failed-job IDs or filters"),
    (["abc"], "not a failed-job id"),
    (["0"], "not a failed-job id"),
    (["--fallback", "12"], "not a job id"),
    (["--all", "--rate", "0"], "must be a number above 0"),
    (["--all", "--rate", "inf"], "must be a finite number"),
    (["--since", "yesterday"], "neither an ISO datetime .* nor a time ago"),
    (["--until", "5x"], "neither an ISO datetime"),
])
def test_bad_arguments_change_nothing(args, match):
    failures.record(make())
    refused("retry_failed_jobs", *args, match=match)
    assert FailedJob.objects.count() == 1


@pytest.mark.parametrize("store", SQLITE, indirect=True)
def test_rate_paces_the_retries(store):
    for _ in range(5):
        failures.record(make())
    started = time.monotonic()
    out, _ = command("retry_failed_jobs", "--all", "--rate", "50")
    assert time.monotonic() - started >= 0.08  # four gaps of 1/50 s at least
    assert out.startswith("Retried 5 failed jobs") and len(pushed()) == 5


@pytest.mark.parametrize("store", SQLITE, indirect=True)
def test_progress_lines_with_verbosity_2(store):
    for _ in range(3):
        failures.record(make())
    out, _ = command("retry_failed_jobs", "--all", verbosity=2)
    assert out.splitlines() == ["retried or kept 1 failed job so far",
                                "retried or kept 2 failed jobs so far",
                                "retried or kept 3 failed jobs so far",
                                "Retried 3 failed jobs (default 3)."]
    failures.record(make())
    out, _ = command("retry_failed_jobs", "--all", "--dry-run", verbosity=2)
    assert out.splitlines()[:2] == ["checked 1 failed job so far",
                                    "Would retry 1 failed job (default 1)."]


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_redis_store_entries_by_job_id(redis_client):
    with jobqueue(FAILED_STORE="redis", DEFAULT_CONNECTION="memory"):
        get_transport("memory").clear("default")
        keep, retry = make(), make()
        failures.record(keep)
        failures.record(retry)
        out, _ = command("retry_failed_jobs", retry.uuid)
        assert out == "Retried 1 failed job (default 1).\n"
        assert [p["retry_of"] for p in pushed()] == [retry.uuid]
        assert [r.uuid for r in failures.select(queue="default")] == [keep.uuid]
        out = failing_command("retry_failed_jobs", "f" * 32)
        assert "no failed job with job id " + "f" * 32 in out
