"""Our reserve+ack cost as the queue grows: 1,000 to 1,000,000 queued jobs, on the Redis
and MariaDB transports, through the transport API (``get_transport(name)``).

The queue is filled in steps with ``dispatch_many`` (one multi-row INSERT or one
pipelined push per 5,000 jobs), then ``cycles`` single-job reserve+ack pairs are timed at
each size; the jobs they take are put back before the next step. The admin and prune at a
million failed rows are ``bench/admin_at_scale.py``'s (``make bench-admin``).

Runs in ``.venv`` with ``bench.settings_ours`` (``bench/run.py --scale`` calls it).
"""

from __future__ import annotations

import time
import uuid

SIZES = (1_000, 10_000, 100_000, 1_000_000)
CHUNK = 5_000


def _fill(connection: str, count: int) -> None:
    from bench.jobs import BenchNoop
    from django_jobqueue import dispatch_many

    for start in range(0, count, CHUNK):
        dispatch_many([BenchNoop() for _ in range(min(CHUNK, count - start))],
                      connection=connection)


def measure(connection: str, sizes=SIZES, cycles: int = 2000,
            deadline: float = 1800.0) -> dict[int, float]:
    """µs per reserve+ack at each size (sizes not reached before the deadline are left
    out)."""
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
            began = time.perf_counter()
            for _ in range(cycles):
                for job in transport.reserve(["default"], 1, 30.0, token):
                    transport.ack(job)
            result[size] = (time.perf_counter() - began) / cycles * 1e6
            queued -= cycles
    finally:
        transport.clear("default")
    return result
