"""Scenario 18's counts of batches and chains, from the jobs' ledger and the failed-job store
(never from what the workers claim), set against what the test dispatched (its plans).

- A **child's outcome** is its last word: *succeeded* when a run of it finished ``ok``,
  *failed* when the failed-job store has its record (by job id), *both* or *neither* when
  something is wrong (a double terminal state, or a lost child). A child killed mid-run
  and run again is one child with one outcome: its last run's.
- A **callback**: each ``callback`` line names its batch, its kind and its own job id,
  with the summary it was given. A callback's id is fixed when its batch is dispatched
  (kept in the batch's definition), so a callback pushed twice is one id pushed again: it
  shows as two push lines (below) and, on a store that then runs it twice, as a second run
  that no kill explains (:func:`tests.chaos.flowcount.reruns`). Two ids for one (batch,
  kind) would be a callback built twice.
- **Pushes** granted, from the workers' log lines: ``chain_next`` (the next step pushed,
  its lock granted) and ``batch_callback`` (a callback pushed). A worker SIGKILLed right
  after a push leaves it without its line, so a push may be missing, never doubled: more
  than one line for one step, or for one (batch, kind), is a second push.
- A **lost hook**: a job failed for good whose ``failed()`` never wrote its ``hook`` line.
  The supervisor records the failure, removes the job, then has a horse call the hook: a
  whole worker killed after the removal takes the hook with it (the job is gone from its
  queue, so nobody owes it any more). Such a loss is explained by a kill of the worker
  that ran the job's last run, after that run.
- A **step** of a chain is known by its place (the test's chain number and step index,
  written by the job) and by the job id the chain gave it at dispatch. It ran when a run
  of it started, succeeded when one finished ``ok``. In order: a step's first start comes
  after the first successful finish of the step before it. Skipped: a step ran and the one
  before it never succeeded. After a step that failed for good, none may run.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ON_FAILURE, ON_SUCCESS, ON_COMPLETE = "on_failure", "on_success", "on_complete"


@dataclass(frozen=True)
class BatchPlan:
    """A dispatched batch: its id, its children's job ids, the ones meant to fail."""

    id: str
    children: tuple[str, ...]
    failing: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ChainPlan:
    """A dispatched chain: the test's number for it, its steps' job ids in order, and the
    index of the step meant to fail for good (None: none)."""

    number: int
    steps: tuple[str, ...]
    fails_at: int | None = None


@dataclass
class Runs:
    """What the ledger says of one job id: its starts and its finishes (time, ok)."""

    starts: list[float] = field(default_factory=list)
    finishes: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return any(ok for _, ok in self.finishes)

    @property
    def successes(self) -> int:
        return sum(ok for _, ok in self.finishes)

    def first_success(self) -> float | None:
        return min((t for t, ok in self.finishes if ok), default=None)

    def first_start(self) -> float | None:
        return min(self.starts, default=None)


def runs_by_id(events: Iterable[dict[str, Any]]) -> dict[str, Runs]:
    found: dict[str, Runs] = defaultdict(Runs)
    for e in events:
        if e["event"] == "start":
            found[e["id"]].starts.append(e["t"])
        elif e["event"] == "finish":
            found[e["id"]].finishes.append((e["t"], bool(e.get("ok"))))
    return found


_PUSHED = re.compile(r"event=(?P<event>chain_next|batch_callback) (?P<fields>.*)$", re.MULTILINE)


def pushed(line: str) -> tuple[str, str, dict[str, str]] | None:
    """A granted push's log line: its event, its key (the step's id for ``chain_next``,
    ``batch:kind`` for ``batch_callback``) and its fields; None for any other line."""
    match = _PUSHED.search(line)
    if match is None:
        return None
    fields = dict(pair.split("=", 1) for pair in match["fields"].split() if "=" in pair)
    key = (fields.get("id", "") if match["event"] == "chain_next"
           else f"{fields.get('batch')}:{fields.get('callback')}")
    return match["event"], key, fields


