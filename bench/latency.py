"""The latency measure: how long a job waits from just before its enqueue call to the start
of its body, with one idle worker already started and waiting.

The worker is started first and given a warm-up job (the measure begins once that job has
run, and a second later, so every system is idle again, not still busy with start-up).
Then ``n`` jobs are enqueued one at a time from this process at ``rate`` per second, each
carrying ``time.monotonic()`` read just before its enqueue call; each job's body appends
(sent, started) to the count directory (``bench/jobcount.py``), and the latencies are
computed here from those records.

Stdlib only: ``bench/driver.py`` runs it in our virtualenv and in the peers'.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import harness, jobcount

#: Seconds the worker has to run its warm-up job (Celery alone takes ~1.3 s to start).
WARMUP_DEADLINE = 60.0
#: Seconds between the warm-up job and the first measured one.
SETTLE = 1.0
#: Seconds to wait for the last jobs when the measure's deadline has already passed.
GRACE = 5.0
PERCENTILES = (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (``pct`` 100 is the maximum)."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(stamps: Sequence[tuple[float, float]], sent_times: Sequence[float],
              ended: float) -> dict[str, Any]:
    """Percentiles in ms over every job sent; a job that never started counts with the time
    it had waited when the measure ended (a lower bound), and is reported as missing."""
    first = sent_times[0]
    started = {sent: begun for sent, begun in stamps if sent >= first}
    waits = sorted((started.get(sent, ended) - sent) * 1000 for sent in sent_times)
    missing = sum(1 for sent in sent_times if sent not in started)
    return {"latency_ms": {name: round(percentile(waits, pct), 3)
                           for name, pct in PERCENTILES},
            "jobs": len(sent_times) - missing, "wanted": len(sent_times),
            "missing": missing, "timeout": missing > 0}


def measure(mod: Any, variant: str, n: int, rate: float, deadline: float,
            count_dir: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    procs = harness.launch(mod.workers(variant, 1), env, log)
    began = time.monotonic()
    try:
        warm_up(mod, variant, count_dir, procs, log)
        warmed = time.monotonic() - began
        time.sleep(SETTLE)
        sent_times = send_paced(mod, variant, n, rate)
        paced = n / (sent_times[-1] - sent_times[0]) if n > 1 else rate
        wait_for(count_dir, n + 1, max(began + deadline, time.monotonic() + GRACE))
        ended = time.monotonic()
    finally:
        harness.stop(procs)
    result = summarise(jobcount.stamps(count_dir), sent_times, ended)
    result.update(warmup_s=round(warmed, 3), sent_rate=round(paced, 1))
    return result


def warm_up(mod: Any, variant: str, count_dir: Path, procs: Sequence[Any],
            log: Path) -> None:
    mod.enqueue_latency(time.monotonic(), variant)
    end = time.monotonic() + WARMUP_DEADLINE
    while jobcount.stamp_count(count_dir) < 1:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a worker exited before its warm-up job ran (see {log})")
        if time.monotonic() > end:
            raise RuntimeError(f"the warm-up job did not run in {WARMUP_DEADLINE:.0f} s"
                               f" (see {log})")
        time.sleep(0.01)


def send_paced(mod: Any, variant: str, n: int, rate: float) -> list[float]:
    """Enqueue ``n`` jobs one at a time on a fixed schedule of ``rate`` per second (a slow
    enqueue delays the next one, never shifts the schedule); the times they were sent."""
    sent_times, start = [], time.monotonic()
    for i in range(n):
        pause = start + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent = time.monotonic()
        mod.enqueue_latency(sent, variant)
        sent_times.append(sent)
    return sent_times


def wait_for(count_dir: Path, records: int, end: float) -> None:
    while jobcount.stamp_count(count_dir) < records and time.monotonic() < end:
        time.sleep(0.01)
