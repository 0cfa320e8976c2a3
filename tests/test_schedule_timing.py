"""When entries fire: cron expressions (through cronsim), intervals, and DST transitions."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_jobqueue.exceptions import ConfigurationError
from django_jobqueue.schedule import Cron, Every
from django_jobqueue.schedule.timing import ALIASES

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
HOUR = 3600.0
DAY = 24 * HOUR

# 2025's transitions. Paris: 02:00 CET -> 03:00 CEST on 30 March, 03:00 CEST -> 02:00 CET on
# 26 October. New York: 02:00 EST -> 03:00 EDT on 9 March, 02:00 EDT -> 01:00 EST on 2 Nov.
PARIS_SPRING, PARIS_FALL = dt.date(2025, 3, 30), dt.date(2025, 10, 26)
NY_SPRING, NY_FALL = dt.date(2025, 3, 9), dt.date(2025, 11, 2)


def utc(*parts: int) -> float:
    return dt.datetime(*parts, tzinfo=dt.UTC).timestamp()


def local_day(day: dt.date, tz: ZoneInfo) -> tuple[float, float]:
    """The epoch seconds of ``day``'s local midnight and the next one."""
    start = dt.datetime.combine(day, dt.time(), tz).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).timestamp()
    return start, end


def fired_on(cron: Cron, day: dt.date) -> list[float]:
    """Every slot of ``cron`` on local ``day``, counted with ``slots()``."""
    start, end = local_day(day, cron.tz)
    return cron.slots(start - 1, end - 1, 1000)  # (23:59:59 the day before, 23:59:59]


def shown(slots: list[float], tz: ZoneInfo) -> list[str]:
    return [dt.datetime.fromtimestamp(s, tz).strftime("%H:%M%z") for s in slots]


# -- cron expressions -------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("0 2 * * *", utc(2025, 1, 1), utc(2025, 1, 1, 2)),
    ("*/15 * * * *", utc(2025, 1, 1, 0, 1), utc(2025, 1, 1, 0, 15)),
    ("5-7 3 * * *", utc(2025, 1, 1, 3, 5), utc(2025, 1, 1, 3, 6)),
    ("0 9,17 * * *", utc(2025, 1, 1, 10), utc(2025, 1, 1, 17)),
    ("0 0 1 JAN,jul *", utc(2025, 1, 2), utc(2025, 7, 1)),
    ("0 12 * * mon-fri", utc(2025, 1, 4), utc(2025, 1, 6, 12)),  # 4 Jan 2025: a Saturday
    ("0 12 * * SUN", utc(2025, 1, 1), utc(2025, 1, 5, 12)),
    ("0 0 */10 * *", utc(2025, 1, 2), utc(2025, 1, 11)),
    ("  0   2 * *  * ", utc(2025, 1, 1), utc(2025, 1, 1, 2)),
])
def test_cron_fields(expression, after, expected):
    assert Cron(expression, UTC).next_after(after) == expected


@pytest.mark.parametrize(("alias", "after", "expected"), [
    ("@hourly", utc(2025, 1, 1, 5, 30), utc(2025, 1, 1, 6)),
    ("@daily", utc(2025, 1, 1, 5), utc(2025, 1, 2)),
    ("@midnight", utc(2025, 1, 1, 5), utc(2025, 1, 2)),
    ("@weekly", utc(2025, 1, 1), utc(2025, 1, 5)),  # Sunday
    ("@monthly", utc(2025, 1, 1), utc(2025, 2, 1)),
    ("@yearly", utc(2025, 1, 1), utc(2026, 1, 1)),
    ("@annually", utc(2025, 1, 1), utc(2026, 1, 1)),
    ("@DAILY", utc(2025, 1, 1, 5), utc(2025, 1, 2)),
])
def test_aliases(alias, after, expected):
    assert Cron(alias, UTC).next_after(after) == expected
    assert alias.lower() in ALIASES


@pytest.mark.parametrize(("expression", "says"), [
    ("61 * * * *", "Bad minute"),
    ("0 24 * * *", "Bad hour"),
    ("0 0 31 2 *", "Bad day-of-month"),
    ("0 0 * 13 *", "Bad month"),
    ("0 0 * * funday", "Bad day-of-week"),
    ("0 2 * *", "5 fields"),
    ("0 0 2 * * *", "5 fields"),  # cronsim's seconds field is not standard cron
    ("@reboot", "unknown cron alias"),
    ("", "5 fields"),
])
def test_invalid_expressions_are_refused_with_the_library_message(expression, says):
    with pytest.raises(ConfigurationError, match=says):
        Cron(expression, UTC)


