"""The ``Job`` base class and the registry of job classes.

Every concrete ``Job`` subclass registers itself under ``name`` (``"module.QualName"`` by
default). Workers resolve payloads through this registry only: a name taken from a payload is
never imported. So a worker knows exactly the classes that Django's start-up imports (models,
every app's ``jobs`` module and what those import, ``ready()`` hooks); dispatch refuses a class
created later (say, in a view module), which a worker would not have.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.apps import apps

from .exceptions import UnknownJobClass
from .logutil import log_event
from .retry import RetryAfter

if TYPE_CHECKING:
    from .dispatch import Dispatched
    from .workflows.batch import BatchRef
    from .workflows.status import BatchSummary

logger = logging.getLogger(__name__)

_registry: dict[str, type[Job]] = {}


class Job:
    """Subclass and implement ``handle()`` (sync or ``async``).

    Constructor arguments are the payload: they must be JSON (plus ``datetime``, ``date``,
    ``time``, ``UUID`` and ``Decimal``, which round-trip as their own types).

    Class attributes, each optional:

    - ``queue`` / ``connection``: where the job goes (settings' defaults when ``None``).
    - ``max_tries``: attempts in all, the first included.
    - ``retry_after``: seconds before each retry: a number, a list (the last value repeats),
      or a backoff callable such as :class:`~django_jobqueue.retry.ExponentialBackoff`.
    - ``timeout``: seconds an attempt may run; enforced for blocking code too.
    - ``dont_retry``: exception classes that fail the job at once (so does raising
      :class:`~django_jobqueue.exceptions.DontRetry`).
    - ``name``: the registry name stored in payloads; set it before renaming or moving a class
      that has jobs in flight.
    - ``abstract = True``: a base class for other jobs, not registered itself.
    - ``discoverable = True``: dispatch even though the class was created after Django
      started (workers import its module some other way, or a test runs it in-process).

    Unique jobs (see :mod:`django_jobqueue.unique`):

    - ``unique_for``: seconds; set it to make the class unique. A dispatch while another
      job with the same ``unique_key()`` holds the lock queues nothing and returns a
      :class:`~django_jobqueue.dispatch.Dispatched` with ``duplicate=True`` naming that job.
    - ``unique_until``: when the lock ends: ``"finished"`` (default: the job succeeded or
      failed for good), ``"started"`` (a worker started it) or ``"queued"`` (only when
      ``unique_for`` runs out).

    Periodic jobs (see :mod:`django_jobqueue.schedule`):

    - ``schedule``: run this job periodically, fired by the workers: a cron expression
      (``"0 2 * * *"``, ``"@hourly"``), or an interval in seconds or a ``timedelta``. Only
      for a job built without arguments; its entry is named after the class's ``name``.
    - ``schedule_timezone``: the time zone of a cron ``schedule`` (default: ``TIME_ZONE``).
    - ``schedule_missed``: what to do with runs missed while no worker ran: ``"once"`` (the
      default), ``"skip"`` or ``"catch_up"`` (see :mod:`django_jobqueue.schedule.missed`).

    Flow control (see :mod:`django_jobqueue.flow`):

    - ``concurrency_limit``: at most this many jobs of the class with one
      ``concurrency_key()`` (default: the class) run at once, across every worker and host.
      A job that cannot start yet waits in its queue, delayed, without using an attempt
      and without holding up the jobs behind it.
    - ``rate_limit``: ``"100/m"`` (per ``s``, ``m``, ``h``, ``d``, or ``"10/5m"``): at most
      this many jobs with one ``rate_key()`` (default: the class) start in any such
      window; the others are delayed, not failed, and no attempt is used.
    - ``expires_after``: seconds (or a ``timedelta``) from when the job is due; a job not
      started by then never runs and is kept as expired
      (:class:`~django_jobqueue.exceptions.JobExpired`). ``dispatch(expires_at=...)`` sets
      one job's expiry.

    While ``handle()`` runs, ``self.cancel_requested`` tells whether an operator cancelled
    the job (``self.check_cancelled()`` raises :class:`~django_jobqueue.exceptions.JobCancelled`
    then; a job that ignores it is stopped after ``CANCEL_GRACE`` seconds), and
    ``self.set_progress(done, total, message)`` reports progress that
    :func:`~django_jobqueue.job_status` reads.

    While ``handle()`` runs, ``self.attempt`` is the attempt number (1 for the first run),
    ``self.job_id`` the job's id, ``self.worker`` the name of the worker running it, and
    ``self.scheduled_for`` the slot (an aware UTC ``datetime``) of a job the schedule fired,
    ``None`` otherwise (a catch-up run knows which slot it stands for).
    """

    name: ClassVar[str] = ""
    abstract: ClassVar[bool] = True
    queue: ClassVar[str | None] = None
    connection: ClassVar[str | None] = None
    max_tries: ClassVar[int | None] = None
    retry_after: ClassVar[RetryAfter | None] = None
    timeout: ClassVar[float | None] = None
    dont_retry: ClassVar[Sequence[type[BaseException]]] = ()
    sensitive_fields: ClassVar[Sequence[str]] = ()
    discoverable: ClassVar[bool] = False
    unique_for: ClassVar[float | None] = None
    unique_until: ClassVar[str] = "finished"
    # Periodic runs (django_jobqueue.schedule); ``schedule`` is a cron string, a number of
    # seconds or a datetime.timedelta. The system checks refuse anything else.
    schedule: ClassVar[Any] = None
    schedule_timezone: ClassVar[str | None] = None
    schedule_missed: ClassVar[str | None] = None
    # Flow control (django_jobqueue.flow); the system checks refuse what cannot work.
    concurrency_limit: ClassVar[int | None] = None
    rate_limit: ClassVar[str | None] = None
    expires_after: ClassVar[float | datetime.timedelta | None] = None
    # Created after the app registry was ready: by an import that a worker never makes.
    _jq_created_late: ClassVar[bool] = False

    attempt: int = 0
    job_id: str = ""
    worker: str = ""
    scheduled_for: datetime.datetime | None = None

    _jq_args: tuple[Any, ...]
    _jq_kwargs: dict[str, Any]
    # Set by the worker for the attempt that runs (django_jobqueue.flow.running).
    _jq_run: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "abstract" not in cls.__dict__:
            cls.abstract = False
        if cls.abstract:
            return
        if "name" not in cls.__dict__ or not cls.name:
            cls.name = f"{cls.__module__}.{cls.__qualname__}"
        cls._jq_created_late = apps.ready
        register(cls)

    def __new__(cls, *args: Any, **kwargs: Any) -> Job:
        # Keep the constructor arguments: they are the payload.
        instance = super().__new__(cls)
        instance._jq_args = args
        instance._jq_kwargs = kwargs
        return instance

    def __init__(self, **kwargs: Any) -> None:
        """Without an ``__init__`` of its own, a job keeps keyword arguments as attributes."""
        for key, value in kwargs.items():
            setattr(self, key, value)

    @classmethod
    def label(cls, payload: dict[str, Any]) -> str:
        """What failures of this job are filed under (the ``job_class`` column, the admin's
        job class filter): the registry name. A job that runs other code names that code
        (the Tasks backend's ``RunTask`` gives the task's path)."""
        return cls.name

    def handle(self) -> Any:
        """Do the work. May be ``async def``. Raise to fail this attempt."""
        raise NotImplementedError(f"{type(self).__name__} must implement handle()")

    def dispatch_overrides(self) -> dict[str, Any]:
        """Per-instance payload settings that win over the class attributes at dispatch.

        Keys, each optional: ``id`` (the job id to use), ``max_tries``, ``timeout`` and
        ``retry_after`` (a number, a list, or an ``ExponentialBackoff``: JSON-able ones only,
        since they travel in the payload). Empty by default; the Django Tasks bridge uses
        it to give one job class a policy per task.
        """
        return {}

    def unique_key(self) -> str:
        """What makes two jobs of a unique class duplicates (``unique_for`` set): by
        default the class and its arguments. Override to narrow it (say, one key per
        customer whatever the other arguments)."""
        from .payload import canonical

        return f"{self.name}:{canonical(_bound_arguments(self))}"

    def concurrency_key(self) -> str:
        """What jobs share a ``concurrency_limit``: by default every job of the class.
        Override to limit per something else (``f"{self.name}:{self.account_id}"``)."""
        return self.name

    def rate_key(self) -> str:
        """What jobs share a ``rate_limit``: by default every job of the class."""
        return self.name

    @property
    def cancel_requested(self) -> bool:
        """True once an operator cancelled this job while it runs: finish up and return,
        or raise :class:`~django_jobqueue.exceptions.JobCancelled` (see
        :meth:`check_cancelled`) to end it as cancelled. Cheap: check it as often as you
        like. Always False outside a worker."""
        run = self._jq_run
        return run is not None and run.cancel_requested()

    def check_cancelled(self) -> None:
        """Raise :class:`~django_jobqueue.exceptions.JobCancelled` if the job was cancelled:
        it ends as cancelled (not failed, not retried) at once, without waiting for the
        hard stop."""
        if self.cancel_requested:
            from .exceptions import JobCancelled

            raise JobCancelled(f"{self.name} stopped: it was cancelled while it ran")

    def set_progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Report how far ``handle()`` got (``done`` of ``total``, and a short ``message``)
        for :func:`~django_jobqueue.job_status`, ``queue_status`` and the admin. Each call
        is one write to the store (a store that does not answer is logged, never raised):
        call it per chunk of work, not per item. Does nothing outside a worker."""
        run = self._jq_run
        if run is not None:
            run.report(done, total, message)

    @property
    def job_batch(self) -> BatchRef | None:
        """The batch this job belongs to, while a worker runs it (None for a job outside a
        batch, and outside a worker): ``self.job_batch.add([...])`` adds jobs to it,
        ``self.job_batch.status()`` reads its progress. (Not ``self.batch``: a name many
        jobs already give an argument of their own.)"""
        run = self._jq_run
        if run is None or run.batch is None:
            return None
        if run.batch_ref is None:
            from .workflows.batch import BatchRef
            from .workflows.marks import batch_of

            mark = batch_of({"batch": run.batch})
            run.batch_ref = BatchRef(mark) if mark is not None else None
        return run.batch_ref

    @property
    def batch_summary(self) -> BatchSummary | None:
        """In a batch's callback (``on_success``, ``on_failure``, ``on_complete``): how the
        batch ended (counts, the failed jobs' ids). None in any other job."""
        run = self._jq_run
        if run is None or not isinstance(run.callback, dict):
            return None
        from .workflows.status import BatchSummary

        return BatchSummary.of_callback(run.callback)

    def failed(self, exception: BaseException) -> Any:
        """Called once when the job fails for good. May be ``async def``."""

    def dispatch(
        self,
        *,
        delay: float = 0,
        queue: str | None = None,
        connection: str | None = None,
        priority: int = 0,
        using: str | None = None,
        expires_at: datetime.datetime | float | None = None,
    ) -> Dispatched:
        """Queue this job; see :func:`django_jobqueue.dispatch.dispatch`."""
        from .dispatch import dispatch

        return dispatch(
            self,
            delay=delay,
            queue=queue,
            connection=connection,
            priority=priority,
            using=using,
            expires_at=expires_at,
        )

    def __repr__(self) -> str:
        parts = [repr(a) for a in self._jq_args]
        parts += [f"{k}={v!r}" for k, v in self._jq_kwargs.items()]
        return f"{type(self).__name__}({', '.join(parts)})"


@functools.cache
def _signature(cls: type[Job]) -> inspect.Signature:
    return inspect.signature(cls)


def _bound_arguments(job: Job) -> Any:
    """The job's arguments by parameter name, defaults filled in: ``Report(7)`` and
    ``Report(account=7)`` are the same job. Positional and keyword as given when the
    constructor's signature cannot take them (it would have refused them already)."""
    try:
        bound = _signature(type(job)).bind(*job._jq_args, **job._jq_kwargs)
    except (TypeError, ValueError):
        return [job._jq_args, job._jq_kwargs]
    bound.apply_defaults()
    return bound.arguments


def register(cls: type[Job]) -> None:
    """Add ``cls`` to the registry (done automatically for subclasses)."""
    previous = _registry.get(cls.name)
    if previous is not None and previous is not cls:
        same_place = (previous.__module__, previous.__qualname__) == (
            cls.__module__,
            cls.__qualname__,
        )
        if not same_place:
            log_event(
                logger, logging.WARNING, "job_name_remapped", name=cls.name,
                now=f"{cls.__module__}.{cls.__qualname__}",
                was=f"{previous.__module__}.{previous.__qualname__}",
            )
    _registry[cls.name] = cls


def ensure_discoverable(cls: type[Job], connection: str) -> None:
    """Raise :class:`UnknownJobClass` at dispatch for a class that workers would not know:
    one created after Django started, going to a store that other processes serve."""
    if not cls._jq_created_late or cls.discoverable:
        return  # the common case: two attribute reads on the dispatch path, nothing else
    from .transports import get_transport

    if not get_transport(connection).shareable_between_processes:
        return
    module = cls.__module__
    app = apps.get_containing_app_config(module)
    home = f"{app.name.replace('.', '/')}/jobs.py" if app else "an installed app's jobs.py"
    raise UnknownJobClass(
        f"{cls.__name__} is defined in {module}, which is not an autodiscovered jobs module"
        " (nor imported while Django starts), so a worker would not find it: move it to"
        f" {home} (or a module that it imports), or, if workers import {module} at start-up"
        " some other way, set `discoverable = True` on the class."
    )


def resolve(name: str) -> type[Job]:
    """The registered job class called ``name``; :class:`UnknownJobClass` if there is none."""
    try:
        return _registry[name]
    except (KeyError, TypeError):
        raise UnknownJobClass(
            f"no registered job class named {name!r}: is its app installed and its "
            "jobs module imported?"
        ) from None


def registered() -> dict[str, type[Job]]:
    """A copy of the registry, name to class."""
    return dict(_registry)
