"""Scenario 15's count (tests/chaos/firings.py) on made-up records: what it must not miss."""

from __future__ import annotations

from typing import Any

from tests.chaos.firings import Logged, count, logged_fires

T = 1_800_000_000.0


def _run(job: str, slot: float, entry: str = "tick") -> list[dict[str, Any]]:
    return [{"event": "slot", "id": job, "entry": entry, "slot": slot, "t": slot + 0.1},
            {"event": "start", "id": job, "attempt": 1, "t": slot + 0.1},
            {"event": "finish", "id": job, "attempt": 1, "ok": True, "t": slot + 0.4}]


def test_a_slot_run_by_two_jobs_is_a_duplicate_and_a_gap_is_missing():
    events = _run("a", T) + _run("b", T + 1) + _run("c", T + 1) + _run("d", T + 3)
    figures = count("tick", 1.0, events, [])
    assert figures["duplicates"] == 1 and figures["duplicate_slots"] == {f"{T + 1:.0f}": ["b", "c"]}
    assert figures["missing"] == 1 and figures["missing_slots"] == [f"{T + 2:.0f}"]
    assert figures["window"] == 4 and figures["fires"] == 4 and figures["done"] == 4


def test_a_fire_seen_only_in_a_log_line_counts_and_is_reported_as_never_run():
    figures = count("tick", 1.0, _run("a", T), [Logged(T + 1.2, "tick", "b", T)])
    assert figures["duplicates"] == 1, "a second job for the slot, though it never ran"
    assert figures["never_ran"] == ["b"] and figures["fired_without_log_line"] == 1


def test_the_log_and_the_ledger_must_agree_on_a_jobs_slot():
    figures = count("tick", 1.0, _run("a", T), [Logged(T + 1.1, "tick", "a", T + 1)])
    assert figures["log_ledger_disagree"] == ["a"]


def test_runs_are_counted_apart_from_fires_and_other_entries_are_left_out():
    events = _run("a", T) + _run("a", T)[1:] + _run("z", T, entry="other")
    figures = count("tick", 1.0, events, [])
    assert (figures["fires"], figures["runs"], figures["ran_more_than_once"]) == (1, 2, 1)


def test_log_lines_are_read_with_their_time():
    text = ("ts=2027-01-15T08:00:00.250+00:00 level=info logger=django_jobqueue.worker pid=7"
            " event=schedule_fired entry=tick job=tests.chaos.jobs.Tick id=abc"
            " slot=2027-01-15T08:00:00Z\nts=x event=worker_started\n")
    [line] = logged_fires(text)
    assert (line.entry, line.id, round(line.at - line.slot, 3)) == ("tick", "abc", 0.25)
