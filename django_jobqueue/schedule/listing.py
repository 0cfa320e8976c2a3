"""Schedule entries as operators read them: the rows ``manage.py schedule`` prints and the
admin's Schedules page shows (the same columns in both), and the JSON of ``--json``.

Times are aware datetimes with a relative text ("in 5m 00s", "3h 10m ago"), printed to the
second in the current time zone, as the commands and the admin print every time. The
actions' messages are also shared, so both surfaces say the same thing.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from ..conf import jobqueue_settings
from ..dispatch import Dispatched
from ..status import format_age
from .firing import FULL_PASS
from .service import EntryStatus, overview

FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Moment:
    """A time shown to people: when, and how far from now."""

    at: dt.datetime
    #: ``"in 5m 00s"`` or ``"3h 10m ago"``.
    relative: str


@dataclass(frozen=True)
class Row:
    """One entry's columns. ``connection`` is None for the default connection (shown only
    when it is another); with ``error`` set the store did not answer, and what only the
    store knows (operator override, last run, last outcome) is unknown."""

    name: str
    job: str
    timing: str
    queue: str
    connection: str | None
    enabled: bool
    #: An operator's enable or disable decides, not the declaration.
    overridden: bool
    last_run: Moment | None
    last_job: str
    #: The last run was queued by hand ("run now"), not for a slot.
    by_hand: bool
    outcome: str
    outcome_job: str
    outcome_at: Moment | None
    next_run: Moment | None
    error: str

    @property
    def enabled_text(self) -> str:
        """``yes`` / ``no``, marked ``(operator)`` when an operator's action decides."""
        return ("yes" if self.enabled else "no") + (" (operator)" if self.overridden else "")


def rows(statuses: Sequence[EntryStatus] | None = None, now: float | None = None) -> list[Row]:
    """A row per entry (default: :func:`.service.overview`), sorted by name."""
    now = time.time() if now is None else now
    found = overview(now) if statuses is None else statuses
    default = jobqueue_settings.DEFAULT_CONNECTION
    return [_row(status, now, default) for status in found]


def _row(status: EntryStatus, now: float, default_connection: str) -> Row:
    last, outcome = status.last, status.outcome
    return Row(
        name=status.entry.name, job=status.entry.job, timing=status.entry.timing.describe(),
        queue=status.queue,
        connection=None if status.connection == default_connection else status.connection,
        enabled=status.enabled, overridden=status.overridden,
        last_run=moment(last.fired_at, now) if last else None,
        last_job=last.job_id if last else "",
        by_hand=last is not None and last.slot is None,
        outcome=outcome.outcome if outcome else "",
        outcome_job=outcome.job_id if outcome else "",
        outcome_at=moment(outcome.at, now) if outcome else None,
        next_run=moment(status.next_run, now) if _finite(status.next_run) else None,
        error=status.store_error or "",
    )


def moment(epoch: float, now: float) -> Moment:
    """``epoch`` as a :class:`Moment` seen from ``now``."""
    age = now - epoch
    relative = f"{format_age(age)} ago" if age >= 0 else f"in {format_age(-age)}"
    return Moment(dt.datetime.fromtimestamp(epoch, tz=dt.UTC), relative)


def moment_text(moment: Moment, note: str = "") -> str:
    """``2026-12-07 02:00:00 (in 3h 10m)`` in the current time zone; ``note`` joins the
    parenthesis (``(2m 05s ago, run now)``)."""
    extra = f", {note}" if note else ""
    return f"{timezone.localtime(moment.at).strftime(FORMAT)} ({moment.relative}{extra})"


def enabled_message(status: EntryStatus, now: float | None = None) -> str:
    """What to say after :func:`.service.enable`."""
    [row] = rows([status], now)
    following = "no next run" if row.next_run is None else f"next run {moment_text(row.next_run)}"
    return (f"Enabled schedule entry {row.name!r}: {following}. Slots missed while it was "
            f"disabled are not fired; workers see the change within {FULL_PASS:g} s.")


def disabled_message(name: str) -> str:
    """What to say after :func:`.service.disable`."""
    return (f"Disabled schedule entry {name!r}: it fires no more until enabled (workers see "
            f"the change within {FULL_PASS:g} s; run now still queues it).")


def run_message(name: str, result: Dispatched) -> str:
    """What to say after :func:`.service.run_now`: the job queued, or the unique job that
    holds its key (nothing queued)."""
    if result.duplicate:
        return (f"Not queued: {name!r} runs a unique job ({result.job}) and job {result.id} "
                "already holds its key, queued or running.")
    return (f"Queued job {result.id} ({result.job}) for schedule entry {name!r} on queue "
            f"{result.queue} of connection {result.connection}.")


def as_json(status: EntryStatus) -> dict[str, Any]:
    """One entry for ``manage.py schedule --json`` (keys documented in docs/commands.md;
    times are ISO 8601 in UTC, or null)."""
    entry, last, outcome = status.entry, status.last, status.outcome
    return {
        "name": entry.name, "job": entry.job, "timing": entry.timing.describe(),
        "source": entry.source, "connection": status.connection, "queue": status.queue,
        "enabled": status.enabled, "overridden": status.overridden, "missed": entry.missed,
        "last_run": None if last is None else {
            "job_id": last.job_id, "at": _iso(last.fired_at), "slot": _iso(last.slot),
            "by": last.by},
        "last_outcome": None if outcome is None else {
            "job_id": outcome.job_id, "outcome": outcome.outcome, "at": _iso(outcome.at)},
        "next_run": _iso(status.next_run),
        "error": status.store_error or "",
    }


def _finite(epoch: float | None) -> bool:
    # A cron expression that never matches again has no next run (math.inf).
    return epoch is not None and math.isfinite(epoch)


def _iso(epoch: float | None) -> str | None:
    if not _finite(epoch):
        return None
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat()  # type: ignore[arg-type]
