"""What the scheduler costs a worker, measured directly: the time its step takes each
second for N entries due every second, on the bench's servers.

    .venv/bin/python bench/schedule_cost.py --entries 20 --seconds 200

One worker alone fires every slot (the most a worker can pay: with more workers each slot
is fired by one, and the others only read the cursor and are refused). The clock is a fake
one advanced a second per turn, so the figure is the step's own time, not a wait. Printed:
milliseconds per one-second turn and the share of a second they are (the drain slowdown
to expect), for the Redis and SQLite transports (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
for _name, _port in {"JQ_REDIS_PORT": "26379", "JQ_MYSQL_PORT": "23306",
                     "JQ_PG_PORT": "25432", "JQ_REDIS_CLUSTER_PORT": "27100"}.items():
    os.environ.setdefault(_name, _port)
os.environ.setdefault("JQ_TEST_SERVER_DIR", str(REPO / ".test-servers" / "bench-servers"))
os.environ.setdefault("JQ_MYSQL_DURABLE", "1")
os.environ.setdefault("JQ_PG_DURABLE", "1")
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_ours"


def measure(variant: str, entries: int, seconds: int) -> list[float]:
    """Milliseconds of each one-second turn of a worker firing ``entries`` entries."""
    from django.test import override_settings

    from django_jobqueue.conf import jobqueue_settings
    from django_jobqueue.schedule.firing import Scheduler
    from django_jobqueue.transports import get_transport

    run = f"{time.time():.0f}"
    schedule = {f"cost-{run}-{n}": {"JOB": "bench.jobs.BenchNoop", "EVERY": 1,
                                     "CONNECTION": variant, "QUEUE": "bench-schedule"}
                for n in range(entries)}
    config = {**jobqueue_settings.given(), "SCHEDULE": schedule}
    transport = get_transport(variant)
    clock = [float(int(time.time())) + 0.5]
    turns = []
    with override_settings(JOBQUEUE=config):
        scheduler = Scheduler(transport, "bench", lambda: clock[0])
        scheduler.tick()  # the first look: cursors made, not counted
        for _ in range(seconds):
            clock[0] += 1.0
            began = time.perf_counter()
            scheduler.tick()
            turns.append((time.perf_counter() - began) * 1000)
    transport.clear("bench-schedule")
    return turns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=200)
    parser.add_argument("--variants", default="redis,sqlite")
    args = parser.parse_args()
    import django

    from bench import ours

    django.setup()
    ours.prepare()
    for variant in args.variants.split(","):
        turns = measure(variant, args.entries, args.seconds)
        median = statistics.median(turns)
        print(f"{variant:8} {args.entries} entries due every second: a turn takes"
              f" {median:.2f} ms (median of {len(turns)}; p95"
              f" {statistics.quantiles(turns, n=20)[-1]:.2f} ms), {median / 10:.2f}% of"
              f" each second, {median * 1000 / args.entries:.0f} us per entry")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
