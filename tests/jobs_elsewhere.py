"""A job class defined outside ``tests/jobs.py`` and imported into it: workers know it
because autodiscovery imports ``tests.jobs``, which imports this module."""

from __future__ import annotations

from django_jobqueue import Job


class ImportedIntoJobs(Job):
    def handle(self) -> None:
        pass
