"""Our bench jobs (``bench`` is an installed app in ``bench/settings_ours.py``, so these are
autodiscovered). Their bodies are ``bench.jobcount``'s, the same as every peer's."""

from __future__ import annotations

from bench import jobcount
from django_jobqueue import Job


class BenchNoop(Job):
    def handle(self):
        jobcount.noop()


class BenchUnique(Job):
    """A unique job: each dispatch takes (and, run, releases) the lock of its key."""

    unique_for = 300

    def __init__(self, key):
        self.key = key

    def handle(self):
        jobcount.noop()


class BenchLimited(Job):
    """A no-op under a generous concurrency limit: every start takes a permit, every end
    gives it back, and the limit is never reached (issue 19's cost of a limit)."""

    concurrency_limit = 10_000

    def handle(self):
        jobcount.noop()


class BenchFail(Job):
    max_tries = 1

    def handle(self):
        jobcount.fail()


class BenchRetry(Job):
    max_tries = 3
    retry_after = 0

    def handle(self):
        jobcount.retry(self.attempt)


class BenchLatency(Job):
    """Carries ``sent``, the enqueuer's ``time.monotonic()`` just before the dispatch."""

    def handle(self):
        jobcount.stamp(self.sent)
