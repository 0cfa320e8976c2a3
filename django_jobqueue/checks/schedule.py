"""Checks of the schedule (E017-E026): every ``SCHEDULE`` entry and every job class's
``schedule`` can fire, so that a typo is an error at start-up and never a crash at 2 AM."""

from __future__ import annotations

from django.core import checks

from ..schedule import ScheduleEntry, load
from ..schedule.fields import BAD_ARGUMENTS
from .values import error


def check_schedule(refused: set[str]) -> list[checks.CheckMessage]:
    """One error for each entry that cannot work (the entry is left out of the schedule)."""
    if refused & {"SCHEDULE", "CONNECTIONS"}:
        return []  # E015 says what is wrong with their shape
    loaded = load()
    errors = [error(p.message, p.code, p.hint) for p in loaded.problems]
    return errors + [e for e in map(_build_problem, loaded.entries) if e is not None]


def _build_problem(entry: ScheduleEntry) -> checks.CheckMessage | None:
    """Build the entry's job once, as the scheduler will for every slot: a constructor that
    refuses its arguments (``days=-1``) fails here rather than at the first run. Only the
    check does this; :func:`~django_jobqueue.schedule.entries` builds nothing."""
    try:
        entry.new_job()
    except Exception as exc:  # whatever a job's constructor raises
        where = (f"JOBQUEUE['SCHEDULE'][{entry.name!r}]" if entry.source == "settings"
                 else f"{entry.name}.schedule")
        return error(f"{where}: {entry.job} cannot be built with its arguments: "
                     f"{type(exc).__name__}: {exc}", BAD_ARGUMENTS)
    return None
