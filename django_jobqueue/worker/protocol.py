"""The messages a supervisor and its work horses exchange, and their wire form.

Seven messages cross a horse's socket. The supervisor sends :class:`Run` (a job to run),
:class:`Hook` (a failed job's ``failed()`` hook, once its failure is recorded),
:class:`SystemFailure` (the handlers and hooks of an attempt the supervisor ended) and
:class:`Stop`. The horse answers every message but ``Stop``, in the order it came, with
:class:`Result`, :class:`Skipped` (a job it did not start: the worker is stopping, or the
job waited in its inbox past its ``start_by``) or :class:`HookDone`.

On the wire a message is a JSON array: a one-letter tag, then the fields in order. Arrays
are smaller and quicker to write and read than objects, and this socket carries every job
twice. Only :func:`encode` and :func:`decode` know that form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_dumps = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Run:
    """Run one attempt of a job (``attempts`` counts it) under ``timeout`` seconds.

    ``start_by`` (monotonic clock; 0: no limit) is for a prefetched job queued behind
    another: its short lease is known to be held until then only, so a horse that reaches
    it later skips it rather than risk running a job another worker may have taken.
    """

    id: str
    payload: str
    attempts: int
    worker: str
    timeout: float
    start_by: float = 0.0


@dataclass(frozen=True, slots=True)
class StandIn:
    """What a horse that did not run a failed job needs to call its ``failed()`` hook: the
    job to rebuild, and the class and message of the exception that lived in the other
    horse."""

    payload: str
    attempts: int
    exception_class: str
    message: str


@dataclass(frozen=True, slots=True)
class Hook:
    """Call the ``failed()`` hook of job ``id``, whose failure is recorded as
    ``failed_job``. The horse that ran the job holds its exception and is sent no
    ``stand_in``; any other horse needs one."""

    id: str
    failed_job: dict[str, Any]
    timeout: float
    worker: str
    stand_in: StandIn | None = None
    again: bool = False  # a second try, after a horse died calling it


@dataclass(frozen=True, slots=True)
class SystemFailure:
    """Run the exception handlers, then ``failed()`` and ``job_failed`` (``failed_job`` is
    the record) or ``job_retrying`` (``failed_job`` is None, retried in ``delay`` s), for
    an attempt the supervisor ended: a killed horse, a hard timeout, an abandoned lease."""

    kind: str  # JobTimeout, WorkHorseKilled, AbandonedJobError, JobCancelled or JobExpired
    message: str
    id: str
    payload: str
    attempts: int
    worker: str
    timeout: float
    failed_job: dict[str, Any] | None
    delay: float
    again: bool = False
    ran: bool = True  # False: the job was ended before it started (cancelled, expired)


@dataclass(frozen=True, slots=True)
class Stop:
    """Exit now (the worker stops)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt, as decided where it failed: retried in ``delay`` seconds, or
    failed for good. ``error`` is the entry for the payload's ``errors`` list; ``job_class``
    what the failure is filed under."""

    retry: bool
    delay: float
    error: dict[str, Any]
    exception: str
    exception_class: str
    message: str
    job_class: str


@dataclass(frozen=True, slots=True)
class Result:
    """An attempt ran: ``failure`` is None if it succeeded. ``job`` is the registry name
    (``unknown`` for a job that could not be rebuilt), a metrics label. ``recycle``: the
    horse exits once its failed jobs' hooks have run, and runs nothing more."""

    id: str
    job: str
    recycle: bool
    failure: Failure | None = None

    @property
    def status(self) -> str:
        if self.failure is None:
            return "ok"
        return "retry" if self.failure.retry else "failed"


@dataclass(frozen=True, slots=True)
class Skipped:
    """The horse did not start job ``id``: the worker is stopping (``late`` False), or it
    reached the job after its ``start_by`` (``late`` True)."""

    id: str
    late: bool = False


@dataclass(frozen=True, slots=True)
class HookDone:
    """A :class:`Hook` or :class:`SystemFailure` for job ``id`` is done."""

    id: str


ToHorse = Run | Hook | SystemFailure | Stop
FromHorse = Result | Skipped | HookDone
Message = ToHorse | FromHorse


def _failure_fields(failure: Failure | None) -> tuple[Any, ...] | None:
    if failure is None:
        return None
    return (failure.retry, failure.delay, failure.error, failure.exception,
            failure.exception_class, failure.message, failure.job_class)


def _stand_in_fields(stand_in: StandIn | None) -> tuple[Any, ...] | None:
    if stand_in is None:
        return None
    return (stand_in.payload, stand_in.attempts, stand_in.exception_class, stand_in.message)


_FIELDS: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    Run: lambda m: ("r", m.id, m.payload, m.attempts, m.worker, m.timeout, m.start_by),
    Hook: lambda m: ("h", m.id, m.failed_job, m.timeout, m.worker,
                     _stand_in_fields(m.stand_in), m.again),
    SystemFailure: lambda m: ("s", m.kind, m.message, m.id, m.payload, m.attempts, m.worker,
                              m.timeout, m.failed_job, m.delay, m.again, m.ran),
    Stop: lambda m: ("x",),
    Result: lambda m: ("R", m.id, m.job, m.recycle, _failure_fields(m.failure)),
    Skipped: lambda m: ("k", m.id, m.late),
    HookDone: lambda m: ("d", m.id),
}


def _hook(items: list[Any]) -> Hook:
    stand_in = items[5]
    return Hook(items[1], items[2], items[3], items[4],
                StandIn(*stand_in) if stand_in is not None else None, items[6])


def _result(items: list[Any]) -> Result:
    failure = items[4]
    return Result(items[1], items[2], items[3], Failure(*failure) if failure is not None else None)


_BUILD: dict[str, Callable[[list[Any]], Message]] = {
    "r": lambda items: Run(*items[1:]),
    "h": _hook,
    "s": lambda items: SystemFailure(*items[1:]),
    "x": lambda items: Stop(),
    "R": _result,
    "k": lambda items: Skipped(items[1], items[2]),
    "d": lambda items: HookDone(items[1]),
}


def encode(message: Message) -> bytes:
    """``message`` as sent over a horse's socket."""
    return _dumps(_FIELDS[type(message)](message)).encode()


def decode(data: bytes) -> Message:
    """The message ``data`` holds; :class:`ValueError` if it holds none."""
    items = json.loads(data)
    try:
        return _BUILD[items[0]](items)
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"not a horse message: {data[:80]!r}") from None


__all__ = [
    "Failure",
    "FromHorse",
    "Hook",
    "HookDone",
    "Message",
    "Result",
    "Run",
    "Skipped",
    "StandIn",
    "Stop",
    "SystemFailure",
    "ToHorse",
    "decode",
    "encode",
]
