"""Scenario 10 through real workers: many jobs failing at once against a dependency that
recovers later, retried with exponential backoff and full jitter.

The policy itself is property-tested and simulated in ``test_chaos_backoff.py``. Here the
jobs run on 2 workers x 2 horses, so what is measured is the storm a real deployment sees:
retries per second (starts of attempt 2 and later, by second since the dispatch), how late
a retry starts after its backoff allows it, and how long the queue takes to drain once the
dependency is back. Invariants: every job done once, none lost, no attempt past
``max_tries``, no failed rows (the budget is big enough to outlast the outage).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.chaos import jobs
from tests.chaos.harness import (
    MARIADB_DB,
    TRANSPORTS,
    assert_sound,
    dispatch_all,
    percentile,
    size,
)

pytestmark = [pytest.mark.slow, MARIADB_DB]

JOBS = size(200, 10_000)
RECOVERS_AFTER = size(8.0, 60.0)
BACKOFF = size({"base": 0.5, "factor": 2, "cap": 4, "jitter": 1},
               {"base": 1, "factor": 2, "cap": 60, "jitter": 1})
MAX_TRIES = size(30, 20)  # more attempts than the outage can use up
LATE_SLACK = size(10.0, 30.0)  # seconds a due retry may wait for a free horse


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_a_retry_storm_through_real_workers_ends_with_every_job_done(chaos):
    for _ in range(2):
        chaos.worker("--concurrency", "2", "--sleep", "0.2")
    chaos.wait_ready()
    dispatched = time.time()
    recovers_at = dispatched + RECOVERS_AFTER
    ids = dispatch_all(
        (jobs.Dependency(n, max_tries=MAX_TRIES, retry_after=BACKOFF, recovers_at=recovers_at)
         for n in range(JOBS)), chaos.connection)
    chaos.wait_drained(timeout=RECOVERS_AFTER + size(120, 900))
    drained = time.time()
    chaos.stop_all()

    starts = sorted((e for e in chaos.events("start") if e["id"] in set(ids)),
                    key=lambda e: e["t"])
    retries = [e for e in starts if e["attempt"] > 1]
    per_second = Counter(int(e["t"] - dispatched) for e in retries)
    window = range(int(RECOVERS_AFTER) + 1)
    mean = sum(per_second[s] for s in window) / len(window)
    peak = max((per_second[s] for s in window), default=0)
    late = _lateness(chaos, ids)
    figures = chaos.tally(ids, max_tries=MAX_TRIES)
    figures.update(
        recovers_after=RECOVERS_AFTER,
        backoff=BACKOFF,
        attempts=len(starts),
        retries=len(retries),
        retries_per_second_mean=round(mean, 1),
        retries_per_second_peak=peak,
        peak_to_mean=round(peak / mean, 2) if mean else None,
        peak_to_mean_after_first_quarter=round(
            max(per_second[s] for s in window[len(window) // 4:]) / mean, 2) if mean else None,
        retry_start_after_due_p50=percentile(late, 50),
        retry_start_after_due_p99=percentile(late, 99),
        retry_start_after_due_max=round(max(late, default=0), 3),
        drained_after_recovery_s=round(drained - recovers_at, 2),
        failed_rows=len(chaos.failed_rows()),
    )
    chaos.report("10-retry-storm-workers", figures)
    assert_sound(figures)
    assert figures["done"] == JOBS and figures["failed_rows"] == 0, figures
    assert figures["retries"] > JOBS, figures  # there was a storm: most jobs retried
    # A due retry is never parked: it starts within the slack of its backoff's end.
    assert figures["retry_start_after_due_max"] <= LATE_SLACK, figures


def _lateness(chaos, ids) -> list[float]:
    """Seconds between the moment each retry was allowed to run (the failing attempt's end
    plus the longest delay its backoff can give) and its start; never negative by much."""
    by_job: dict[str, list[dict]] = {}
    wanted = set(ids)
    for e in chaos.events():
        if e.get("id") in wanted and e["event"] in ("start", "finish"):
            by_job.setdefault(e["id"], []).append(e)
    cap, base, factor = BACKOFF["cap"], BACKOFF["base"], BACKOFF["factor"]
    late = []
    for events in by_job.values():
        finishes = {e["attempt"]: e["t"] for e in events if e["event"] == "finish"}
        for e in events:
            retry = e["attempt"] - 1
            if e["event"] == "start" and retry >= 1 and retry in finishes:
                longest = min(base * factor ** (retry - 1), cap)
                late.append(max(e["t"] - (finishes[retry] + longest), 0.0))
    return late
