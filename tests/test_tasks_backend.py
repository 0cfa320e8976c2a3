"""The Django Tasks backend contract, run in-process on the memory, database and Redis
transports: statuses, return values, errors, run_after, priorities, queues, async, signals."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from django_jobqueue.models import FailedJob, TaskResultRecord
from django_jobqueue.tasks import JobQueueBackend
from django_jobqueue.tasks.compat import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)
from django_jobqueue.testing import WorkResult, work
from django_jobqueue.transports import get_transport
from tests import tasks
from tests.support import ledger

QUEUES = ["default", "high", "low"]
BACKENDS = [
    pytest.param("default", id="memory"),
    pytest.param("database", id="sqlite"),
    pytest.param("redis", id="redis"),
]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, ledger) -> Iterator[str]:
    """A backend alias whose connection starts and ends empty."""
    if request.param == "redis":
        request.getfixturevalue("redis_client")
    transport = get_transport(task_backends[request.param].connection_name)
    for queue in QUEUES:
        transport.clear(queue)
    yield request.param
    for queue in QUEUES:
        transport.clear(queue)


def run(alias: str, **kwargs) -> WorkResult:
    """Run the backend's ready tasks in this process, like a worker would."""
    return work(QUEUES, connection=task_backends[alias].connection_name, **kwargs)


def test_capabilities_are_declared():
    backend = task_backends["default"]
    assert isinstance(backend, JobQueueBackend)
    assert backend.supports_defer and backend.supports_async_task
    assert backend.supports_get_result and backend.supports_priority


def test_success_result_is_ready_then_successful_with_return_value(backend):
    result = tasks.add.using(backend=backend).enqueue(2, 3)
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at is not None and result.backend == backend
    stored = task_backends[backend].get_result(result.id)
    assert (stored.status, stored.args, stored.attempts) == (TaskResultStatus.READY, [2, 3], 0)

    assert run(backend).succeeded == 1
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.errors == [] and len(result.worker_ids) == 1
    assert result.started_at <= result.last_attempted_at <= result.finished_at
    assert result.task.func is tasks.add.func


def test_return_value_is_json_normalised(backend):
    result = tasks.record.using(backend=backend).enqueue("x")
    run(backend)
    stored = task_backends[backend].get_result(result.id)
    assert stored.return_value == {"value": "x", "items": [1, 2]}


def test_failure_records_error_and_a_failed_job_row(backend):
    result = tasks.explode.using(backend=backend).enqueue("kaboom")
    assert run(backend).failed == 1
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class is ValueError
    assert "kaboom" in error.traceback and "raise ValueError(message)" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018 -- the property raises
    row = FailedJob.objects.get(uuid=result.id)
    assert row.queue == "default" and row.exception_class == "ValueError"
    assert "tests.tasks.explode" in row.payload


def test_the_frameworks_failed_task_log_line_carries_the_traceback(backend, caplog):
    tasks.explode.using(backend=backend).enqueue("kaboom")
    with caplog.at_level(logging.ERROR):
        assert run(backend).failed == 1
    [record] = [r for r in caplog.records if "state=FAILED" in r.getMessage()]
    assert record.exc_info and record.exc_info[0] is ValueError  # not "NoneType: None"
    # The exception is left as raised: no frame of ours added by the re-raise.
    assert "receivers.py" not in "".join(__import__("traceback").format_tb(
        record.exc_info[1].__traceback__))


def test_non_json_return_value_fails_the_task(backend):
    result = tasks.bad_return.using(backend=backend).enqueue()
    run(backend)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TypeError


def test_retries_keep_one_error_and_one_worker_id_per_attempt(backend):
    result = tasks.flaky.using(backend=backend).enqueue("k", fails=2)
    outcome = run(backend)
    assert (outcome.retried, outcome.succeeded) == (2, 1)
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 3
    assert [e.exception_class for e in result.errors] == [ConnectionError, ConnectionError]
    assert result.attempts == 3 and result.worker_ids == ["inline"] * 3
    # TaskContext.attempt counted the attempts, and the context carried this result.
    seen = ledger.events("task")
    assert [e["attempt"] for e in seen] == [1, 2, 3]
    assert {e["result_id"] for e in seen} == {result.id}


def test_exhausted_retries_fail_for_good(backend):
    result = tasks.flaky.using(backend=backend).enqueue("k", fails=5)
    outcome = run(backend)
    assert (outcome.retried, outcome.failed) == (2, 1)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED and len(result.errors) == 3
    assert FailedJob.objects.get(uuid=result.id).attempts == 3


def test_run_after_delays_the_task(backend):
    later = timezone.now() + dt.timedelta(seconds=0.6)
    result = tasks.add.using(backend=backend, run_after=later).enqueue(1, 1)
    assert run(backend).attempts == 0
    assert task_backends[backend].get_result(result.id).status == TaskResultStatus.READY
    assert run(backend, wait_for_delayed=10).succeeded == 1
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL and result.started_at >= later


def test_priority_orders_ready_tasks(backend):
    for priority in (-5, 50, 0):
        tasks.record.using(backend=backend, queue_name="low", priority=priority).enqueue(
            priority
        )
    run(backend)
    assert [e["value"] for e in ledger.events("task")] == [50, 0, -5]


