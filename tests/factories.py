"""Failed-job records for tests, the two database stores, and a MariaDB that is down."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid

import pytest
from django.db import connections
from django.utils import timezone

from django_jobqueue.failures.record import FailureRecord
from tests.conftest import jobqueue

STORES = [
    pytest.param("default", id="sqlite",
                 marks=pytest.mark.django_db(transaction=True, databases=["default"])),
    pytest.param("mysql", id="mariadb",
                 marks=pytest.mark.django_db(transaction=True, databases=["default", "mysql"])),
]


def make(queue="default", exc="RuntimeError", job="tests.jobs.Record", age_hours=0.0,
         payload=None):
    job_id = uuid.uuid4().hex
    body = payload or json.dumps({"v": 1, "id": job_id, "job": job, "queue": queue,
                                  "connection": "memory", "data": {"args": [1], "kwargs": {}},
                                  "max_tries": 1, "timeout": None, "errors": []})
    return FailureRecord(
        uuid=job_id, connection="memory", queue=queue, payload=body,
        exception=f"{exc}: it broke\n\nTraceback ...", exception_class=exc, message="it broke",
        job_class=job, attempts=1, failed_at=timezone.now() - dt.timedelta(hours=age_hours),
    )


@contextlib.contextmanager
def mysql_down():
    """Point the real ``mysql`` alias at a closed port: every query fails to connect."""
    conn = connections["mysql"]
    saved = conn.settings_dict["PORT"]
    conn.close()
    conn.settings_dict["PORT"] = "9"
    try:
        with jobqueue(FAILED_DATABASE="mysql"):
            yield
    finally:
        conn.close()
        conn.settings_dict["PORT"] = saved
