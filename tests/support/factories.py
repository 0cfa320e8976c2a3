"""Failed-job records for tests."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid

from django.utils import timezone

from django_jobqueue.failures.fingerprint import fingerprint
from django_jobqueue.failures.record import FailureRecord


def make(queue="default", exc="RuntimeError", job="tests.jobs.Record", age_hours=0.0,
         payload=None, connection="memory", message="it broke"):
    """A failure of a ``tests.jobs.Record(1)`` job (by default) queued on ``connection``."""
    job_id = uuid.uuid4().hex
    body = payload or json.dumps({"v": 1, "id": job_id, "job": job, "queue": queue,
                                  "connection": connection,
                                  "data": {"args": [1], "kwargs": {}},
                                  "max_tries": 1, "timeout": None, "errors": []})
    return FailureRecord(
        uuid=job_id, connection=connection, queue=queue, payload=body,
        exception=f"{exc}: {message}\n\nTraceback ...", exception_class=exc, message=message,
        job_class=job, attempts=1, failed_at=timezone.now() - dt.timedelta(hours=age_hours),
    )


def kinds_sharing_a_prefix(length: int = 4) -> tuple[str, str]:
    """Two exception classes whose failures' fingerprints share their first ``length`` hex
    digits (found by search: a birthday collision needs a few hundred tries)."""
    seen: dict[str, str] = {}
    for n in itertools.count():
        exc = f"tests.errors.Kind{n}"
        head = fingerprint(exc, "it broke", "", "tests.jobs.Record")[:length]
        if head in seen:
            return seen[head], exc
        seen[head] = exc
    raise AssertionError("unreachable")
