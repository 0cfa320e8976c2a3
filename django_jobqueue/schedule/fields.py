"""How each field of a schedule entry is read and checked, wherever it was declared (a
``SCHEDULE`` setting entry or a job class's attributes).

A refused value raises :class:`EntryError` carrying the system check's id, a message that names
where the value was written, and a "did you mean" when there is a near miss: the checks
report it at start-up, and :func:`~django_jobqueue.schedule.entries.entries` leaves the entry
out, so a typo is never a crash at 2 AM.
"""

from __future__ import annotations

import datetime as dt
import difflib
import inspect
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings

from .. import payload as payload_codec
from ..conf import jobqueue_settings
from ..exceptions import ConfigurationError, PayloadError
from ..jobs import Job, registered
from ..shapes import is_number
from .missed import DEFAULT_CATCH_UP_LIMIT, DEFAULT_POLICY, POLICIES
from .timing import MIN_INTERVAL, Cron, Every, Timing

T = TypeVar("T")

# System check ids, one per kind of mistake (listed in docs/settings.md).
BAD_CRON = "E017"
CRON_OR_EVERY = "E018"
BAD_INTERVAL = "E019"
UNKNOWN_JOB = "E020"
UNKNOWN_ZONE = "E021"
UNKNOWN_POLICY = "E022"
BAD_CATCH_UP_LIMIT = "E023"
BAD_ARGUMENTS = "E024"
BAD_NAME = "E025"
BAD_OPTION = "E026"


@dataclass(frozen=True)
class Problem:
    """A value of an entry that cannot work: ``code`` is the check id (``"E017"``)."""

    code: str
    message: str
    hint: str | None = None


class EntryError(Exception):
    """A refused value (or several: :meth:`of`); raised and caught inside this package."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.problem = Problem(code, message, hint)
        self.problems = [self.problem]

    @classmethod
    def of(cls, problems: list[Problem]) -> EntryError:
        """Every problem of one entry, so a check reports them in one round."""
        error = cls(problems[0].code, problems[0].message, problems[0].hint)
        error.problems = list(problems)
        return error


class Problems:
    """Collects the problems of an entry's values: each value is checked, whatever the
    others; ``check(read, ...)`` is ``read(...)``, or ``default`` when it refused."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def check(self, read: Callable[..., T], *args: Any, default: T) -> T:
        try:
            return read(*args)
        except EntryError as exc:
            self.found += exc.problems
            return default

    def raise_any(self) -> None:
        if self.found:
            raise EntryError.of(self.found)


def did_you_mean(word: Any, known: Iterable[str]) -> str | None:
    """``"Did you mean 'X'?"`` for a near miss among ``known`` (case ignored), else ``None``."""
    if not isinstance(word, str):
        return None
    by_folded = {name.casefold(): name for name in known}
    close = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return f"Did you mean {by_folded[close[0]]!r}?" if close else None


def default_zone() -> str:
    """Django's ``TIME_ZONE``, or UTC when it is ``None``. With ``USE_TZ = False`` too: Django
    then keeps local times in that zone (and sets the process's ``TZ`` to it)."""
    return getattr(settings, "TIME_ZONE", None) or "UTC"


def zone(value: Any, where: str) -> zoneinfo.ZoneInfo:
    """The time zone named ``value`` (the default zone for ``None``)."""
    name = default_zone() if value is None else value
    if isinstance(name, str):
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    raise EntryError(
        UNKNOWN_ZONE, f"{where} is {name!r}, which is not a time zone.",
        did_you_mean(name, zoneinfo.available_timezones())
        or "Use an IANA name such as 'Europe/Paris' or 'UTC'.")


def cron(expression: Any, tz: zoneinfo.ZoneInfo, where: str) -> Cron:
    try:
        return Cron(expression, tz)
    except ConfigurationError as exc:
        raise EntryError(
            BAD_CRON, f"{where} is not a valid cron expression: {exc}.",
            "Five fields, minute hour day-of-month month day-of-week, as in '0 2 * * *'; "
            "or @hourly, @daily, @weekly, @monthly, @yearly.") from None