def pushes(logs: str) -> dict[str, Counter]:
    """Granted pushes in worker logs: ``chain_next`` by step id, ``batch_callback`` by
    ``batch:kind``."""
    found: dict[str, Counter] = {"chain_next": Counter(), "batch_callback": Counter()}
    for match in _PUSHED.finditer(logs):
        event, key, _ = pushed(match[0]) or ("", "", {})
        found[event][key] += 1
    return found


def pushed_twice(found: dict[str, Counter]) -> dict[str, list[str]]:
    return {event: sorted(key for key, n in counts.items() if n > 1)
            for event, counts in found.items()}


def hooks_lost(events: Iterable[dict[str, Any]], kills: Sequence[dict[str, Any]],
               failed: Iterable[str]) -> list[float | None]:
    """For each job of ``failed`` (failed for good) without a ``hook`` line, the seconds from
    its last run's last line to the first whole-worker kill that took that run's process
    (None: no kill did)."""
    last: dict[str, dict[str, Any]] = {}
    hooked = set()
    for e in events:
        if e["event"] in ("start", "finish"):
            last[e["id"]] = e
        elif e["event"] == "hook":
            hooked.add(e["id"])
    gaps: list[float | None] = []
    for job in sorted(set(failed) - hooked):
        e = last.get(job)
        after = [k["t"] - e["t"] for k in kills
                 if e is not None and k["worker"] and e["pid"] in k["pids"] and k["t"] >= e["t"]]
        gaps.append(round(min(after), 3) if after else None)
    return gaps


# -- batches -----------------------------------------------------------------------------------
def outcomes(plan: BatchPlan, runs: Mapping[str, Runs], recorded: set[str]) -> dict[str, str]:
    """Each child's outcome: ``succeeded``, ``failed``, ``both`` or ``neither``."""
    found = {}
    for child in plan.children:
        ok = child in runs and runs[child].succeeded
        failed = child in recorded
        found[child] = ("both" if ok and failed else "succeeded" if ok
                        else "failed" if failed else "neither")
    return found


