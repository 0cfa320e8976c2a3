"""Schedule entries: what fires, when, with which arguments, where.

They come from two places, read afresh on each call (so ``override_settings`` works and a
class registered later is seen):

- the ``JOBQUEUE["SCHEDULE"]`` setting, name -> ``{"JOB": ..., "CRON": ... or "EVERY": ...,
  ...}`` (see docs/settings.md);
- job classes with a ``schedule`` attribute (jobs built without arguments), each an entry
  named after the class's registry name.

An entry whose declaration cannot work is left out of :func:`entries` and reported by the
system checks (E017-E026) through :func:`load`: ``runworker`` runs them at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conf import jobqueue_settings
from ..jobs import Job, registered, resolve
from . import fields
from .fields import EntryError, Problem
from .missed import DEFAULT_CATCH_UP_LIMIT, DEFAULT_POLICY, GRACE, Due, decide
from .timing import Timing

SETTINGS = "settings"
CLASS = "class"


@dataclass(frozen=True)
class ScheduleEntry:
    """One periodic job. ``args`` and ``kwargs`` are the job's constructor arguments (JSON,
    checked against its constructor); ``queue`` and ``connection`` override the job class's
    when given; ``missed`` is the missed-run policy (:mod:`.missed`)."""

    name: str
    #: The job class's registry name (what a payload names).
    job: str
    timing: Timing
    args: tuple[Any, ...] = field(default=(), hash=False)
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    queue: str | None = None
    connection: str | None = None
    enabled: bool = True
    missed: str = DEFAULT_POLICY
    catch_up_limit: int = DEFAULT_CATCH_UP_LIMIT
    #: ``"settings"`` or ``"class"``: where it was declared.
    source: str = SETTINGS

    def due(self, cursor: float | None, now: float, grace: float = GRACE) -> Due:
        """:func:`~.missed.decide` for this entry's timing and policy."""
        return decide(self.timing, cursor, now, self.missed, self.catch_up_limit, grace)

    def new_job(self) -> Job:
        """A job instance to dispatch for one slot, its class found through the registry."""
        return resolve(self.job)(*self.args, **self.kwargs)


@dataclass(frozen=True)
class Loaded:
    """Every valid entry, sorted by name, and what is wrong with the others."""

    entries: tuple[ScheduleEntry, ...]
    problems: tuple[Problem, ...]


def entries() -> list[ScheduleEntry]:
    """The schedule's valid entries (enabled or not), sorted by name."""
    return list(load().entries)


def load() -> Loaded:
    """Read the ``SCHEDULE`` setting and the job classes' ``schedule`` attributes."""
    found: dict[str, ScheduleEntry] = {}
    problems: list[Problem] = []
    configured = jobqueue_settings.SCHEDULE
    for name, spec in (configured.items() if isinstance(configured, Mapping) else ()):
        try:
            found[name] = from_setting(name, spec)
        except EntryError as exc:
            problems += exc.problems
    for cls in sorted(registered().values(), key=lambda c: c.name):
        if cls.schedule is None:
            continue
        if isinstance(configured, Mapping) and cls.name in configured:
            problems.append(Problem(
                fields.BAD_NAME,
                f"JOBQUEUE['SCHEDULE'] has an entry named {cls.name!r}, the name of the entry"
                f" that {cls.name}.schedule declares.",
                "Rename the setting's entry, or remove `schedule` from the class."))
            continue
        try:
            found[cls.name] = from_class(cls)
        except EntryError as exc:
            problems += exc.problems
    return Loaded(tuple(found[name] for name in sorted(found)), tuple(problems))


