"""Scenario 18's counts (tests/chaos/workflowcount.py) on made-up records: a callback fired
twice, a chain step doubled, skipped or run past a held step must not be missed."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.chaos.workflowcount import (
    BatchPlan,
    ChainPlan,
    batch_faults,
    batch_report,
    chain_faults,
    chain_report,
    hooks_lost,
    pushed_twice,
    pushes,
)

T = 1_800_000_000.0


def _run(job: str, t: float, ok: bool = True, pid: int = 1, **where: Any) -> list[dict]:
    return [{"event": "start", "id": job, "attempt": 1, "pid": pid, "t": t, **where},
            {"event": "finish", "id": job, "attempt": 1, "pid": pid, "t": t + 0.1, "ok": ok,
             **where}]


def _callback(job: str, kind: str, succeeded: int = 3, failed: int = 1) -> dict[str, Any]:
    return {"event": "callback", "id": job, "batch": "b", "kind": kind, "t": T + 5,
            "total": succeeded + failed, "succeeded": succeeded, "failed": failed,
            "cancelled": 0}


PLAN = BatchPlan("b", ("c0", "c1", "c2", "c3"), frozenset({"c3"}))
CHILDREN = [*_run("c0", T), *_run("c1", T), *_run("c2", T), *_run("c3", T, ok=False)]


def test_a_batch_whose_callbacks_fired_once_each_with_its_counts_is_sound():
    events = [*CHILDREN, _callback("k1", "on_failure"), _callback("k2", "on_complete")]
    report = batch_report(PLAN, events, recorded={"c3"})
    assert batch_faults(report) == []
    assert report["expected_summary"] == {"total": 4, "succeeded": 3, "failed": 1,
                                          "cancelled": 0}


def test_two_ids_for_one_callback_are_a_fault_and_one_id_run_twice_is_left_to_reruns():
    twice = [*CHILDREN, _callback("k1", "on_failure"), _callback("k2", "on_complete"),
             _callback("k3", "on_complete")]
    assert batch_faults(batch_report(PLAN, twice, {"c3"})) == ["on_complete fired 2 times"]
    rerun = [*CHILDREN, _callback("k1", "on_failure"), _callback("k2", "on_complete"),
             _callback("k2", "on_complete")]
    assert batch_faults(batch_report(PLAN, rerun, {"c3"})) == []


def test_a_missing_or_undue_callback_and_a_wrong_summary_are_faults():
    events = [*CHILDREN, _callback("k1", "on_success", succeeded=2, failed=2),
              _callback("k2", "on_complete")]
    faults = batch_faults(batch_report(PLAN, events, {"c3"}))
    assert faults[:2] == ["on_failure fired 0 times", "on_success fired 1 times, not due"]
    assert faults[2].startswith("summaries {'k1'")


def test_a_failing_child_without_its_record_is_lost_and_one_with_a_success_is_double():
    events = [*CHILDREN, _callback("k1", "on_failure"), _callback("k2", "on_complete")]
    faults = batch_faults(batch_report(PLAN, events, recorded=set()))
    assert "1 children lost" in faults
    assert "failing children not recorded ['c3'], succeeded []" in faults
    double = batch_faults(batch_report(PLAN, events, recorded={"c3", "c0"}))
    assert "1 children both succeeded and failed" in double


CHAIN = ChainPlan(7, ("s0", "s1", "s2"))


def _step(n: int, t: float, ok: bool = True, job: str | None = None) -> list[dict]:
    return _run(job or f"s{n}", t, ok, chain=7, step=n)


def test_a_chain_run_in_order_is_sound_and_a_step_rerun_after_a_kill_is_reported():
    events = [*_step(0, T), *_step(1, T + 1), *_step(2, T + 2), *_step(0, T + 1.5)]
    report = chain_report(CHAIN, events, recorded=set())
    assert chain_faults(report) == []
    assert report["succeeded_twice"] == [0]


def test_a_step_under_another_id_skipped_or_out_of_order_is_a_fault():
    doubled = [*_step(0, T), *_step(1, T + 1), *_step(1, T + 1.2, job="x"), *_step(2, T + 2)]
    assert chain_faults(chain_report(CHAIN, doubled, set())) == [
        "steps ran under other ids: {1: ['x']}"]
    skipped = [*_step(0, T), *_step(2, T + 2)]
    assert chain_faults(chain_report(CHAIN, skipped, set())) == [
        "steps [2] ran after one that did not succeed",
        "succeeded [0, 2], expected steps 0..2"]
    early = [*_step(0, T), *_step(1, T + 0.05), *_step(2, T + 2)]
    assert chain_faults(chain_report(CHAIN, early, set())) == [
        "steps [1] began before the one before succeeded"]


def test_a_held_chain_stops_at_its_failing_step_and_nothing_after_it_runs():
    plan = ChainPlan(7, ("s0", "s1", "s2"), fails_at=1)
    held = [*_step(0, T), *_step(1, T + 1, ok=False)]
    assert chain_faults(chain_report(plan, held, recorded={"s1"})) == []
    assert chain_faults(chain_report(plan, held, recorded=set())) == [
        "recorded [], expected [1]"]
    ran_on = [*held, *_step(2, T + 2)]
    assert chain_faults(chain_report(plan, ran_on, recorded={"s1"})) == [
        "steps [2] ran after one that did not succeed", "succeeded [0, 2], expected steps 0..0",
        "ran [0, 1, 2] past the failing step 1"]


def test_a_second_push_shows_in_the_log_lines():
    logs = "\n".join([
        "event=chain_next chain=c id=s1 after=s0 step=2 steps=3 queue=q",
        "event=chain_next_repeat chain=c id=s1 after=s0 step=2 steps=3 queue=q",
        "event=batch_callback batch=b callback=on_complete id=k1 job=x succeeded=3",
        "event=batch_callback batch=b callback=on_complete id=k2 job=x succeeded=3",
        "event=batch_callback batch=b callback=on_failure id=k3 job=x succeeded=3",
    ])
    found = pushes(logs)
    assert found["chain_next"] == Counter({"s1": 1})
    assert pushed_twice(found) == {"chain_next": [], "batch_callback": ["b:on_complete"]}


def test_a_lost_hook_is_explained_only_by_a_worker_kill_after_its_failure():
    events = [*_run("a", T, ok=False, pid=10), *_run("b", T, ok=False, pid=11),
              *_run("c", T, ok=False, pid=12), {"event": "hook", "id": "c", "t": T + 1}]
    kills = [{"t": T + 0.3, "worker": True, "pids": {10}},
             {"t": T + 0.3, "worker": False, "pids": {11}}]
    assert hooks_lost(events, kills, {"a", "b", "c"}) == [0.2, None]
