"""Jobs used by the tests (autodiscovered: ``tests`` is an installed app)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from django_jobqueue import DontRetry, ExponentialBackoff, Job, signals
from tests.jobs_elsewhere import ImportedIntoJobs  # noqa: F401 -- see test_job_location.py
from tests.support import ledger


class Record(Job):
    """Writes its argument and attempt number to the ledger."""

    def __init__(self, value, note=None):
        self.value = value
        self.note = note

    def handle(self):
        ledger.write("ran", job="Record", value=self.value, attempt=self.attempt, id=self.job_id)
        return self.value


class FrozenCount(Job):
    """Writes how many objects its process keeps out of garbage collection."""

    def handle(self):
        import gc

        ledger.write("frozen", count=gc.get_freeze_count())


class AsyncRecord(Job):
    def __init__(self, value):
        self.value = value

    async def handle(self):
        await asyncio.sleep(0)
        ledger.write("ran", job="AsyncRecord", value=self.value, attempt=self.attempt)


class Flaky(Job):
    """Fails its first ``fails`` attempts, then succeeds."""

    max_tries = 5
    retry_after = 0

    def __init__(self, key, fails):
        self.key = key
        self.fails = fails

    def handle(self):
        ledger.write("ran", job="Flaky", value=self.key, attempt=self.attempt)
        if self.attempt <= self.fails:
            raise ConnectionError(f"flaky attempt {self.attempt}")


class BackingOff(Flaky):
    """Flaky with retries a second or two apart: a burst worker waits for each."""

    retry_after = [1, 2]


class AlwaysFails(Job):
    max_tries = 3
    retry_after = [0, 0]

    def __init__(self, key):
        self.key = key

    def handle(self):
        ledger.write("ran", job="AlwaysFails", value=self.key, attempt=self.attempt)
        raise RuntimeError(f"boom {self.key}")

    def failed(self, exception):
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__,
                     message=str(exception))


class AsyncFailsOnce(Job):
    max_tries = 1

    def __init__(self, key):
        self.key = key

    async def handle(self):
        raise ValueError("async boom")

    async def failed(self, exception):
        await asyncio.sleep(0)
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__)


class Unrecoverable(Job):
    max_tries = 5
    dont_retry = (KeyError,)

    def __init__(self, key, how="dont_retry"):
        self.key = key
        self.how = how

    def handle(self):
        ledger.write("ran", job="Unrecoverable", value=self.key, attempt=self.attempt)
        if self.how == "raise":
            raise DontRetry("not worth retrying") from ValueError("bad input")
        raise KeyError(self.key)

    def failed(self, exception):
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__)


class SlowHook(Job):
    """Fails for good at once; its ``failed()`` takes ``seconds`` (marked as it begins)."""

    def __init__(self, key, seconds=3):
        self.key = key
        self.seconds = seconds

    def handle(self):
        raise DontRetry("fails for good")

    def failed(self, exception):
        ledger.write("hook_started", value=self.key, pid=os.getpid())
        time.sleep(self.seconds)
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__)


class Sleeper(Job):
    """Blocks in time.sleep (or a busy loop) for ``seconds``."""

    timeout = 1
    max_tries = 1

    def __init__(self, seconds, busy=False, key=None):
        self.seconds = seconds
        self.busy = busy
        self.key = key

    def handle(self):
        ledger.write("started", value=self.key, attempt=self.attempt, pid=os.getpid())
        if self.busy:
            end = time.monotonic() + self.seconds
            while time.monotonic() < end:
                pass
        else:
            time.sleep(self.seconds)
        ledger.write("ran", job="Sleeper", value=self.key, attempt=self.attempt)

    def failed(self, exception):
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__)


class LongJob(Job):
    """A job that runs ``seconds`` (only on its first start if ``first_only``)."""

    timeout = 60
    max_tries = 3

    def __init__(self, seconds, key=None, first_only=False):
        self.seconds = seconds
        self.key = key
        self.first_only = first_only

    def handle(self):
        earlier = [e for e in ledger.events("started") if e["value"] == self.key]
        ledger.write("started", value=self.key, attempt=self.attempt, pid=os.getpid())
        if not (self.first_only and earlier):
            time.sleep(self.seconds)
        ledger.write("ran", job="LongJob", value=self.key, attempt=self.attempt)


class IgnoresAlarm(Job):
    """Blocks SIGALRM, so only the supervisor's hard kill can stop it."""

    timeout = 1
    max_tries = 1

    def handle(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        ledger.write("started", pid=os.getpid())
        time.sleep(30)


class AsyncSleeper(Job):
    timeout = 1
    max_tries = 1

    def __init__(self, seconds, blocking=False):
        self.seconds = seconds
        self.blocking = blocking

    async def handle(self):
        if self.blocking:
            time.sleep(self.seconds)
        await asyncio.sleep(self.seconds)


class SelfDestruct(Job):
    """Kills its own work horse."""

    max_tries = 2

    def __init__(self, key, how="sigkill"):
        self.key = key
        self.how = how

    def handle(self):
        ledger.write("started", value=self.key, attempt=self.attempt, pid=os.getpid())
        if self.how == "exit":
            os._exit(7)
        os.kill(os.getpid(), signal.SIGKILL)

    def failed(self, exception):
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__)


