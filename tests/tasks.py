"""Django Tasks used by the tests (autodiscovered: ``tests`` is an installed app).

Plain ``@task`` code with no django-jobqueue import except the portable ``task_options``:
the same module runs under Django's ImmediateBackend and under ours.
"""

from __future__ import annotations

import asyncio
import sys
import time

from django_jobqueue.tasks import task_options
from django_jobqueue.tasks.compat import task
from tests.support import ledger


@task
def add(a, b):
    ledger.write("task", name="add", value=[a, b])
    return a + b


@task(queue_name="high", priority=10)
def record(value):
    ledger.write("task", name="record", value=value)
    return {"value": value, "items": (1, 2)}


@task
def explode(message):
    raise ValueError(message)


@task
async def async_double(value):
    await asyncio.sleep(0)
    return value * 2


@task
def bad_return():
    return {1, 2}


@task(takes_context=True)
@task_options(max_tries=3, retry_after=0)
def flaky(context, key, fails):
    attempt = context.attempt
    ledger.write("task", name="flaky", value=key, attempt=attempt, result_id=context.task_result.id)
    if attempt <= fails:
        raise ConnectionError(f"flaky attempt {attempt}")
    return attempt


@task
@task_options(timeout=0.5, max_tries=2, retry_after=0)
def sleepy(seconds):
    time.sleep(seconds)
    return seconds


@task
@task_options(max_tries=1)
def die():
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


@task
def fails_while(path):
    import os

    if os.path.exists(path):
        raise RuntimeError(f"{path} exists")
    return "done"


@task(takes_context=True)
@task_options(max_tries=2, retry_after=0)
def slow_first_attempt(context, seconds):
    ledger.write("started", name="slow_first_attempt", attempt=context.attempt)
    if context.attempt == 1:
        time.sleep(seconds)
    return context.attempt


@task(takes_context=True)
def describe(context):
    """Writes what its context says of the task it runs as."""
    ledger.write("task", name="describe", value=describe_task(context.task_result.task))


def describe_task(task) -> dict:
    """The enqueue-time options of ``task``, as JSON."""
    run_after = task.run_after.isoformat() if task.run_after else None
    return {"backend": task.backend, "queue_name": task.queue_name,
            "priority": task.priority, "run_after": run_after}


@task
@task_options(max_tries=2, retry_after=0)
def exits(code):
    ledger.write("task", name="exits", value=code)
    sys.exit(code)
