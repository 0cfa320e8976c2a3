"""Tasks and the failed-job tools: operator retries, unknown task paths, a results database
that is down, per-task policy, backend checks and the prune command."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from django_jobqueue import failures
from django_jobqueue.models import FailedJob, TaskResultRecord
from django_jobqueue.tasks import JobQueueTask, RunTask, task_options
from django_jobqueue.tasks.compat import TaskResultStatus, task_backends
from django_jobqueue.tasks.compat import task as compat_task
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from tests import tasks
from tests.support import ledger

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _empty_memory(ledger):
    for queue in ("default", "high", "low"):
        get_transport("memory").clear(queue)


def test_operator_retry_of_a_failed_task_updates_its_result(tmp_path):
    flag = tmp_path / "broken"
    flag.write_text("")
    result = tasks.fails_while.enqueue(str(flag))
    work(connection="memory")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    row = FailedJob.objects.get(uuid=result.id)
    # Filed under the task, not under the engine's RunTask job.
    assert row.job_class == "tests.tasks.fails_while"

    flag.unlink()
    new_job_id = failures.retry(row.pk)
    assert new_job_id != result.id
    assert work(connection="memory").succeeded == 1
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, "done")
    assert result.attempts == 2 and len(result.errors) == 1
    assert not FailedJob.objects.exists()


def test_unknown_task_path_fails_at_once_without_importing_it():
    RunTask(
        backend="default", task="os.system", args=["echo pwned"], kwargs={},
        result_id="f" * 32, policy={"max_tries": 5},
    ).dispatch(connection="memory")
    outcome = work(connection="memory")
    assert (outcome.failed, outcome.retried) == (1, 0)
    row = FailedJob.objects.get(uuid="f" * 32)
    assert row.exception_class == "django_jobqueue.tasks.job.UnknownTask"
    assert row.job_class == "os.system"  # a label only: nothing was imported
    assert "'os.system'" in row.message
    stored = TaskResultRecord.objects.get(id="f" * 32)
    assert stored.status == "FAILED" and stored.worker_ids == ["inline"]


def test_results_database_down_never_costs_the_job():
    options = {"CONNECTION": "memory", "RESULTS_DATABASE": "broken"}
    broken = {"default": {"BACKEND": "django_jobqueue.tasks.JobQueueBackend",
                          "OPTIONS": options}}
    with override_settings(TASKS=broken):
        RunTask(
            backend="default", task="tests.tasks.add", args=[1, 2], kwargs={},
            result_id="a" * 32,
        ).dispatch(connection="memory")
        assert work(connection="memory").succeeded == 1
    assert [e["value"] for e in ledger.events("task")] == [[1, 2]]


def test_policy_precedence_task_fields_then_function_options_then_backend_options():
    with override_settings(TASKS={"default": {
        "BACKEND": "django_jobqueue.tasks.JobQueueBackend",
        "QUEUES": ["default", "high", "low"],
        "OPTIONS": {"CONNECTION": "memory", "MAX_TRIES": 7, "TIMEOUT": 9},
    }}):
        result = tasks.flaky.enqueue("p", fails=0)
        own = JobQueueTask(func=tasks.add.func, backend="default", max_tries=2)
        own.enqueue(1, 1)
        plain = JobQueueTask(func=tasks.explode.func, backend="default")
        plain.enqueue("x")
        payload, own_payload, plain_payload = _payloads()
        # @task_options gave max_tries=3, retry_after=0; the backend filled in the timeout.
        assert (payload["max_tries"], payload["retry_after"], payload["timeout"]) == (3, 0, 9)
        assert payload["id"] == result.id
        assert (own_payload["max_tries"], plain_payload["max_tries"]) == (2, 7)


def _payloads() -> list[dict]:
    """The queued payloads, oldest first (reserved: the test runs none of them)."""
    reserved = get_transport("memory").reserve(["default"], 10, 30.0, "test")
    return [json.loads(job.payload) for job in reserved]


def test_task_decorator_keywords_reach_our_task_class():
    # Django 6.1's @task and the backport pass unknown keywords to the backend's task_class.
    with override_settings(TASKS={"default": {
        "BACKEND": "django_jobqueue.tasks.JobQueueBackend",
        "OPTIONS": {"CONNECTION": "memory"},
    }}):
        decorated = compat_task(max_tries=4, retry_after=[0, 5], timeout=7)(tasks.add.func)
        assert isinstance(decorated, JobQueueTask)
        decorated.enqueue(1, 2)
        [payload] = _payloads()
    assert (payload["max_tries"], payload["retry_after"], payload["timeout"]) == (4, [0, 5], 7)


def test_bad_policy_raises_at_definition():
    with pytest.raises(ValueError, match="max_tries"):
        task_options(max_tries=0)
    with pytest.raises(ValueError, match="cannot be stored"):
        task_options(retry_after=lambda retry: 1)


def test_backend_check_reports_bad_options():
    with override_settings(TASKS={"default": {
        "BACKEND": "django_jobqueue.tasks.JobQueueBackend",
        "OPTIONS": {"CONNECTION": "nope", "RESULTS_DATABASE": "nodb", "MAX_TRIES": 0,
                    "RESULT_RETENTION_DAYS": -1},
    }}):
        ids = sorted(message.id for message in task_backends["default"].check())
    assert ids == [f"django_jobqueue.E10{n}" for n in (1, 2, 3, 4)]
    assert list(task_backends["database"].check()) == []


def _finished_result(result_id: str, days_ago: float, status: str = "SUCCESSFUL") -> None:
    TaskResultRecord.objects.create(
        id=result_id, backend="default", task_path="tests.tasks.add", queue="default",
        status=status, enqueued_at=timezone.now(),
        finished_at=None if status == "READY" else timezone.now() - dt.timedelta(days=days_ago),
    )


# The command prunes the results database of every configured backend.
@pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])
def test_prune_task_results_deletes_old_finished_results_only():
    _finished_result("old-ok", 10)
    _finished_result("old-failed", 9, "FAILED")
    _finished_result("recent", 1)
    _finished_result("waiting", 30, "READY")
    out = StringIO()
    call_command("prune_task_results", "--dry-run", stdout=out)
    assert "Would delete 2 task results" in out.getvalue()
    assert TaskResultRecord.objects.count() == 4

    call_command("prune_task_results", stdout=out)  # the backend's 7-day retention
    assert sorted(TaskResultRecord.objects.values_list("id", flat=True)) == ["recent", "waiting"]
    call_command("prune_task_results", "--days", "0.5", stdout=out)
    assert list(TaskResultRecord.objects.values_list("id", flat=True)) == ["waiting"]
