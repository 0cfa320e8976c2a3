"""Schedule entries for the operator-surface tests (``manage.py schedule``, the admin's
Schedules page). Names are fresh each time: a store keeps entries' values between tests."""

from __future__ import annotations

import uuid
from typing import Any

from django.test import override_settings

from django_jobqueue.schedule import state
from django_jobqueue.transports import get_transport
from tests.support.settings_overrides import jobqueue


def fresh(prefix: str = "entry") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def declared(entries: dict[str, dict[str, Any]], **settings: Any) -> override_settings:
    """JOBQUEUE settings with these entries: each a ``tests.jobs.Record`` of its own name,
    every hour (unless it has a CRON), on the memory connection (the default connection
    too), unless it says otherwise."""
    specs = {name: {"JOB": "tests.jobs.Record", "ARGS": [name], "CONNECTION": "memory",
                    **({} if "CRON" in spec else {"EVERY": 3600}), **spec}
             for name, spec in entries.items()}
    return jobqueue(SCHEDULE=specs, **{"DEFAULT_CONNECTION": "memory", **settings})


def ended(name: str, job_id: str, outcome: str, connection: str = "memory",
          queue: str = "default") -> None:
    """Record how a fired job of ``name`` ended, as the worker does."""
    state.record_outcome({"schedule": {"entry": name}, "connection": connection,
                          "queue": queue}, job_id, outcome)


def queued(connection: str = "memory") -> list[str]:
    """Ids of the jobs waiting on ``connection``'s default queue (taken off it)."""
    transport = get_transport(connection)
    jobs = transport.reserve(["default"], 100, 30, "t")
    transport.ack_many(jobs)
    return [job.id for job in jobs]
