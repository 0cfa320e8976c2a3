"""Jobs of the chaos suite. Each writes to the ledger (``tests.support.ledger``, one O_APPEND
line per event): ``start`` and ``finish`` (``ok`` True or False) around its work, ``hook`` from
``failed()``. Per-instance ``max_tries``, ``timeout`` and ``retry_after`` travel in the payload
(``Job.dispatch_overrides``), so one class serves every scenario.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from django_jobqueue import ExponentialBackoff, Job
from django_jobqueue.exceptions import DontRetry
from tests.support import ledger


def mark(job: Job, event: str, **fields: Any) -> None:
    ledger.write(event, id=job.job_id, attempt=job.attempt, **fields)


class Policy(Job):
    # No class-level queue: the scenarios dispatch to "chaos" explicitly, and a registered
    # queue name would show in every queue listing of the other tests.
    abstract = True
    # The chaos workers run with the ``tests.chaos`` app installed (tests/chaos/settings.py),
    # so they find these classes; the pytest process that dispatches them does not have it.
    discoverable = True

    def __init__(self, n: int = 0, *, max_tries: int = 1, timeout: float = 30,
                 retry_after: Any = 0, **options: Any) -> None:
        self.n = n
        self.max_tries_ = max_tries
        self.timeout_ = timeout
        self.retry_after_ = retry_after
        self.options = options

    def dispatch_overrides(self) -> dict[str, Any]:
        retry_after = self.retry_after_
        if isinstance(retry_after, dict):
            retry_after = ExponentialBackoff(**retry_after)
        return {"max_tries": self.max_tries_, "timeout": self.timeout_,
                "retry_after": retry_after}

    def failed(self, exception: BaseException) -> None:
        mark(self, "hook", exc=type(exception).__name__)


class Step(Policy):
    """Sleeps ``seconds`` (0: returns at once); ``fail=True`` raises after its work."""

    def handle(self) -> None:
        mark(self, "start")
        seconds = self.options.get("seconds", 0)
        if seconds:
            time.sleep(seconds)
        if self.options.get("fail"):
            mark(self, "finish", ok=False)
            raise RuntimeError(f"step {self.n} fails for good")
        mark(self, "finish", ok=True)


class Hog(Policy):
    """Allocates ``mb`` megabytes (touching every page), then holds them."""

    def handle(self) -> None:
        mark(self, "start")
        blocks = [bytearray(1024 * 1024) for _ in range(self.options["mb"])]
        time.sleep(5)
        mark(self, "finish", ok=True, held=len(blocks))


class Stubborn(Policy):
    """Ignores its timeout: a busy loop, ``time.sleep(60)``, or ``time.sleep`` with SIGALRM
    blocked (only the supervisor's hard kill stops that one)."""

    def handle(self) -> None:
        how = self.options["how"]
        mark(self, "start")
        if how == "busy":
            while True:
                pass
        if how == "alarm-blocked":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)
        mark(self, "finish", ok=True)


class AsyncStubborn(Policy):
    """``async def handle`` that blocks its event loop in ``time.sleep(60)``."""

    async def handle(self) -> None:
        mark(self, "start")
        await asyncio.sleep(0)
        time.sleep(60)
        mark(self, "finish", ok=True)


class Dependency(Policy):
    """Fails with ConnectionError until the wall clock passes ``recovers_at``."""

    def handle(self) -> None:
        mark(self, "start")
        if time.time() < self.options["recovers_at"]:
            mark(self, "finish", ok=False)
            raise ConnectionError("dependency unavailable")
        mark(self, "finish", ok=True)


class Hostile(Policy):
    """Raises an exception built to hurt: huge, unprintable, control characters, bad UTF-8."""

    def handle(self) -> None:
        mark(self, "start")
        kind = self.options["kind"]
        mark(self, "finish", ok=False)
        if kind == "huge":
            raise RuntimeError("x" * (50 * 1024 * 1024))
        if kind == "unprintable":
            raise Unprintable()
        if kind == "controls":
            raise RuntimeError(HOSTILE_TEXT)
        if kind == "bad-utf8":
            raise RuntimeError(b"caf\xc3\x28 \xff\xfe".decode("utf-8", "surrogateescape"))
        raise ValueError(kind)


HOSTILE_TEXT = (
    "line one\r\nFORGED: job=ok\x1b[2J\x1b[31mred\x1b[0m <script>alert('x')</script>"
    "\x9b2J\u2028tail\x00nul"
)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def record_error(job: Any, exc_type: type, exc: BaseException, tb: Any) -> None:
    """Exception handler (``--exception-handler``): one ``error`` line per failed attempt."""
    ledger.write("error", id=getattr(job, "job_id", None), attempt=getattr(job, "attempt", None),
                 exc=exc_type.__name__)


def record_killed(job: Any, retpid: int, ret_val: int, rusage: Any) -> None:
    """Work-horse-killed handler: the dead horse and its peak memory."""
    ledger.write("killed", id=getattr(job, "job_id", None), horse=retpid,
                 maxrss=getattr(rusage, "ru_maxrss", None), supervisor=os.getpid())