class Exits(SelfDestruct):
    """Ends its attempt the way a script ends a process, which must not end its horse:
    ``sys.exit(3)``, an async ``sys.exit(3)``, or ``raise KeyboardInterrupt``
    (``exit-in-hook-too``: its failed() hook calls ``sys.exit(4)`` as well)."""

    retry_after = 0

    def handle(self):
        ledger.write("started", value=self.key, attempt=self.attempt, pid=os.getpid())
        if self.how == "interrupt":
            raise KeyboardInterrupt(f"interrupted {self.key}")
        if self.how == "async-exit":
            return self._exit_later()
        sys.exit(3)

    async def _exit_later(self):
        await asyncio.sleep(0)
        sys.exit(3)

    def failed(self, exception):
        super().failed(exception)
        if self.how == "exit-in-hook-too":
            sys.exit(4)


class MemoryHog(Job):
    max_tries = 1

    def __init__(self, mb):
        self.mb = mb

    def handle(self):
        blocks = []
        for _ in range(self.mb):
            blocks.append(bytearray(1024 * 1024))
        time.sleep(5)


class UnprintableError(Exception):
    def __str__(self):
        raise RuntimeError("cannot print me")


class BadException(Job):
    def __init__(self, kind):
        self.kind = kind

    def handle(self):
        if self.kind == "unprintable":
            raise UnprintableError()
        if self.kind == "hostile":
            try:
                raise ValueError("inner\nFORGED: cause line")
            except ValueError as err:
                raise RuntimeError(HOSTILE_MESSAGE) from err
        raise RuntimeError("x" * (50 * 1024 * 1024))


HOSTILE_MESSAGE = (
    "first line\r\nFORGED: job ok\x1b[31mred\x1b[0m <script>alert(1)</script>\x9b2J\u2028end"
)


class HookRaises(Job):
    def __init__(self, key):
        self.key = key

    def handle(self):
        raise RuntimeError("first")

    def failed(self, exception):
        ledger.write("failed_hook", value=self.key)
        raise ValueError("the failed hook itself failed")


class Backoff(Job):
    max_tries = 3
    retry_after = ExponentialBackoff(base=0.1, factor=2, cap=1, jitter=0)

    def handle(self):
        ledger.write("ran", job="Backoff", attempt=self.attempt)
        raise RuntimeError("again")


class Renamed(Job):
    name = "tests.stable-name"

    def __init__(self, value):
        self.value = value

    def handle(self):
        ledger.write("ran", job="Renamed", value=self.value)


class Noop(Job):
    """Does nothing: for measuring the worker's own cost per job."""

    def __init__(self, n=0):
        self.n = n

    def handle(self):
        return None


class NoopFails(Job):
    """Raises at once, no retries: for measuring the failure path."""

    max_tries = 1

    def __init__(self, n=0):
        self.n = n

    def handle(self):
        raise ValueError(f"failing on purpose: {self.n}")