def interval(value: Any, where: str) -> Every:
    """An :class:`Every` from a number of seconds or a ``timedelta``."""
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else value
    if not is_number(seconds) or seconds < MIN_INTERVAL:
        raise EntryError(
            BAD_INTERVAL, f"{where} is {value!r}: an interval must be a number of "
            f"seconds (at least {MIN_INTERVAL:g}) or a timedelta.")
    return Every(float(seconds))


def class_timing(value: Any, tz: Any, where: str) -> Timing:
    """A job class's ``schedule``: a cron string, or an interval."""
    if isinstance(value, str):
        return cron(value, zone(tz, f"{where}_timezone"), where)
    if tz is not None:
        raise EntryError(
            CRON_OR_EVERY, f"{where}_timezone is set, but {where} is an interval, "
            "which counts from the Unix epoch and has no time zone.",
            "Remove schedule_timezone, or make schedule a cron expression.")
    if is_number(value) or isinstance(value, dt.timedelta):
        return interval(value, where)
    raise EntryError(
        BAD_INTERVAL, f"{where} is {value!r}: it must be a cron expression, a number "
        "of seconds or a timedelta.")


def policy(value: Any, where: str) -> str:
    if value is None:
        return DEFAULT_POLICY
    if value in POLICIES:
        return str(value)
    raise EntryError(
        UNKNOWN_POLICY, f"{where} is {value!r}, which is no missed-run policy "
        f"({', '.join(repr(p) for p in POLICIES)}).", did_you_mean(value, POLICIES))


def catch_up_limit(value: Any, where: str) -> int:
    if value is None:
        return DEFAULT_CATCH_UP_LIMIT
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise EntryError(
        BAD_CATCH_UP_LIMIT, f"{where} is {value!r}: it must be an integer >= 1 "
        "(the most missed runs fired at once).")


def job_class(value: Any, where: str) -> type[Job]:
    """The registered job class named ``value``: its registry name, or the dotted path of a
    registered class (for one whose ``name`` differs). Nothing is imported here: a class that
    Django's start-up did not import would be unknown to the workers too."""
    classes = registered()
    if isinstance(value, str):
        if value in classes:
            return classes[value]
        for cls in classes.values():
            if f"{cls.__module__}.{cls.__qualname__}" == value:
                return cls
    raise EntryError(
        UNKNOWN_JOB, f"{where} is {value!r}, which is not a registered job class.",
        did_you_mean(value, classes)
        or "Give a Job subclass's registry name (its module and class name unless "
        "it sets `name`), defined in an installed app's jobs module.")


def arguments(cls: type[Job], args: Any, kwargs: Any, where: str) -> tuple[tuple[Any, ...],
                                                                           dict[str, Any]]:
    """``args`` and ``kwargs`` as a payload will hold them, checked against the constructor
    of ``cls`` and the payload rules: a run that could only fail is refused now."""
    args = [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        raise EntryError(
            BAD_ARGUMENTS, f"{where}: ARGS must be a list and KWARGS a dict, not "
            f"{type(args).__name__} and {type(kwargs).__name__}.")
    try:
        inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError as exc:
        raise EntryError(
            BAD_ARGUMENTS, f"{where}: {cls.name} cannot be built with ARGS={args!r} "
            f"and KWARGS={kwargs!r}: {exc}.") from None
    try:
        payload_codec.dumps({"data": {"args": list(args), "kwargs": kwargs}})
    except PayloadError as exc:
        raise EntryError(
            BAD_ARGUMENTS, f"{where}: ARGS and KWARGS must fit in a payload: {exc}.") from None
    return tuple(args), dict(kwargs)


def routing(value: Any, key: str, where: str) -> str | None:
    """A ``QUEUE`` or ``CONNECTION``: ``None`` (the job's or the default) or a name; a
    connection must be configured."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise EntryError(
            BAD_OPTION, f"{where}['{key}'] must be a non-empty string or None, not "
            f"{value!r}.")
    if key == "CONNECTION":
        known = jobqueue_settings.CONNECTIONS
        if isinstance(known, dict) and value not in known:
            raise EntryError(
                BAD_OPTION, f"{where}['CONNECTION'] is {value!r}, which is not in "
                "JOBQUEUE['CONNECTIONS'].", did_you_mean(value, known))
    return value


def flag(value: Any, key: str, where: str) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    raise EntryError(BAD_OPTION, f"{where}['{key}'] must be True or False, not {value!r}.")