def test_cron_in_a_time_zone_fires_on_its_wall_clock():
    cron = Cron("0 2 * * *", PARIS)
    assert cron.next_after(utc(2025, 1, 1)) == utc(2025, 1, 1, 1)  # 02:00 CET
    assert cron.next_after(utc(2025, 6, 30, 12)) == utc(2025, 7, 1, 0)  # 02:00 CEST


def test_describe():
    assert Cron("0 2 * * *", PARIS).describe() == "cron 0 2 * * * (Europe/Paris)"
    assert Cron("@daily", UTC).describe() == "cron @daily (UTC)"
    assert Every(30).describe() == "every 30 s"
    assert Every(1.5).describe() == "every 1.5 s"


# -- slots() --------------------------------------------------------------------------------

def test_slots_exclude_after_and_include_until():
    cron = Cron("0 * * * *", UTC)
    assert cron.slots(utc(2025, 1, 1, 1), utc(2025, 1, 1, 3), 10) == [
        utc(2025, 1, 1, 2), utc(2025, 1, 1, 3)]
    every = Every(60)
    assert every.slots(120, 240, 10) == [180, 240]


@pytest.mark.parametrize("timing", [Cron("* * * * *", UTC), Every(60)], ids=["cron", "every"])
def test_slots_limit_keeps_the_newest(timing):
    after, until = utc(2025, 1, 1), utc(2025, 1, 2)  # 1,440 minutes
    assert timing.slots(after, until, 3) == [until - 120, until - 60, until]
    assert len(timing.slots(after, until, 5000)) == 1440
    assert timing.slots(after, until, 0) == []
    assert timing.slots(until, after, 10) == []


def test_slots_reach_far_back_for_a_rare_cron():
    yearly = Cron("0 0 1 1 *", UTC)
    assert yearly.slots(0, utc(2025, 6, 1), 2) == [utc(2024, 1, 1), utc(2025, 1, 1)]
    assert len(yearly.slots(utc(2000, 6, 1), utc(2025, 6, 1), 100)) == 25


# -- intervals -------------------------------------------------------------------------------

def test_every_counts_from_the_epoch():
    every = Every(3600)
    assert every.next_after(utc(2025, 1, 1, 5, 17)) == utc(2025, 1, 1, 6)
    assert every.next_after(utc(2025, 1, 1, 6)) == utc(2025, 1, 1, 7)  # strictly after
    assert Every(7).next_after(100) == 105
    assert Every(7).slots(0, 30, 10) == [7, 14, 21, 28]


@pytest.mark.parametrize("seconds", [0, 0.5, -1, math.inf, math.nan, "60", True, None])
def test_every_refuses_intervals_under_one_second(seconds):
    with pytest.raises(ConfigurationError):
        Every(seconds)


@settings(max_examples=300, deadline=None)
@given(interval=st.floats(1, 100_000), after=st.floats(0, 2e9), span=st.floats(0, 1e6),
       limit=st.integers(1, 50))
def test_every_slots_are_multiples_in_the_window(interval, after, span, limit):
    every = Every(interval)
    until = after + span
    found = every.slots(after, until, limit)
    assert found == sorted(found) and len(found) <= limit
    assert all(after < s <= until for s in found)
    assert all(abs(s / interval - round(s / interval)) < 1e-6 for s in found)
    if found:  # the newest: nothing between the last one and ``until``
        assert every.next_after(found[-1]) > until
    else:
        assert every.next_after(after) > until or limit == 0


# -- DST: Debian cron's behaviour, through cronsim ---------------------------------------------

def test_spring_forward_a_missing_time_fires_once_at_the_jump():
    cron = Cron("30 2 * * *", PARIS)
    fired = fired_on(cron, PARIS_SPRING)
    assert shown(fired, PARIS) == ["03:00+0200"]  # 02:30 does not exist: at 03:00 CEST
    assert fired == [utc(2025, 3, 30, 1)]  # the jump itself (02:00 CET = 01:00 UTC)
    assert shown(fired_on(cron, PARIS_SPRING + dt.timedelta(days=1)), PARIS) == ["02:30+0200"]


