"""One project's ``@task`` code, unchanged, under Django's ImmediateBackend and under ours:
the same statuses, return values and errors (ours just runs them in a worker)."""

from __future__ import annotations

import pytest

from django_jobqueue.tasks.compat import TaskResultStatus, task_backends
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from tests import tasks
from tests.support import ledger as ledger_log

pytestmark = pytest.mark.django_db(transaction=True)

SCENARIOS = [
    pytest.param(tasks.add, (2, 3), {}, id="sync"),
    pytest.param(tasks.record, ("v",), {}, id="normalised-return"),
    pytest.param(tasks.async_double, (4,), {}, id="async"),
    pytest.param(tasks.explode, ("no",), {}, id="raises"),
    pytest.param(tasks.bad_return, (), {}, id="non-json-return"),
    pytest.param(tasks.flaky, ("k",), {"fails": 0}, id="takes-context"),
]


def outcome(result) -> tuple:
    """What a project can observe of a finished result."""
    value = result.return_value if result.status == TaskResultStatus.SUCCESSFUL else None
    errors = [error.exception_class for error in result.errors]
    return result.status, value, errors, result.attempts, result.args, result.kwargs


@pytest.mark.parametrize(("task", "args", "kwargs"), SCENARIOS)
def test_same_outcome_under_immediate_and_jobqueue(task, args, kwargs, ledger):
    get_transport("memory").clear(task.queue_name)
    immediate = task.using(backend="immediate").enqueue(*args, **kwargs)
    assert immediate.is_finished

    queued = task.using(backend="default").enqueue(*args, **kwargs)
    assert not queued.is_finished
    work([task.queue_name], connection="memory")
    queued.refresh()
    assert outcome(queued) == outcome(immediate)
    # Tasks with side effects had the same ones, once under each backend.
    lines = ledger_log.events("task")
    assert len(lines) in (0, 2)
    assert len({str(line["value"]) for line in lines}) <= 1
    assert task_backends["default"].get_result(queued.id).id == queued.id