def test_async_task_runs_and_async_api_works(backend):
    async def scenario():
        result = await tasks.async_double.using(backend=backend).aenqueue(21)
        fetched = await task_backends[backend].aget_result(result.id)
        return result, fetched

    result, fetched = asyncio.run(scenario())
    assert fetched.status == TaskResultStatus.READY
    run(backend)
    assert task_backends[backend].get_result(result.id).return_value == 42


def test_unknown_result_id_raises():
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result("no-such-id")
    with pytest.raises(TaskResultDoesNotExist):
        asyncio.run(task_backends["default"].aget_result("no-such-id"))


def test_invalid_queue_and_arguments_raise_at_enqueue():
    with pytest.raises(InvalidTask, match="Queue 'nope' is not valid"):
        tasks.add.using(queue_name="nope")
    with pytest.raises(TypeError):
        tasks.add.enqueue(object(), 1)
    assert TaskResultRecord.objects.count() == 0


def test_signals_are_sent_at_enqueue_start_and_finish(backend):
    seen: list[tuple[str, str]] = []

    def receiver(signal_name):
        def receive(sender, task_result, **kwargs):
            assert sender is JobQueueBackend
            seen.append((signal_name, task_result.status))
        return receive

    handlers = {name: receiver(name) for name in ("enqueued", "started", "finished")}
    task_enqueued.connect(handlers["enqueued"])
    task_started.connect(handlers["started"])
    task_finished.connect(handlers["finished"])
    try:
        tasks.add.using(backend=backend).enqueue(1, 2)
        tasks.explode.using(backend=backend).enqueue("x")
        run(backend)
    finally:
        task_enqueued.disconnect(handlers["enqueued"])
        task_started.disconnect(handlers["started"])
        task_finished.disconnect(handlers["finished"])
    assert seen == [
        ("enqueued", "READY"), ("enqueued", "READY"),
        ("started", "RUNNING"), ("finished", "SUCCESSFUL"),
        ("started", "RUNNING"), ("finished", "FAILED"),
    ]


def test_enqueue_inside_a_rolled_back_transaction_leaves_nothing(backend):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.using(backend=backend).enqueue(1, 2)
        raise RuntimeError("rollback")
    assert run(backend).attempts == 0
    assert TaskResultRecord.objects.count() == 0


def test_a_result_describes_the_task_as_enqueued(backend):
    later = timezone.now() + dt.timedelta(seconds=0.3)
    expected = {"backend": backend, "queue_name": "low", "priority": 5,
                "run_after": later.isoformat()}
    seen: dict[str, list[dict]] = {"started": [], "finished": []}

    def receiver(name):
        def receive(sender, task_result, **kwargs):
            seen[name].append(tasks.describe_task(task_result.task))
        return receive

    on_started, on_finished = receiver("started"), receiver("finished")
    task_started.connect(on_started)
    task_finished.connect(on_finished)
    try:
        result = tasks.describe.using(
            backend=backend, priority=5, queue_name="low", run_after=later
        ).enqueue()
        assert run(backend, wait_for_delayed=10).succeeded == 1
    finally:
        task_started.disconnect(on_started)
        task_finished.disconnect(on_finished)
    # The context the task ran with and the worker's signals carried the same task.
    assert [e["value"] for e in ledger.events("task")] == [expected]
    assert seen == {"started": [expected], "finished": [expected]}
    assert tasks.describe_task(task_backends[backend].get_result(result.id).task) == expected


@pytest.mark.usefixtures("ledger", "redis_client")
def test_a_task_enqueued_on_a_backend_with_other_queues_runs_there():
    result = tasks.add.using(backend="other", queue_name="other_q").enqueue(1, 2)
    assert task_backends["other"].get_result(result.id).task.queue_name == "other_q"
    assert work(["other_q"], connection="redis").succeeded == 1
    stored = task_backends["other"].get_result(result.id)
    assert (stored.status, stored.return_value, stored.errors) == (
        TaskResultStatus.SUCCESSFUL, 3, []
    )
    assert (stored.task.backend, stored.task.queue_name) == ("other", "other_q")


@pytest.mark.usefixtures("ledger")
def test_a_queue_removed_since_enqueue_fails_the_task_at_once():
    get_transport("memory").clear("low")
    result = tasks.add.using(queue_name="low").enqueue(1, 2)
    narrowed = {**settings.TASKS, "default": {**settings.TASKS["default"], "QUEUES": ["default"]}}
    with override_settings(TASKS=narrowed):
        with pytest.raises(TaskResultDoesNotExist, match="'low' is not valid"):
            task_backends["default"].get_result(result.id)
        outcome = work(["low"], connection="memory")
    assert (outcome.failed, outcome.retried) == (1, 0)  # retrying cannot help
    stored = task_backends["default"].get_result(result.id)
    assert stored.status == TaskResultStatus.FAILED
    assert issubclass(stored.errors[-1].exception_class, InvalidTask)
    assert "'low' is not valid" in stored.errors[-1].traceback
    assert ledger.events("task") == []  # the task never ran
