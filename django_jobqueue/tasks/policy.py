"""Retry and timeout policy per task: ``@task(max_tries=...)`` on Django 6.1 and the
``django-tasks`` backport, :func:`task_options` everywhere, backend ``OPTIONS`` as defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..retry import RetryAfter, retry_after_to_json
from . import known
from .compat import Task

F = TypeVar("F", bound=Callable[..., Any])

OPTIONS_ATTRIBUTE = "jobqueue_options"
# Backend OPTIONS key for each policy field.
OPTION_KEYS = {"max_tries": "MAX_TRIES", "retry_after": "RETRY_AFTER", "timeout": "TIMEOUT"}


@dataclass(frozen=True, slots=True, kw_only=True)
class JobQueueTask(Task):
    """The ``task_class`` of :class:`~django_jobqueue.tasks.JobQueueBackend`.

    Adds ``max_tries`` (attempts in all), ``retry_after`` (seconds before each retry: a
    number, a list, or an ``ExponentialBackoff``) and ``timeout`` (seconds per attempt). On
    Django 6.1 (and the backport) ``@task(max_tries=3, timeout=30)`` sets them.
    """

    max_tries: int | None = None
    retry_after: RetryAfter | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        # Slotted dataclasses break zero-argument super(): name the base class.
        Task.__post_init__(self)
        validate(max_tries=self.max_tries, retry_after=self.retry_after, timeout=self.timeout)
        known.remember(self)


def task_options(
    *,
    max_tries: int | None = None,
    retry_after: RetryAfter | None = None,
    timeout: float | None = None,
) -> Callable[[F], F]:
    """Per-task policy that works on every Django line, placed under ``@task``::

        @task
        @task_options(max_tries=5, retry_after=[10, 30, 60], timeout=30)
        def send_receipt(order_id): ...

    It only sets an attribute on the function, so other backends (``ImmediateBackend``)
    run the task unchanged and ignore it.
    """
    validate(max_tries=max_tries, retry_after=retry_after, timeout=timeout)
    values = {"max_tries": max_tries, "retry_after": retry_after, "timeout": timeout}

    def decorate(func: F) -> F:
        setattr(func, OPTIONS_ATTRIBUTE, {k: v for k, v in values.items() if v is not None})
        return func

    return decorate


def validate(
    *, max_tries: Any = None, retry_after: Any = None, timeout: Any = None
) -> None:
    """Raise ``ValueError`` for a policy value the engine cannot use."""
    if max_tries is not None and (
        not isinstance(max_tries, int) or isinstance(max_tries, bool) or max_tries < 1
    ):
        raise ValueError(f"max_tries must be an integer >= 1, not {max_tries!r}")
    if timeout is not None and (
        not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if retry_after is not None:
        retry_after_to_json(retry_after)  # raises for callables and other values


def resolve(task: Task, options: dict[str, Any]) -> dict[str, Any]:
    """The task's policy, JSON-ready: the task's own fields, else ``@task_options``, else
    the backend's OPTIONS; keys left out fall back to the JOBQUEUE defaults."""
    own = getattr(task.func, OPTIONS_ATTRIBUTE, {})
    policy: dict[str, Any] = {}
    for field, option in OPTION_KEYS.items():
        value = getattr(task, field, None)
        if value is None:
            value = own.get(field, options.get(option))
        if value is not None:
            policy[field] = retry_after_to_json(value) if field == "retry_after" else value
    return policy
