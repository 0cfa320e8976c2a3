"""Our reserve+ack cost as the queue grows: 1,000 to 1,000,000 queued jobs, on the Redis
and MariaDB transports, through the transport API (``get_transport(name)``).

The queue is filled in steps with ``dispatch_many`` (one multi-row INSERT or one
pipelined push per 5,000 jobs), then ``cycles`` single-job reserve+ack pairs are timed at
each size; the jobs they take are put back before the next step. The admin and prune at a
million failed rows are ``bench/admin_at_scale.py``'s (``make bench-admin``).

Runs in ``.venv`` with ``bench.settings_ours`` (``bench/run.py --scale`` calls it).
"""

from __future__ import annotations

import statistics
import time
import uuid

SIZES = (1_000, 10_000, 100_000, 1_000_000)
CHUNK = 5_000
WARMUP = 200


def _fill(connection: str, count: int) -> None:
    from bench.jobs import BenchNoop
    from django_jobqueue import dispatch_many

    for start in range(0, count, CHUNK):
        dispatch_many([BenchNoop() for _ in range(min(CHUNK, count - start))],
                      connection=connection)


def measure(connection: str, sizes=SIZES, cycles: int = 2000,
            deadline: float = 1800.0) -> dict[int, float]:
    """µs per reserve+ack at each size, the median of ``cycles`` timed pairs (sizes not
    reached before the deadline are left out). Each pair is followed, off the clock, by
    one push, so the queue holds ``size`` jobs throughout (a queue drained by the timed
    loop itself would make small sizes look cheap)."""
    from bench.jobs import BenchNoop
    from django_jobqueue.transports import get_transport

    transport = get_transport(connection)
    transport.clear("default")
    end, queued, result = time.monotonic() + deadline, 0, {}
    try:
        for size in sizes:
            _fill(connection, size - queued)
            queued = size
            if time.monotonic() > end:
                break
            token = uuid.uuid4().hex
            times = []
            # The first pairs at each size warm caches and connections: not counted.
            for n in range(cycles + WARMUP):
                began = time.perf_counter()
                for job in transport.reserve(["default"], 1, 30.0, token):
                    transport.ack(job)
                if n >= WARMUP:
                    times.append(time.perf_counter() - began)
                BenchNoop().dispatch(connection=connection)
            result[size] = statistics.median(times) * 1e6
    finally:
        transport.clear("default")
    return result
