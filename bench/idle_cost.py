"""What idle workers cost while they wait for jobs: CPU and queries per second.

    .venv/bin/python bench/idle_cost.py --connection default --workers 1 10
    .venv/bin/python bench/idle_cost.py --connection mysql --workers 1 10

Uses the test servers (``tests.support.servers``) and the ``tests`` settings. Starts N
``runworker`` processes (concurrency 1) on an empty queue, lets them settle, then measures
for ``--seconds``: the CPU time of every worker process (supervisors and horses), as a
percentage of one core per worker, and, on MySQL/MariaDB and PostgreSQL, the statements the
server received per second (its own counter, so the bench's own reads are subtracted).
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

QUEUE = "idle-cost"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connection", default="default")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", database=alias_of(args.connection), verbosity=0)
    for count in args.workers:
        cpu, qps = measure(args.connection, count, args.seconds)
        shown = f"{qps:,.0f} statements/s" if qps is not None else "statements not counted"
        print(f"idle: {args.connection} workers={count} cpu={cpu:.2f}% of a core per worker,"
              f" {shown} in all ({qps / count if qps else 0:,.1f} per worker)", flush=True)
    return 0


def measure(connection: str, count: int, seconds: float) -> tuple[float, float | None]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "django", "runworker", "--connection", connection, QUEUE,
         "--concurrency", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)]
    try:
        time.sleep(3.0)  # start-up and the first turns are not idleness
        pids = [pid for worker in workers for pid in (worker.pid, *children(worker.pid))]
        cpu_before, queries_before = cpu_seconds(pids), statements(connection)
        time.sleep(seconds)
        cpu_after, queries_after = cpu_seconds(pids), statements(connection)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
    cpu = (cpu_after - cpu_before) / seconds / count * 100
    qps = None
    if queries_before is not None and queries_after is not None:
        qps = (queries_after - queries_before - 1) / seconds  # less the counter's own read
    return cpu, qps


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def alias_of(connection: str) -> str:
    from django_jobqueue.conf import jobqueue_settings

    return jobqueue_settings.connection(connection).get("OPTIONS", {}).get("DATABASE",
                                                                          "default")


def statements(connection: str) -> int | None:
    from django.db import connections

    alias = alias_of(connection)
    vendor = connections[alias].vendor
    with connections[alias].cursor() as cursor:
        if vendor == "mysql":
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
            return int(cursor.fetchone()[1])
        if vendor == "postgresql":
            cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database"
                           " WHERE datname = current_database()")
            return int(cursor.fetchone()[0])
    return None


if __name__ == "__main__":
    raise SystemExit(main())
