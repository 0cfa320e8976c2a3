"""Failed-job records for tests, the database stores (SQLite, MariaDB, PostgreSQL), a MariaDB
that is down, and helpers to run management commands."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from django_jobqueue.failures.record import FailureRecord
from tests.conftest import jobqueue

STORES = [
    pytest.param("default", id="sqlite",
                 marks=pytest.mark.django_db(transaction=True, databases=["default"])),
    pytest.param("mysql", id="mariadb",
                 marks=pytest.mark.django_db(transaction=True, databases=["default", "mysql"])),
    pytest.param("postgres", id="postgresql",
                 marks=pytest.mark.django_db(transaction=True, databases=["default", "postgres"])),
]


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


class TTY(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self):
        return True


def command(name, *args, stdout=None, **options):
    """Run a management command in-process; return its stdout and stderr text."""
    out, err = stdout or io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def failing_command(name, *args, **options):
    """Run a command expected to exit with code 1 (``sys.exit``); return its stdout."""
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command(name, *args, stdout=out, stderr=io.StringIO(), **options)
    assert exit_info.value.code == 1
    return out.getvalue()


def refused(name, *args, match=None, **options):
    """Run a command expected to refuse its arguments with a CommandError."""
    with pytest.raises(CommandError, match=match) as error:
        call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO(), **options)
    return error.value
