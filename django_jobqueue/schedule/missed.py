"""Which slots of an entry to fire now: a pure function of the timing, the entry's cursor
(the last slot it covered), the time and the entry's missed-run policy.

The scheduler calls :func:`decide` each turn, fires ``Due.slots`` (each claimed once per
slot in the store), then moves the entry's cursor to ``Due.cursor`` with a compare-and-set,
so that the next turn, on this worker or any other, starts after it.

Policies, for the slots that passed while no worker was scheduling (downtime, a store that
was down, a worker stopped for a deploy):

``"once"`` (the default)
    Fire the latest missed slot, once, and skip the older ones: a daily report runs once
    after a night of downtime, not seven times after a week. What users of Laravel's
    scheduler and Sidekiq's periodic jobs expect.
``"skip"``
    Fire a slot only if it is on time: no more than the grace (:data:`GRACE`, one minute)
    after it. A late slot is skipped; for jobs whose run is worthless late.
``"catch_up"``
    Fire every missed slot, oldest first, but at most ``catch_up_limit`` of them (the newest
    ones when more were missed): for jobs where each slot counts (an hourly export).

An entry that has never fired (cursor ``None``: it is new, or its cursor was lost) fires no
slot from the past, except one within the grace: an entry deployed at 02:00:10 for 02:00
still runs at 02:00. Whatever it fires, its cursor starts at its latest past slot, so a
later downtime is handled by its policy.

The grace is one minute: the scheduler runs every few seconds, so a slot on time is at most
a few seconds old, and a minute also absorbs a slow turn or a worker restarting at the slot.
A caller whose scheduler turns are further apart passes ``grace_for(its interval)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .timing import Timing

SKIP = "skip"
ONCE = "once"
CATCH_UP = "catch_up"
POLICIES = (SKIP, ONCE, CATCH_UP)
DEFAULT_POLICY = ONCE
DEFAULT_CATCH_UP_LIMIT = 10

#: Seconds after its time during which a slot is on time.
GRACE = 60.0

#: Missed slots are counted up to this many (an every-second entry down for a month would
#: otherwise make a list of 2.6 million); a longer gap reports this number as skipped.
MAX_COUNTED = 10_000

# Where a cursorless entry looks back from for its latest past slot (cron has no earlier).
_EPOCH = 0.0


@dataclass(frozen=True)
class Due:
    """What to do this turn."""

    #: The slots to fire now, ascending (epoch seconds). Often empty.
    slots: tuple[float, ...]
    #: Slots missed and not fired, for the log (counted up to :data:`MAX_COUNTED`).
    skipped: int
    #: The entry's cursor after this turn: the latest slot up to now, fired or skipped
    #: (``None`` only for a cursorless entry with no slot in the past).
    cursor: float | None


def grace_for(interval: float) -> float:
    """The grace for a scheduler that runs every ``interval`` seconds: :data:`GRACE`, or two
    turns if that is longer, so that one slow turn never makes a slot late."""
    return max(GRACE, 2 * interval)


def decide(
    timing: Timing,
    cursor: float | None,
    now: float,
    policy: str = DEFAULT_POLICY,
    catch_up_limit: int = DEFAULT_CATCH_UP_LIMIT,
    grace: float = GRACE,
) -> Due:
    """The slots of ``timing`` to fire at ``now`` for an entry whose last covered slot is
    ``cursor``, under ``policy`` (see the module's docstring). ``ValueError`` for an unknown
    policy or a ``catch_up_limit`` below 1: the system checks refuse those earlier."""
    if policy not in POLICIES:
        raise ValueError(f"unknown missed-run policy {policy!r} (known: {', '.join(POLICIES)})")
    if catch_up_limit < 1:
        raise ValueError(f"catch_up_limit must be at least 1, not {catch_up_limit!r}")
    if cursor is None:
        return _first(timing, now, grace)
    if timing.next_after(cursor) > now:  # the usual turn: nothing new since the last one
        return Due((), 0, cursor)
    missed = timing.slots(cursor, now, MAX_COUNTED)
    if not missed:  # float rounding at a slot's edge
        return Due((), 0, cursor)
    if policy == CATCH_UP:
        fire = missed[-catch_up_limit:]
    elif policy == ONCE or now - missed[-1] <= grace:
        fire = missed[-1:]
    else:
        fire = []
    return Due(tuple(fire), len(missed) - len(fire), missed[-1])


def _first(timing: Timing, now: float, grace: float) -> Due:
    """An entry without a cursor: its latest past slot, fired if it is within the grace."""
    latest = timing.slots(_EPOCH, now, 1)
    if not latest:
        return Due((), 0, None)
    on_time = now - latest[0] <= grace
    return Due((latest[0],) if on_time else (), 0, latest[0])
