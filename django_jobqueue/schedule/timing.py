"""When a schedule entry fires: :class:`Cron` (a cron expression in a time zone) or
:class:`Every` (a fixed interval). Both answer in epoch seconds, so the scheduler compares
slots with a store's clock and stores them as plain numbers.

Cron expressions are parsed and evaluated by `cronsim`_, not by us. Both candidates are
maintained today; cronsim wins on what a core dependency of every install should be. It is
one small pure-Python module with no dependencies of its own (croniter needs
python-dateutil), built for ``zoneinfo``, kept by the author of Healthchecks.io, whose cron
monitoring rests on it, and its first stated priority is to match Debian's cron, DST quirks
included: the behaviour below is documented, not incidental. croniter was declared abandoned
by its author in December 2024 (over the EU Cyber Resilience Act) and only resumed under
pallets-eco, with its PyPI page marked abandoned for more than a year and a ``zoneinfo`` DST
fix waiting for a release; a steadier history matters for the part that decides when jobs run.

.. _cronsim: https://pypi.org/project/cronsim/

Daylight saving time follows Debian's cron (cronsim's documented behaviour):

- An expression at a *fixed time* (neither the minute nor the hour field starts with ``*``,
  e.g. ``30 2 * * *``, ``0 9-17 * * 1-5``) is matched on the wall clock. On the day clocks
  jump forward, a time that does not exist fires once, *at the jump* (02:30 in
  Europe/Paris fires at 03:00 CEST, the first instant after 02:00 CET; ``0,30 2 * * *``
  fires once there too, a slot is an instant). On the day clocks
  fall back, a time that occurs twice fires once, at its *first* occurrence (01:30 in
  America/New_York fires at 01:30 EDT, not again at 01:30 EST).
- Any other expression (``0 * * * *``, ``@hourly``, ``*/15 * * * *``) follows real time: an
  hourly job fires every real hour, so **23 times** on the day clocks jump forward and
  **25 times** on the day they fall back (02:00 CEST and 02:00 CET in Europe/Paris).

:class:`Every` has no time zone: its slots are the multiples of its interval since the Unix
epoch, the same on every host without any coordination.
"""

from __future__ import annotations

import abc
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from ..exceptions import ConfigurationError

# Vixie cron's shorthands (crontab(5)); @reboot means nothing to a queue.
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

#: The shortest interval of :class:`Every`, in seconds.
MIN_INTERVAL = 1.0

# slots() looks back over windows this long first, then 8 times longer, until it has its
# ``limit`` slots or reaches ``after``: the cost follows the slots asked for, not the gap.
_FIRST_WINDOW = 3600.0
_WINDOW_GROWTH = 8.0


class Timing(abc.ABC):
    """When an entry fires. Slots are epoch seconds; every method is pure."""

    @abc.abstractmethod
    def next_after(self, t: float) -> float:
        """The first slot strictly after ``t`` (``math.inf`` if there is none)."""

    @abc.abstractmethod
    def slots(self, after: float, until: float, limit: int) -> list[float]:
        """The slots ``s`` with ``after < s <= until``, ascending: the newest ``limit`` of
        them when there are more (a catch-up wants the most recent)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short text for people: ``"cron 0 2 * * * (Europe/Paris)"``, ``"every 30 s"``."""


@dataclass(frozen=True)
class Cron(Timing):
    """A standard five-field cron expression (ranges, steps, lists, month and day names) or
    an ``@hourly``-style alias, evaluated in ``tz``. Raises :class:`ConfigurationError`
    with cronsim's message for an expression it refuses."""

    expression: str
    tz: ZoneInfo
    # The five fields cronsim evaluates (the alias expanded).
    fields: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", parse(self.expression))

    def next_after(self, t: float) -> float:
        return next(self._after(t), math.inf)

    def slots(self, after: float, until: float, limit: int) -> list[float]:
        if limit <= 0 or until <= after:
            return []
        window = _FIRST_WINDOW
        while True:
            start = max(after, until - window)
            found: list[float] = []
            for slot in self._after(start):
                if slot > until:
                    break
                found.append(slot)
            if len(found) >= limit or start == after:
                return found[-limit:]
            window *= _WINDOW_GROWTH

    def describe(self) -> str:
        return f"cron {self.expression} ({self.tz.key})"

    def _after(self, t: float) -> Iterator[float]:
        """The slots after ``t``, ascending, forever (or until cronsim finds none)."""
        start = dt.datetime.fromtimestamp(t, self.tz)
        try:
            for moment in CronSim(self.fields, start):
                slot = moment.timestamp()
                # Started inside an hour that repeats, cronsim (on the wall clock) can
                # return that hour's first pass, which is before ``t``.
                if slot > t:
                    yield slot
        except StopIteration:  # no match within cronsim's horizon (50 years)
            return


@dataclass(frozen=True)
class Every(Timing):
    """Every ``seconds`` seconds (at least :data:`MIN_INTERVAL`): at the multiples of the
    interval since the Unix epoch, so that every worker on every host computes the same
    slots. ``Every(3600)`` fires on the hour in UTC."""

    seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise ConfigurationError(f"an interval must be a number of seconds, not "
                                     f"{self.seconds!r}")
        if not math.isfinite(self.seconds) or self.seconds < MIN_INTERVAL:
            raise ConfigurationError(f"an interval must be at least {MIN_INTERVAL:g} second, "
                                     f"not {self.seconds!r}")

    def next_after(self, t: float) -> float:
        slot = (math.floor(t / self.seconds) + 1) * self.seconds
        return slot if slot > t else slot + self.seconds  # float rounding at a boundary

    def slots(self, after: float, until: float, limit: int) -> list[float]:
        if limit <= 0 or until <= after:
            return []
        last = math.floor(until / self.seconds)
        if last * self.seconds > until:
            last -= 1
        first = max(math.floor(after / self.seconds) + 1, last - limit + 1)
        found = [k * self.seconds for k in range(first, last + 1)]
        return [slot for slot in found if after < slot <= until]

    def describe(self) -> str:
        return f"every {self.seconds:g} s"


def parse(expression: str) -> str:
    """The five cron fields of ``expression`` (an alias expanded), checked by cronsim;
    :class:`ConfigurationError` with cronsim's message if they are not valid."""
    if not isinstance(expression, str):
        raise ConfigurationError(f"a cron expression must be a string, not {expression!r}")
    text = " ".join(expression.split())
    fields = ALIASES.get(text.lower(), text)
    if fields.startswith("@"):
        known = ", ".join(sorted(ALIASES))
        raise ConfigurationError(f"unknown cron alias {text!r} (known: {known})")
    if len(fields.split()) != 5:
        # cronsim also takes a sixth field (seconds); standard cron has five.
        raise ConfigurationError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
            f"not {len(fields.split())}")
    try:
        CronSim(fields, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSimError as exc:
        raise ConfigurationError(f"{exc} in {text!r}") from None
    return fields