class FailsTwice(Job):
    """Fails its first two attempts, then succeeds, retrying at once: the retry path."""

    max_tries = 3
    retry_after = 0

    def __init__(self, n=0):
        self.n = n

    def handle(self):
        if self.attempt <= 2:
            raise ConnectionError(f"attempt {self.attempt} fails on purpose")


class HookKillsHorse(Job):
    """Fails for good; its failed() hook kills its own horse (``times`` times at most)."""

    max_tries = 1

    def __init__(self, key, times=1):
        self.key = key
        self.times = times

    def handle(self):
        raise ValueError(f"hook test {self.key}")

    def failed(self, exception):
        tries = [e for e in ledger.events("hook_started") if e["value"] == self.key]
        ledger.write("hook_started", value=self.key, exc=type(exception).__name__)
        if len(tries) < self.times:
            os.kill(os.getpid(), signal.SIGKILL)
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__,
                     message=str(exception))


class BigFailure(Job):
    """Fails for good with a large payload (its argument) and a large message."""

    max_tries = 1

    def __init__(self, key, blob):
        self.key = key
        self.blob = blob

    def handle(self):
        raise ValueError(f"{self.key}: " + "x" * 20_000)

    def failed(self, exception):
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__)


class Charge(Job):
    """A job with secrets in its arguments: for the masking tests."""

    sensitive_fields = ("card_number",)

    def __init__(self, card_number, amount, api_key=None):
        self.card_number = card_number
        self.amount = amount
        self.api_key = api_key

    def handle(self):
        return None


class BadLabel(Job):
    """Fails, and its label() hook is broken too."""

    @classmethod
    def label(cls, payload):
        raise RuntimeError("broken label")

    def handle(self):
        raise ValueError("fails")


class Named(Job):
    """A job with an argument called ``name``, as the quickstart's ``Greet`` has: it must not
    hide the class's registered ``name`` from logs and metrics."""

    def __init__(self, name: str):
        self.name = name

    def handle(self) -> None:
        raise ValueError("no such person")

    def failed(self, exception: BaseException) -> None:
        raise RuntimeError("the hook broke too")


# -- unique jobs (tests/test_unique.py) ------------------------------------------------------
class UniqueReport(Job):
    """Unique by its arguments until it finishes; fails while ``fails`` says so."""

    unique_for = 60
    max_tries = 2
    retry_after = 0

    def __init__(self, account, fails=0):
        self.account = account
        self.fails = fails

    def handle(self):
        ledger.write("ran", job="UniqueReport", value=self.account, attempt=self.attempt,
                     id=self.job_id)
        if self.attempt <= self.fails:
            raise ConnectionError(f"report attempt {self.attempt}")


class UniqueUntilStarted(UniqueReport):
    """Its lock ends when a worker starts it."""

    unique_until = "started"

    def handle(self):
        from django_jobqueue.transports import get_transport

        held = get_transport(self.connection_name).coordination.read(
            "default", [f"unique:{self.unique_key()}"])
        ledger.write("ran", job="UniqueUntilStarted", value=self.account, held=bool(held))

    connection_name = "memory"


class UniqueWindow(UniqueReport):
    """At most one per key in any ``unique_for`` seconds, whatever becomes of it."""

    unique_for = 0.5
    unique_until = "queued"


class UniquePerAccount(UniqueReport):
    """Duplicates by account, whatever the note."""

    def __init__(self, account, note=""):
        super().__init__(account)
        self.note = note

    def unique_key(self):
        return f"account:{self.account}"


class KnowsItsSlot(Job):
    """Writes the slot it was fired for (tests/test_schedule_firing.py)."""

    def handle(self):
        slot = self.scheduled_for
        ledger.write("ran", job="KnowsItsSlot", slot=slot.timestamp() if slot else None,
                     tz=str(slot.tzinfo) if slot else None)


