"""Tasks run by real ``runworker`` subprocesses: results read from another process,
timeouts, killed work horses and tasks abandoned by a worker that died."""

from __future__ import annotations

import datetime as dt
import signal

import pytest
from django.utils import timezone

from django_jobqueue.models import FailedJob
from django_jobqueue.tasks.compat import TaskResultStatus, task_backends
from tests import tasks
from tests.support import ledger
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    # Workers check every database at start, so all test databases must exist.
    pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"]),
]

BACKENDS = [
    pytest.param("database", id="sqlite"),
    pytest.param("mysql", id="mariadb"),
    pytest.param("postgres", id="postgresql"),
    pytest.param("redis", id="redis"),
]


def finished(alias: str, result_id: str):
    """The result once it is finished, else None (for wait_until)."""
    result = task_backends[alias].get_result(result_id)
    return result if result.is_finished else None


@pytest.mark.parametrize("alias", BACKENDS)
def test_results_are_read_from_another_process(alias, start_worker, empty_queues):
    connection = task_backends[alias].connection_name
    ok = tasks.add.using(backend=alias).enqueue(20, 22)
    bad = tasks.explode.using(backend=alias).enqueue("from the worker")
    worker = start_worker("default", "--connection", connection, "--name", "w-tasks")
    result = wait_until(lambda: finished(alias, ok.id), timeout=30)
    assert (result.status, result.return_value, result.worker_ids) == (
        TaskResultStatus.SUCCESSFUL, 42, ["w-tasks"]
    )
    failed = wait_until(lambda: finished(alias, bad.id), timeout=30)
    assert failed.status == TaskResultStatus.FAILED
    assert "from the worker" in failed.errors[0].traceback
    assert FailedJob.objects.get(uuid=bad.id).worker == "w-tasks"
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0


def test_timeout_is_enforced_per_attempt(start_worker, empty_queues):
    result = tasks.sleepy.using(backend="database").enqueue(30)
    worker = start_worker("--burst", "--connection", "default")
    assert worker.wait(60) == 0
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in result.errors] == [
        "django_jobqueue.exceptions.JobTimeout"
    ] * 2
    assert "timeout of 0.5s" in result.errors[0].traceback
    assert FailedJob.objects.get(uuid=result.id).attempts == 2


def test_killed_work_horse_fails_the_task(start_worker, empty_queues):
    result = tasks.die.using(backend="redis").enqueue()
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(60) == 0
    result.refresh()
    assert result.status == TaskResultStatus.FAILED and result.attempts == 1
    [error] = result.errors
    assert error.exception_class_path == "django_jobqueue.exceptions.WorkHorseKilled"
    assert FailedJob.objects.get(uuid=result.id).term_signal == signal.SIGKILL


def test_task_of_a_dead_worker_is_collected_and_retried(start_worker, empty_queues):
    fast_lease = {"LEASE": 2.0, "HEARTBEAT": 0.5, "MAINTENANCE_INTERVAL": 0.5}
    result = tasks.slow_first_attempt.using(backend="database").enqueue(30)
    first = start_worker("--connection", "default", settings_overrides=fast_lease)
    wait_until(lambda: ledger.events("started"), timeout=30)
    assert task_backends["database"].get_result(result.id).status == TaskResultStatus.RUNNING
    first.signal(signal.SIGKILL)
    first.wait(5)
    second = start_worker("--connection", "default", settings_overrides=fast_lease)
    done = wait_until(lambda: finished("database", result.id), timeout=30)
    assert (done.status, done.return_value, done.attempts) == (TaskResultStatus.SUCCESSFUL, 2, 2)
    assert [e.exception_class_path for e in done.errors] == [
        "django_jobqueue.exceptions.AbandonedJobError"
    ]
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0


def test_tasks_run_as_enqueued_on_their_own_backend_and_queue(start_worker, empty_queues):
    later = timezone.now() + dt.timedelta(seconds=1)
    described = tasks.describe.using(
        backend="redis", priority=5, queue_name="low", run_after=later
    ).enqueue()
    # The other backend's QUEUES hold neither "default" nor "low".
    moved = tasks.add.using(backend="other", queue_name="other_q").enqueue(20, 22)
    worker = start_worker("low", "other_q", "--connection", "redis")
    done = wait_until(lambda: finished("other", moved.id), timeout=30)
    assert (done.status, done.errors) == (TaskResultStatus.SUCCESSFUL, []), done.errors
    assert (done.return_value, done.task.backend, done.task.queue_name) == (42, "other", "other_q")
    result = wait_until(lambda: finished("redis", described.id), timeout=30)
    expected = {"backend": "redis", "queue_name": "low", "priority": 5,
                "run_after": later.isoformat()}
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    # The context in the work horse saw the task as enqueued, and so does get_result().
    assert [e["value"] for e in ledger.events("task") if e["name"] == "describe"] == [expected]
    assert tasks.describe_task(result.task) == expected
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0


def test_sys_exit_fails_the_task_with_system_exit(start_worker, empty_queues):
    result = tasks.exits.using(backend="redis").enqueue(3)
    tasks.add.using(backend="redis").enqueue(1, 1)
    worker = start_worker("--burst", "--connection", "redis")
    assert worker.wait(60) == 0, worker.output()
    result.refresh()
    assert (result.status, result.attempts) == (TaskResultStatus.FAILED, 2)
    assert [e.exception_class for e in result.errors] == [SystemExit, SystemExit]
    assert "sys.exit(code)" in result.errors[-1].traceback
    row = FailedJob.objects.get(uuid=result.id)
    assert row.exception.startswith("SystemExit: 3\n"), row.exception
    assert row.attempts == 2
    # One work horse ran both attempts and the next task: sys.exit() did not end it.
    assert len({e["pid"] for e in ledger.events("task")}) == 1
    assert [e["name"] for e in ledger.events("task")].count("add") == 1