class Witness(Policy):
    """Dispatched in the same transaction as the auth Group ``name`` on database ``db``:
    records whether that row was visible, i.e. whether the transaction had committed."""

    def handle(self) -> None:
        from django.contrib.auth.models import Group

        seen = Group.objects.using(self.options["db"]).filter(name=self.options["name"]).exists()
        mark(self, "start", seen=seen)
        mark(self, "finish", ok=True)


class Leaky(Policy):
    """Fails with secrets in its arguments (which must never reach a log line)."""

    def handle(self) -> None:
        raise ValueError("card declined")


class Tick(Policy):
    """The job of scenario 15's schedule entries: built without arguments by the scheduler
    (its entry's ``KWARGS`` give ``max_tries`` and ``seconds``), it sleeps ``seconds`` so
    that a SIGKILL can land while it runs. Its slot is not an argument (every fire of an
    entry builds the same job): :mod:`tests.chaos.slots` records it from the payload."""

    def handle(self) -> None:
        mark(self, "start")
        time.sleep(self.options.get("seconds", 0))
        mark(self, "finish", ok=True)


def gate_open(gate: str, attempt: int) -> bool:
    """Whether the test opened ``gate`` for ``attempt`` (a file ``<gate>.<attempt>``)."""
    return os.path.exists(f"{gate}.{attempt}")


class UniqueHold(Policy):
    """Scenario 16's unique job (the default key: class and arguments; until ``finished``):
    each attempt runs until the test opens its gate (``gate_open``), then finishes, or
    raises with ``fail=True``. It holds the key while the test dispatches against it."""

    unique_for = 300  # far longer than any run: only the job's end may free the key

    def handle(self) -> None:
        mark(self, "start")
        deadline = time.monotonic() + self.options.get("hold_at_most", 120)
        while not gate_open(self.options["gate"], self.attempt):
            if time.monotonic() > deadline:
                mark(self, "finish", ok=False)
                raise TimeoutError("the test never opened the gate")
            time.sleep(0.02)
        if self.options.get("fail"):
            mark(self, "finish", ok=False)
            raise RuntimeError("unique job fails for good")
        mark(self, "finish", ok=True)


class Limited(Step):
    """Scenario 17's concurrency-limited job: a :class:`Step` of which at most three run at
    once across every worker."""

    concurrency_limit = 3


class Rated(Step):
    """Scenario 17's rate-limited job: a :class:`Step` of which at most 50 start in any
    second (by the store's clock)."""

    rate_limit = "50/s"


class Oblivious(Policy):
    """Scenario 17's job that ignores a cancel request: it never reads ``cancel_requested``
    and sleeps ``seconds`` (only the supervisor's kill after ``CANCEL_GRACE`` stops it)."""

    def handle(self) -> None:
        mark(self, "start")
        time.sleep(self.options.get("seconds", 120))
        mark(self, "finish", ok=True)



class FailsForGood(Policy):
    """Sleeps ``seconds``, then succeeds (with ``progress=True`` reporting it first, so that
    ``job_status`` tells it succeeded), or with ``fail=True`` fails for good (``DontRetry``:
    no retry, whatever its ``max_tries``); its ``start`` and ``finish`` lines carry
    :meth:`where`."""

    abstract = True

    def where(self) -> dict[str, Any]:
        return {}

    def handle(self) -> None:
        where = self.where()
        mark(self, "start", **where)
        time.sleep(self.options.get("seconds", 0))
        if self.options.get("fail"):
            mark(self, "finish", ok=False, **where)
            raise DontRetry(f"{self.name} {self.n} fails for good")
        if self.options.get("progress"):
            self.set_progress(1, 1, "done")
        mark(self, "finish", ok=True, **where)


class Member(FailsForGood):
    """Scenario 18's batch child ``n``: its lines carry its batch and member name, as its
    payload gives them."""

    def where(self) -> dict[str, Any]:
        ref = self.job_batch
        return {"batch": ref.id, "member": ref.mark.member} if ref is not None else {}


class Link(FailsForGood):
    """Scenario 18's chain step ``n`` of chain ``chain`` (the test's number for it); one
    that fails holds the rest of its chain."""

    def where(self) -> dict[str, Any]:
        return {"chain": self.options["chain"], "step": self.n}


class Tally(Policy):
    """Scenario 18's batch callback: a ``callback`` line between its ``start`` and
    ``finish``: its batch, its kind, its own job id and the summary it was given."""

    def handle(self) -> None:
        mark(self, "start")
        summary = self.batch_summary
        if summary is not None:
            ledger.write("callback", id=self.job_id, batch=summary.id, kind=summary.callback,
                         total=summary.total, succeeded=summary.succeeded,
                         failed=summary.failed, cancelled=summary.cancelled,
                         failed_ids=len(summary.failed_ids))
        mark(self, "finish", ok=True)
