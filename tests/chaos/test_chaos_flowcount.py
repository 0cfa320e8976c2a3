"""Scenario 17's counts (tests/chaos/flowcount.py) on made-up records: what they must not
miss."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.chaos.flowcount import (
    FINISHED,
    KILLED,
    UNEXPLAINED,
    breaches,
    busiest_window,
    most_at_once,
    quick_retries,
    reruns,
    runs,
    seconds_above,
)

T = 1_800_000_000.0


def _start(job: str, t: float, pid: int, attempt: int = 1) -> dict[str, Any]:
    return {"event": "start", "id": job, "attempt": attempt, "pid": pid, "t": t}


def _finish(job: str, t: float, pid: int, attempt: int = 1) -> dict[str, Any]:
    return {"event": "finish", "id": job, "attempt": attempt, "pid": pid, "t": t, "ok": True}


def test_a_killed_run_ends_at_the_first_kill_that_took_its_process():
    events = [_start("a", T, 10), _start("b", T + 1, 11), _finish("b", T + 2, 11)]
    kills = [{"t": T - 5, "pids": {10}}, {"t": T + 3, "pids": {10, 99}},
             {"t": T + 4, "pids": {10}}]
    found = {r.id: r for r in runs(events, kills)}
    assert (found["a"].end, found["a"].how) == (T + 3, KILLED)
    assert (found["b"].end, found["b"].how) == (T + 2, FINISHED)


def test_a_start_just_after_its_workers_kill_ends_at_once_and_an_orphan_never_ends():
    kills = [{"t": T, "pids": {10}}]
    found = runs([_start("a", T + 0.01, 10), _start("b", T + 0.01, 12)], kills)
    assert [(r.how, r.end) for r in found] == [(KILLED, T + 0.01), (UNEXPLAINED, math.inf)]
    # One killed long before is another process that got the pid again: unexplained.
    assert runs([_start("c", T + 60, 10)], kills)[0].how == UNEXPLAINED


def test_a_rerun_under_the_same_attempt_is_a_run_of_its_own():
    events = [_start("a", T, 10), _start("a", T + 1, 20), _finish("a", T + 2, 20)]
    found = runs(events, [{"t": T + 0.5, "pids": {10}}])
    assert [(r.pid, r.start, r.end) for r in found] == [(10, T, T + 0.5), (20, T + 1, T + 2)]


def test_most_at_once_counts_overlaps_and_not_runs_that_touch():
    events = [_start("a", T, 1), _finish("a", T + 1, 1), _start("b", T + 1, 2),
              _finish("b", T + 2, 2), _start("c", T + 0.5, 3), _finish("c", T + 1.5, 3),
              _start("d", T + 1.2, 4)]
    found = runs(events, [{"t": T + 1.3, "pids": {4}}])
    assert most_at_once(found) == (3, T + 1.2)  # b, c and d; a ended as b began
    assert most_at_once(found[:3]) == (2, T + 0.5)


def test_the_busiest_window_is_half_open():
    stamps = [T, T + 0.5, T + 0.999, T + 1.0, T + 1.6]  # T + 1.0 is not in [T, T + 1)
    assert busiest_window(stamps, 1.0) == (3, T)
    assert busiest_window([*stamps, T + 0.2], 1.0) == (4, T)
    assert busiest_window([], 1.0) == (0, None)


def test_seconds_above_a_limit():
    events = [_start("a", T, 1), _finish("a", T + 2, 1), _start("b", T + 0.5, 2),
              _finish("b", T + 1.5, 2), _start("c", T + 1, 3), _finish("c", T + 1.2, 3)]
    found = runs(events, [])
    assert seconds_above(found, 2) == pytest.approx(0.2)
    assert seconds_above(found, 1) == pytest.approx(1.0)


def test_a_job_run_again_is_explained_only_by_a_kill_after_its_finish():
    events = [_start("a", T, 1), _finish("a", T + 0.1, 1), _start("a", T + 3, 2, attempt=2),
              _finish("a", T + 3.1, 2, attempt=2), _start("b", T, 3), _finish("b", T + 0.1, 3),
              _start("b", T + 3, 4), _finish("b", T + 3.1, 4), _start("c", T, 5),
              _finish("c", T + 0.1, 5)]
    kills = [{"t": T + 0.05, "pids": {3}}, {"t": T + 0.12, "pids": {1}}]
    assert sorted(reruns(events, kills), key=str) == [0.02, None]


def test_breaches_list_the_runs_of_each_start_above_the_limit_and_quick_retries():
    events = [_start("a", T, 1), _finish("a", T + 2, 1), _start("b", T + 0.5, 2),
              _start("b", T + 0.6, 3, attempt=2), _finish("b", T + 1.5, 3, attempt=2),
              _start("c", T + 1, 4), _finish("c", T + 1.2, 4)]
    found = runs(events, [{"t": T + 0.55, "pids": {2}}])
    [running] = breaches(found, 2)
    assert sorted(r.id for r in running) == ["a", "b", "c"]
    assert [(r.id, r.attempt) for r in quick_retries(found, 0.1)] == [("b", 2)]
    assert quick_retries(found, 0.01) == set()