def test_spring_forward_several_missing_times_make_one_slot_at_the_jump():
    assert shown(fired_on(Cron("0,30 2 * * *", PARIS), PARIS_SPRING), PARIS) == ["03:00+0200"]
    assert shown(fired_on(Cron("0,30 2,3 * * *", PARIS), PARIS_SPRING), PARIS) == [
        "03:00+0200", "03:30+0200"]


def test_fall_back_a_repeated_time_fires_once_at_its_first_pass():
    cron = Cron("30 2 * * *", PARIS)
    assert shown(fired_on(cron, PARIS_FALL), PARIS) == ["02:30+0200"]  # CEST, not CET too
    assert fired_on(cron, PARIS_FALL) == [utc(2025, 10, 26, 0, 30)]


def test_new_york_daily_jobs_on_both_transitions():
    assert shown(fired_on(Cron("30 2 * * *", NEW_YORK), NY_SPRING), NEW_YORK) == ["03:00-0400"]
    assert shown(fired_on(Cron("30 1 * * *", NEW_YORK), NY_FALL), NEW_YORK) == ["01:30-0400"]
    # The times around the transitions are untouched.
    assert shown(fired_on(Cron("30 1 * * *", NEW_YORK), NY_SPRING), NEW_YORK) == ["01:30-0500"]
    assert shown(fired_on(Cron("30 3 * * *", NEW_YORK), NY_FALL), NEW_YORK) == ["03:30-0500"]


@pytest.mark.parametrize("expression", ["0 * * * *", "@hourly"])
def test_hourly_follows_real_time_23_and_25_runs(expression):
    cron = Cron(expression, PARIS)
    assert len(fired_on(cron, PARIS_SPRING)) == 23
    fall = fired_on(cron, PARIS_FALL)
    assert len(fall) == 25
    assert shown(fall, PARIS)[2:4] == ["02:00+0200", "02:00+0100"]  # 02:00 twice
    assert all(b - a == HOUR for a, b in itertools.pairwise(fall))
    assert len(fired_on(cron, PARIS_FALL + dt.timedelta(days=1))) == 24


def test_daily_slots_across_a_transition_week_are_one_a_day():
    cron = Cron("30 2 * * *", PARIS)
    start, _ = local_day(PARIS_FALL - dt.timedelta(days=3), PARIS)
    _, end = local_day(PARIS_FALL + dt.timedelta(days=3), PARIS)
    found = cron.slots(start, end, 100)
    assert len(found) == 7
    assert [dt.datetime.fromtimestamp(s, PARIS).day for s in found] == list(range(23, 30))


def test_next_after_from_inside_the_repeated_hour_never_goes_back():
    cron = Cron("30 2 * * *", PARIS)
    second_pass = utc(2025, 10, 26, 1, 10)  # 02:10 CET: the wall clock already saw 02:30
    assert cron.next_after(second_pass) == utc(2025, 10, 27, 1, 30)


TRANSITION_DAYS = [(PARIS, PARIS_SPRING), (PARIS, PARIS_FALL), (NEW_YORK, NY_SPRING),
                   (NEW_YORK, NY_FALL)]
EXPRESSIONS = ["30 2 * * *", "30 1 * * *", "0 * * * *", "*/20 1-3 * * *", "15 0-4/2 * * *",
               "0,30 2 * * *"]


@settings(max_examples=200, deadline=None)
@given(where=st.sampled_from(TRANSITION_DAYS), expression=st.sampled_from(EXPRESSIONS),
       offset=st.floats(-DAY, DAY), span=st.floats(0, 2 * DAY), limit=st.integers(1, 60))
def test_slots_agree_with_stepping_next_after(where, expression, offset, span, limit):
    """Around transitions, slots() (which looks back in windows) lists what a scheduler
    stepping with next_after() would fire: the same instants, ascending, each once."""
    tz, day = where
    cron = Cron(expression, tz)
    after = local_day(day, tz)[0] + offset
    until = after + span
    stepped, t = [], after
    while (t := cron.next_after(t)) <= until:
        stepped.append(t)
    assert cron.slots(after, until, limit) == stepped[-limit:]
    assert len(set(stepped)) == len(stepped)