def callbacks(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """batch id -> kind -> callback job id -> the summary it was given (its first line)."""
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    for e in events:
        if e["event"] == "callback":
            found[e["batch"]][e["kind"]].setdefault(e["id"], {
                key: e[key] for key in ("total", "succeeded", "failed", "cancelled")})
    return found


def batch_report(plan: BatchPlan, events: Sequence[dict[str, Any]], recorded: set[str],
                 runs: Mapping[str, Runs] | None = None) -> dict[str, Any]:
    """One batch's figures; :func:`batch_faults` says what is wrong with them."""
    runs = runs if runs is not None else runs_by_id(events)
    ends = outcomes(plan, runs, recorded)
    counts = {kind: sum(1 for end in ends.values() if end == kind)
              for kind in ("succeeded", "failed", "both", "neither")}
    expected = {"total": len(plan.children), "succeeded": counts["succeeded"],
                "failed": counts["failed"], "cancelled": 0}
    fired = callbacks(events).get(plan.id, {})
    return {
        "batch": plan.id,
        "children": len(plan.children),
        **counts,
        "meant_to_fail": len(plan.failing),
        "failing_not_recorded": sorted(plan.failing - recorded)[:5],
        "failing_that_succeeded": sorted(c for c in plan.failing if ends[c] == "succeeded"),
        "failed_not_meant": sorted(c for c, end in ends.items()
                                   if end == "failed" and c not in plan.failing)[:5],
        "callback_ids": {kind: sorted(ids) for kind, ids in fired.items()},
        "expected_summary": expected,
        "wrong_summaries": {i: summary for ids in fired.values() for i, summary in ids.items()
                            if summary != expected},
    }


def batch_faults(report: dict[str, Any]) -> list[str]:
    """What is wrong with a batch: every callback due fired exactly once (one job id),
    none that is not due, each told the batch as it ended; every failing child recorded."""
    faults = []
    ids = report["callback_ids"]
    has_failures = report["failed"] + report["both"] + report["neither"] > 0
    due = {ON_COMPLETE, ON_FAILURE if has_failures else ON_SUCCESS}
    for kind in (ON_FAILURE, ON_SUCCESS, ON_COMPLETE):
        count = len(ids.get(kind, ()))
        if kind in due and count != 1:
            faults.append(f"{kind} fired {count} times")
        elif kind not in due and count:
            faults.append(f"{kind} fired {count} times, not due")
    if report["wrong_summaries"]:
        faults.append(f"summaries {report['wrong_summaries']} != {report['expected_summary']}")
    for key in ("both", "neither"):
        if report[key]:
            faults.append(f"{report[key]} children {key} succeeded and failed"
                          if key == "both" else f"{report[key]} children lost")
    if report["failing_not_recorded"] or report["failing_that_succeeded"]:
        faults.append(f"failing children not recorded {report['failing_not_recorded']}, "
                      f"succeeded {report['failing_that_succeeded']}")
    return faults


# -- chains ------------------------------------------------------------------------------------
def chain_report(plan: ChainPlan, events: Sequence[dict[str, Any]], recorded: set[str],
                 runs: Mapping[str, Runs] | None = None) -> dict[str, Any]:
    """One chain's figures; :func:`chain_faults` says what is wrong with them."""
    runs = runs if runs is not None else runs_by_id(events)
    # The ids each step ran under, by the place the job wrote (chain number, step).
    ran_as: dict[int, set[str]] = defaultdict(set)
    for e in events:
        if e["event"] == "start" and e.get("chain") == plan.number:
            ran_as[e["step"]].add(e["id"])
    of = [runs.get(step, Runs()) for step in plan.steps]
    out_of_order = [n for n in range(1, len(of)) if of[n].starts and of[n - 1].succeeded
                    and of[n].first_start() < of[n - 1].first_success()]
    return {
        "chain": plan.number,
        "steps": len(plan.steps),
        "fails_at": plan.fails_at,
        "ran": [n for n, r in enumerate(of) if r.starts],
        "succeeded": [n for n, r in enumerate(of) if r.succeeded],
        "recorded": [n for n, step in enumerate(plan.steps) if step in recorded],
        "other_ids": {n: sorted(ids - {plan.steps[n]}) for n, ids in ran_as.items()
                      if n >= len(plan.steps) or ids - {plan.steps[n]}},
        "succeeded_twice": [n for n, r in enumerate(of) if r.successes > 1],
        "skipped": [n for n in range(1, len(of)) if of[n].starts and not of[n - 1].succeeded],
        "out_of_order": out_of_order,
    }


def chain_faults(report: dict[str, Any]) -> list[str]:
    """What is wrong with a chain: a step under another id than its own, run out of order
    or after one that did not succeed; a chain not finished, or one held elsewhere than at
    its failing step (that step recorded, nothing after it run)."""
    faults = []
    steps, fails_at = report["steps"], report["fails_at"]
    if report["other_ids"]:
        faults.append(f"steps ran under other ids: {report['other_ids']}")
    if report["skipped"]:
        faults.append(f"steps {report['skipped']} ran after one that did not succeed")
    if report["out_of_order"]:
        faults.append(f"steps {report['out_of_order']} began before the one before succeeded")
    end = steps if fails_at is None else fails_at
    if report["succeeded"] != list(range(end)):
        faults.append(f"succeeded {report['succeeded']}, expected steps 0..{end - 1}")
    if fails_at is None:
        if report["recorded"]:
            faults.append(f"steps {report['recorded']} recorded as failed")
    else:
        if report["recorded"] != [fails_at]:
            faults.append(f"recorded {report['recorded']}, expected [{fails_at}]")
        if any(n > fails_at for n in report["ran"]):
            faults.append(f"ran {report['ran']} past the failing step {fails_at}")
    return faults