class Limited(Job):
    """Runs ``seconds`` with its start and end stamped in the ledger (at most two at once)."""

    concurrency_limit = 2
    timeout = 30

    def __init__(self, key, seconds=0.3):
        self.key = key
        self.seconds = seconds

    def handle(self):
        ledger.write("limited_start", value=self.key, attempt=self.attempt)
        time.sleep(self.seconds)
        ledger.write("limited_end", value=self.key, attempt=self.attempt)


class RateLimited(Job):
    """Stamps its start (at most five a second start)."""

    rate_limit = "5/s"

    def __init__(self, key):
        self.key = key

    def handle(self):
        ledger.write("rated_start", value=self.key, attempt=self.attempt)


class Expiring(Job):
    """Expires 60 s after it is due (a test sets ``expires_at`` for one that expired)."""

    expires_after = 60

    def __init__(self, key):
        self.key = key

    def handle(self):
        ledger.write("ran", job="Expiring", value=self.key, attempt=self.attempt)

    def failed(self, exception):
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__)


class Cancellable(Job):
    """Reports progress and stops when it is cancelled (``obey``), or ignores it."""

    timeout = 60
    max_tries = 3

    def __init__(self, key, obey=True, fail=False):
        self.key = key
        self.obey = obey
        self.fail = fail

    def handle(self):
        ledger.write("started", value=self.key, attempt=self.attempt, pid=os.getpid())
        for step in range(600):
            if step == 1:
                self.set_progress(1, 600, "working")
            if self.obey and self.cancel_requested:
                ledger.write("saw_cancel", value=self.key)
                if self.fail:  # stops by failing for good instead
                    raise DontRetry("gave up halfway")
                self.check_cancelled()
            time.sleep(0.05)

    def failed(self, exception):
        ledger.write("failed_hook", value=self.key, exc=type(exception).__name__)


class Progressing(Job):
    """Reports progress twice, then succeeds."""

    def __init__(self, key):
        self.key = key

    def handle(self):
        self.set_progress(1, 2, "half")
        self.set_progress(2, 2, "done")
        ledger.write("ran", job="Progressing", value=self.key, attempt=self.attempt)


class Step(Job):
    """A workflow step: writes ``step`` to the ledger; fails for good when ``fail`` is
    true (or while the ledger's ``fix`` event for its key is missing, with ``until_fixed``)."""

    max_tries = 1

    def __init__(self, key, fail=False, until_fixed=False):
        self.key, self.fail, self.until_fixed = key, fail, until_fixed

    def handle(self):
        fixed = any(e["value"] == self.key for e in ledger.events("fix"))
        if self.fail or (self.until_fixed and not fixed):
            ledger.write("step_failed", value=self.key, id=self.job_id)
            raise DontRetry(f"step {self.key} failed")
        ledger.write("step", value=self.key, id=self.job_id, attempt=self.attempt)


class LaterStep(Step):
    """A :class:`Step` on queue ``later``, which ``testing.work()`` leaves alone unless
    asked: batch children that stay pending."""

    queue = "later"


class HighStep(Step):
    queue = "high"


class RedisStep(Step):
    connection = "redis"


class Spawner(Job):
    """A batch child that adds ``count`` Step children to its batch."""

    def __init__(self, key, count):
        self.key, self.count = key, count

    def handle(self):
        added = self.job_batch.add([Step(f"{self.key}.{n}") for n in range(self.count)])
        ledger.write("spawned", value=self.key, ids=[one.id for one in added])


class Callback(Job):
    """A batch callback: writes what the batch's summary says."""

    def __init__(self, kind):
        self.kind = kind

    def handle(self):
        summary = self.batch_summary
        ledger.write("callback", value=self.kind, batch=summary.id, callback=summary.callback,
                     total=summary.total, succeeded=summary.succeeded, failed=summary.failed,
                     cancelled=summary.cancelled, failed_ids=list(summary.failed_ids),
                     id=self.job_id)


def _cancelled_to_ledger(sender, job_id, running, **kwargs):
    # Real-worker tests see where job_cancelled was sent, and with what.
    if "JQ_LEDGER" in os.environ:
        ledger.write("job_cancelled", id=job_id, running=running)


signals.job_cancelled.connect(_cancelled_to_ledger, dispatch_uid="tests.cancelled_to_ledger")