def from_setting(name: Any, spec: Any) -> ScheduleEntry:
    """The entry ``JOBQUEUE["SCHEDULE"][name]``; :class:`EntryError` if it cannot work.
    Unknown keys are ignored here (check E014 reports them)."""
    where = f"JOBQUEUE['SCHEDULE'][{name!r}]"
    if not isinstance(name, str) or not name.strip():
        raise EntryError(fields.BAD_NAME, f"{where}: an entry's name must be a non-empty "
                         "string.")
    if not isinstance(spec, Mapping):
        raise EntryError(fields.BAD_OPTION, f"{where} must be a dict, not {spec!r}.")
    problems = fields.Problems()
    job: type[Job] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if "JOB" not in spec:
        problems.found.append(Problem(fields.UNKNOWN_JOB,
                                      f"{where} has no 'JOB': the job class to run."))
    else:
        job = problems.check(fields.job_class, spec["JOB"], f"{where}['JOB']", default=None)
    if job is not None:
        args, kwargs = problems.check(fields.arguments, job, spec.get("ARGS"),
                                      spec.get("KWARGS"), where, default=((), {}))
    timing = problems.check(_setting_timing, spec, where, default=None)
    queue = problems.check(fields.routing, spec.get("QUEUE"), "QUEUE", where, default=None)
    connection = problems.check(fields.routing, spec.get("CONNECTION"), "CONNECTION", where,
                                default=None)
    enabled = problems.check(fields.flag, spec.get("ENABLED"), "ENABLED", where, default=True)
    missed = problems.check(fields.policy, spec.get("MISSED"), f"{where}['MISSED']",
                            default="once")
    limit = problems.check(fields.catch_up_limit, spec.get("CATCH_UP_LIMIT"),
                           f"{where}['CATCH_UP_LIMIT']", default=1)
    problems.raise_any()
    assert job is not None and timing is not None
    return ScheduleEntry(name=name, job=job.name, timing=timing, args=args, kwargs=kwargs,
                         queue=queue, connection=connection, enabled=enabled, missed=missed,
                         catch_up_limit=limit, source=SETTINGS)


def _setting_timing(spec: Mapping[str, Any], where: str) -> Timing:
    has_cron, has_every = "CRON" in spec, "EVERY" in spec
    if has_cron == has_every:
        raise EntryError(
            fields.CRON_OR_EVERY,
            f"{where} has {'both' if has_cron else 'neither'} 'CRON' {'and' if has_cron else 'nor'}"
            " 'EVERY': give exactly one.",
            "'CRON': '0 2 * * *' for a cron expression, 'EVERY': 300 for an interval in seconds.")
    if has_every:
        if "TIME_ZONE" in spec:
            raise EntryError(fields.CRON_OR_EVERY, f"{where} has a 'TIME_ZONE' with 'EVERY': an "
                             "interval counts from the Unix epoch and has no time zone.",
                             "Remove 'TIME_ZONE', or use 'CRON'.")
        return fields.interval(spec["EVERY"], f"{where}['EVERY']")
    tz = fields.zone(spec.get("TIME_ZONE"), f"{where}['TIME_ZONE']")
    return fields.cron(spec["CRON"], tz, f"{where}['CRON']")


def from_class(cls: type[Job]) -> ScheduleEntry:
    """The entry that ``cls.schedule`` declares; :class:`EntryError` if it cannot work."""
    where = f"{cls.name}.schedule"
    try:
        fields.arguments(cls, (), {}, where)
    except EntryError:
        raise EntryError(fields.BAD_ARGUMENTS, f"{where} is set, but {cls.name} cannot be built "
                         "without arguments, so a schedule could not create it.",
                         "Declare the entry in JOBQUEUE['SCHEDULE'] with its 'ARGS'/'KWARGS', "
                         "or give the constructor's arguments defaults.") from None
    problems = fields.Problems()
    timing = problems.check(fields.class_timing, cls.schedule, cls.schedule_timezone, where,
                            default=None)
    missed = problems.check(fields.policy, cls.schedule_missed, f"{cls.name}.schedule_missed",
                            default="once")
    problems.raise_any()
    assert timing is not None
    return ScheduleEntry(name=cls.name, job=cls.name, timing=timing, missed=missed,
                         source=CLASS)
