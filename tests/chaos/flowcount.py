"""Scenario 17's counts, from the jobs' ledger and the harness's own record of its kills
(never from what the workers claim).

- A **run** is one ``start`` line (job id, attempt, pid). It ends at the ``finish`` line of
  the same id, attempt and pid; a run without one was SIGKILLed: it ends when the harness
  killed its process (a horse alone, or a whole worker: the pids the kill took), the first
  such kill after its start. A horse can read a job already sent to it just after its worker
  died and before its own kill lands (test_chaos_kill.py), so a start may follow its kill by
  an instant: that run is taken to end at its start. A run neither finished nor killed is
  *unexplained* and runs to the end of time, so it can only raise the overlap.
- :func:`most_at_once`: a sweep over the runs' starts and ends; a run that ends when another
  starts does not overlap it.
- :func:`busiest_window`: the most start stamps in any half-open window ``[t, t + width)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

FINISHED, KILLED, UNEXPLAINED = "finished", "killed", "unexplained"
# A start this long after a kill that took its pid is the race above, not a reused pid.
KILL_RACE = 1.0


@dataclass(frozen=True)
class Run:
    id: str
    attempt: int
    pid: int
    start: float
    end: float
    how: str  # FINISHED, KILLED or UNEXPLAINED


def runs(events: Iterable[dict[str, Any]], kills: Sequence[dict[str, Any]]) -> list[Run]:
    """Every run in ``events`` (ledger lines) with its end; ``kills``: ``{"t", "pids"}``."""
    events = list(events)
    finishes = {(e["id"], e["attempt"], e["pid"]): e["t"] for e in events
                if e["event"] == "finish"}
    found = []
    for e in events:
        if e["event"] != "start":
            continue
        key = (e["id"], e["attempt"], e["pid"])
        if key in finishes:
            found.append(Run(*key, e["t"], finishes[key], FINISHED))
            continue
        took = [k["t"] for k in kills if e["pid"] in k["pids"]]
        after = [t for t in took if t >= e["t"]]
        if after:
            found.append(Run(*key, e["t"], min(after), KILLED))
        elif any(e["t"] - KILL_RACE < t for t in took):
            found.append(Run(*key, e["t"], e["t"], KILLED))
        else:
            found.append(Run(*key, e["t"], math.inf, UNEXPLAINED))
    return found


def most_at_once(found: Iterable[Run]) -> tuple[int, float | None]:
    """The most runs at once, and when that was first reached."""
    changes = sorted([(r.start, 1) for r in found] + [(r.end, -1) for r in found])
    running = most = 0
    when = None
    for t, change in changes:  # at one instant, ends (-1) sort before starts
        running += change
        if running > most:
            most, when = running, t
    return most, when


def busiest_window(stamps: Iterable[float], width: float) -> tuple[int, float | None]:
    """The most ``stamps`` in any ``[t, t + width)``, and the first such ``t`` (a stamp)."""
    ordered = sorted(stamps)
    most, when, last = 0, None, 0
    for first, t in enumerate(ordered):
        while last < len(ordered) and ordered[last] < t + width:
            last += 1
        if last - first > most:
            most, when = last - first, t
    return most, when


def busy_seconds(found: Iterable[Run]) -> float:
    """Seconds of work the runs add up to (unexplained ones left out)."""
    return sum(r.end - r.start for r in found if r.how != UNEXPLAINED)


def seconds_above(found: Iterable[Run], limit: int) -> float:
    """Seconds during which more than ``limit`` runs ran at once."""
    changes = sorted([(r.start, 1) for r in found] + [(r.end, -1) for r in found])
    running, above, since = 0, 0.0, 0.0
    for t, change in changes:
        if running > limit:
            above += t - since
        running += change
        since = t
    return above


def reruns(events: Iterable[dict[str, Any]], kills: Sequence[dict[str, Any]]
           ) -> list[float | None]:
    """For each successful run followed by another of the same job, the seconds from its
    finish to the first kill that took its process (None: no kill did). A job whose horse
    or worker died between its finish and the store's record of it runs again: at-least-once
    delivery, which only such a kill explains."""
    finished: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e["event"] == "finish" and e.get("ok"):
            finished.setdefault(e["id"], []).append(e)
    gaps: list[float | None] = []
    for runs_of_job in finished.values():
        for e in sorted(runs_of_job, key=lambda e: e["t"])[:-1]:
            after = [k["t"] - e["t"] for k in kills if e["pid"] in k["pids"] and k["t"] >= e["t"]]
            gaps.append(round(min(after), 3) if after else None)
    return gaps


def breaches(found: Sequence[Run], limit: int) -> list[list[Run]]:
    """At each start that took the count of runs above ``limit``, the runs then running."""
    return [running for r in sorted(found, key=lambda r: r.start)
            if len(running := [x for x in found if x.start <= r.start < x.end]) > limit]


def quick_retries(found: Sequence[Run], within: float) -> set[Run]:
    """Runs that began within ``within`` seconds of the end of their job's previous run."""
    by_job: dict[str, list[Run]] = {}
    for r in sorted(found, key=lambda r: r.start):
        by_job.setdefault(r.id, []).append(r)
    return {later for job_runs in by_job.values()
            for earlier, later in itertools.pairwise(job_runs)
            if later.start - earlier.end <= within}
