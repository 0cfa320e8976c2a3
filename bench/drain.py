"""Quick drain measurement of our own worker alone (the side-by-side suite is `bench/run.py`).

    .venv/bin/python bench/drain.py --connection redis --jobs 20000 --concurrency 1

Uses the test servers (``tests.support.servers``) and the ``tests`` settings. Jobs are pushed first,
then a worker is started; the clock runs from the first job taken to the queue being empty,
so worker start-up is not counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connection", default="redis")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--prefetch", type=int, default=None)
    parser.add_argument("--metrics", action="store_true",
                        help="serve Prometheus metrics (--metrics-port 0) while draining")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    from django_jobqueue import dispatch_many
    from django_jobqueue.transports import get_transport
    from tests.jobs import Noop

    for alias in ("default", "mysql"):
        call_command("migrate", database=alias, verbosity=0)
    transport = get_transport(args.connection)
    transport.clear("default")
    started = time.perf_counter()
    for start in range(0, args.jobs, 5000):
        dispatch_many([Noop(i) for i in range(start, min(start + 5000, args.jobs))],
                      connection=args.connection)
    push_s = time.perf_counter() - started
    print(f"enqueue (bulk): {args.jobs / push_s:,.0f} jobs/s")

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "django", "runworker", "--connection", args.connection,
           "--concurrency", str(args.concurrency), "-v", "0"]
    if args.prefetch is not None:
        cmd += ["--prefetch", str(args.prefetch)]
    if args.metrics:
        cmd += ["--metrics-port", "0"]
    workers = [subprocess.Popen(cmd, env=env, cwd=REPO) for _ in range(args.workers)]
    try:
        total = args.jobs
        while transport.size("default").total == total:
            time.sleep(0.001)
        began = time.perf_counter()
        deadline = began + 600
        while (size := transport.size("default").total) and time.perf_counter() < deadline:
            time.sleep(0.01)
        elapsed = time.perf_counter() - began
        done = total - size
        print(f"drain: {args.connection} workers={args.workers} concurrency={args.concurrency}"
              f" prefetch={args.prefetch} {done:,} jobs in {elapsed:.2f}s"
              f" = {done / elapsed:,.0f} jobs/s")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
