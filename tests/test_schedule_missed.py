"""The missed-run policy: which slots fire now, after downtime or for a new entry."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_jobqueue.schedule import CATCH_UP, ONCE, POLICIES, SKIP, Cron, Due, Every, decide
from django_jobqueue.schedule.missed import GRACE, MAX_COUNTED, grace_for

HOUR = 3600.0
DAILY = Cron("0 2 * * *", ZoneInfo("UTC"))
HOURLY = Every(HOUR)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(2025, 1, day, hour, minute, second, tzinfo=dt.UTC).timestamp()


def test_a_usual_turn_fires_the_new_slot_under_every_policy():
    for policy in POLICIES:
        assert decide(DAILY, at(1, 2), at(2, 2, 0, 3), policy) == Due((at(2, 2),), 0, at(2, 2))


def test_nothing_new_fires_nothing_and_keeps_the_cursor():
    for policy in POLICIES:
        assert decide(DAILY, at(2, 2), at(2, 23), policy) == Due((), 0, at(2, 2))
    assert decide(DAILY, at(9, 2), at(2, 23)) == Due((), 0, at(9, 2))  # cursor ahead of now


def test_once_fires_only_the_latest_missed_slot():
    # Down from the 1st after 02:00 to the 6th at noon: 2nd..6th missed.
    due = decide(DAILY, at(1, 2), at(6, 12), ONCE)
    assert due == Due((at(6, 2),), 4, at(6, 2))


def test_once_is_the_default():
    assert decide(DAILY, at(1, 2), at(6, 12)) == decide(DAILY, at(1, 2), at(6, 12), ONCE)


def test_catch_up_fires_every_missed_slot_oldest_first():
    due = decide(HOURLY, at(1, 0), at(1, 5, 30), CATCH_UP)
    assert due == Due((at(1, 1), at(1, 2), at(1, 3), at(1, 4), at(1, 5)), 0, at(1, 5))


def test_catch_up_is_bounded_by_its_limit_keeping_the_newest():
    due = decide(HOURLY, at(1, 0), at(1, 15, 30), CATCH_UP, catch_up_limit=10)
    assert due.slots == tuple(at(1, h) for h in range(6, 16))
    assert due.skipped == 5 and due.cursor == at(1, 15)
    assert decide(HOURLY, at(1, 0), at(1, 15, 30), CATCH_UP).slots == due.slots  # default 10
    assert len(decide(HOURLY, at(1, 0), at(1, 15, 30), CATCH_UP, 3).slots) == 3


def test_skip_fires_a_slot_within_the_grace():
    due = decide(DAILY, at(1, 2), at(6, 2, 0, 30), SKIP)
    assert due == Due((at(6, 2),), 4, at(6, 2))


def test_skip_skips_a_late_slot_but_moves_the_cursor():
    due = decide(DAILY, at(1, 2), at(6, 2, 5), SKIP)
    assert due == Due((), 5, at(6, 2))
    # Next turn: the skipped slots are not counted again.
    assert decide(DAILY, due.cursor, at(6, 2, 6), SKIP) == Due((), 0, at(6, 2))


def test_skip_grace_boundary():
    assert GRACE == 60.0
    slot = at(6, 2)
    assert decide(DAILY, at(5, 2), slot + GRACE, SKIP).slots == (slot,)
    assert decide(DAILY, at(5, 2), slot + GRACE + 0.001, SKIP).slots == ()
    assert decide(DAILY, at(5, 2), slot + 300, SKIP, grace=301).slots == (slot,)


def test_grace_for_a_slow_scheduler_covers_two_turns():
    assert grace_for(5) == GRACE
    assert grace_for(45) == 90


def test_a_new_entry_fires_a_slot_within_the_grace():
    # Deployed at 02:00:10 for 02:00: still runs, whatever the policy.
    for policy in POLICIES:
        assert decide(DAILY, None, at(3, 2, 0, 10), policy) == Due((at(3, 2),), 0, at(3, 2))


def test_a_new_entry_fires_nothing_from_the_past_but_starts_its_cursor():
    for policy in POLICIES:
        assert decide(DAILY, None, at(3, 9), policy) == Due((), 0, at(3, 2))
    # From there, a later downtime is the policy's business.
    assert decide(DAILY, at(3, 2), at(6, 9), CATCH_UP).slots == (at(4, 2), at(5, 2), at(6, 2))


def test_skipped_is_counted_up_to_a_bound():
    due = decide(Every(1), at(1), at(2), ONCE)  # 86,400 missed seconds
    assert due.slots == (at(2),)
    assert due.skipped == MAX_COUNTED - 1
    assert due.cursor == at(2)


@pytest.mark.parametrize(("policy", "limit"), [("sometimes", 10), ("catch-up", 10),
                                                (CATCH_UP, 0)])
def test_bad_policy_or_limit_raise(policy, limit):
    with pytest.raises(ValueError, match=r"policy|catch_up_limit"):
        decide(DAILY, at(1), at(2), policy, limit)


# -- properties -------------------------------------------------------------------------------

TIMINGS = [Every(1), Every(7), Every(60), Every(HOUR), Every(86_400),
           Cron("* * * * *", ZoneInfo("UTC")), Cron("*/5 * * * *", ZoneInfo("UTC")),
           Cron("30 2 * * *", ZoneInfo("Europe/Paris")), Cron("0 * * * *",
                                                               ZoneInfo("America/New_York"))]
T0 = at(1)  # 2025 spans both of Paris's transitions


@settings(max_examples=400, deadline=None)
@given(timing=st.sampled_from(TIMINGS), policy=st.sampled_from(POLICIES),
       cursor=st.one_of(st.none(), st.floats(T0, T0 + 300 * 86_400)),
       gap=st.floats(0, 3 * 86_400), limit=st.integers(1, 20))
def test_policy_bounds(timing, policy, cursor, gap, limit):
    now = (cursor if cursor is not None else T0 + 200 * 86_400) + gap
    due = decide(timing, cursor, now, policy, limit)
    fired = list(due.slots)
    assert fired == sorted(set(fired)), "ascending, each once"
    assert all(s <= now for s in fired)
    if cursor is None:
        assert len(fired) <= 1 and due.skipped == 0
        assert all(now - s <= GRACE for s in fired)
        return
    assert all(s > cursor for s in fired)
    missed = timing.slots(cursor, now, MAX_COUNTED)
    assert set(fired) <= set(missed)
    assert len(fired) + due.skipped == len(missed)
    assert due.cursor == (missed[-1] if missed else cursor)
    if policy == ONCE:
        assert fired == missed[-1:]
    elif policy == CATCH_UP:
        assert fired == missed[-limit:]
    else:
        assert fired == [s for s in missed[-1:] if now - s <= GRACE]
    # Deciding again at the same moment from the new cursor fires nothing more.
    assert decide(timing, due.cursor, now, policy, limit).slots == ()


@settings(max_examples=25, deadline=None)
@given(timing=st.sampled_from([Every(60), Every(HOUR), *TIMINGS[5:]]),
       policy=st.sampled_from(POLICIES), tick=st.floats(1, 20),
       start=st.floats(T0, T0 + 300 * 86_400))
def test_a_scheduler_without_downtime_fires_every_slot_exactly_once(timing, policy, tick,
                                                                     start):
    """Turns every ``tick`` seconds (more often than the entry fires) for 90 minutes, storing
    the cursor each time: every slot in the period fires once, in order, whatever the
    policy. (A scheduler turning less often than the entry fires merges slots under "once"
    and "skip": that is what those policies are for.)"""
    cursor, fired, now = None, [], start
    while now < start + 90 * 60:
        due = decide(timing, cursor, now, policy)
        fired += due.slots
        cursor = due.cursor
        now += tick
    first = decide(timing, None, start, policy)
    expected = list(first.slots) + timing.slots(first.cursor, now - tick, 100_000)
    assert fired == expected
