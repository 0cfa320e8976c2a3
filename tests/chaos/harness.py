"""The chaos harness: real workers on a transport, a ledger, and the quiescence check.

The ledger is the append-only JSON-lines file of ``tests.support.ledger`` (one ``write()`` of
one short line per event, ``O_APPEND``). It is chosen over a table or a Redis stream because it
depends on none of the things the scenarios break: a SIGKILLed writer's completed ``write()``
is already in the kernel, and Redis restarts, killed database connections and a database
that is down (scenarios 4, 5, 6) cannot lose or delay a ledger line. Every job event is
one line: ``start`` and ``finish`` (id, attempt, pid, time), ``hook`` (``failed()`` ran),
``error`` (the exception handler saw a failed attempt) and ``killed`` (a horse died).

At quiescence (queue empty, workers stopped), :meth:`Chaos.tally` sets what the ledger says
against the failed-job table and the Redis fallback: lost jobs, double terminal states,
duplicate executions, attempts and ``failed()`` calls. Each scenario's figures are printed
and appended as a JSON line to ``JQ_CHAOS_RESULTS`` (default ``.chaos/results.jsonl``), from
which ``python -m tests.chaos.report`` renders the tables of ``docs/reliability.md``.

Sizes: ``JQ_CHAOS=full`` (``make chaos``) runs the issue's sizes; by default the CI sizes,
small enough for the normal suite.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from django_jobqueue.models import FailedJob
from django_jobqueue.transports import get_transport
from tests.support import REPO
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

FULL = os.environ.get("JQ_CHAOS", "").lower() == "full"
SIZE = "full" if FULL else "ci"
RESULTS = Path(os.environ.get("JQ_CHAOS_RESULTS") or REPO / ".chaos" / "results.jsonl")
QUEUE = "chaos"
FAILED_DB = "mysql"  # the failed-job table the scenarios record into
FALLBACK_KEY = f"jqtest:queue:failed:{QUEUE}"
HANDLERS = ["--exception-handler", "tests.chaos.jobs.record_error",
            "--work-horse-killed-handler", "tests.chaos.jobs.record_killed"]
SYSTEM_ERRORS = {"AbandonedJobError", "WorkHorseKilled", "JobTimeout"}

MARIADB_DB = pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
TRANSPORTS = [pytest.param("redis", id="redis"), pytest.param("mysql", id="mariadb")]
# The same, and the database transport on PostgreSQL (each with its databases: pytest-django
# follows the mark closest to the test, so these carry their own and the module none).
WITH_POSTGRES = [
    pytest.param("redis", id="redis", marks=MARIADB_DB),
    pytest.param("mysql", id="mariadb", marks=MARIADB_DB),
    pytest.param("postgres", id="postgresql", marks=pytest.mark.django_db(
        transaction=True, databases=["default", "mysql", "postgres"])),
]
# Scenarios whose PostgreSQL run adds no kind of attack to the other two: it runs in the
# full size only, which keeps CI inside its time budget.
POSTGRES_IN_FULL = WITH_POSTGRES if FULL else WITH_POSTGRES[:2]
FAST = {"LEASE": 2.0, "HEARTBEAT": 0.5, "MAINTENANCE_INTERVAL": 0.5}


def size(ci: Any, full: Any) -> Any:
    """The CI size, or the full one under ``JQ_CHAOS=full``."""
    return full if FULL else ci


def percentile(values: Iterable[float], q: float) -> float | None:
    data = sorted(values)
    if not data:
        return None
    if len(data) == 1:
        return round(data[0], 3)
    return round(statistics.quantiles(data, n=100, method="inclusive")[int(q) - 1], 3)


class Chaos:
    """Workers, ledger and bookkeeping of one scenario on one connection."""

    def __init__(self, connection: str, tmp_path: Path) -> None:
        self.connection = connection
        self.tmp = tmp_path
        self.ledger = tmp_path / "ledger.jsonl"
        self.transport = get_transport(connection)
        self.settings: dict[str, Any] = {"FAILED_DATABASE": FAILED_DB}
        self.env: dict[str, str] = {}
        self.workers: list[WorkerProcess] = []
        self.started = time.monotonic()
        self.transport.clear(QUEUE)

    # -- workers --------------------------------------------------------------------------
    def worker(self, *args: str, settings: dict[str, Any] | None = None,
               handlers: bool = True, queues: Iterable[str] = (QUEUE,)) -> WorkerProcess:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.chaos.settings",
            JQ_TESTING_DB="1",
            JQ_LEDGER=str(self.ledger),
            JQ_SETTINGS_JSON=json.dumps({**self.settings, **(settings or {})}),
            PYTHONPATH=str(REPO),
            **self.env,
        )
        argv = ["--connection", self.connection, *queues, *(HANDLERS if handlers else ()),
                *args]
        worker = WorkerProcess(argv, env, self.tmp / f"worker{len(self.workers)}.log")
        self.workers.append(worker)
        return worker

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until every live worker has logged that it started."""
        wait_until(lambda: all("event=worker_started" in w.output() for w in self.alive()),
                   timeout=timeout, interval=0.1)

    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.proc.poll() is None]

    def stop_all(self, timeout: float = 30) -> None:
        """SIGTERM every live worker and wait for it to exit (jobs finish first)."""
        live = self.alive()
        for worker in live:
            worker.signal(signal.SIGTERM)
        for worker in live:
            worker.wait(timeout)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()

    def outputs(self) -> str:
        return "\n".join(w.output() for w in self.workers)

    # -- state ----------------------------------------------------------------------------
    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        try:
            text = self.ledger.read_text()
        except FileNotFoundError:
            return []
        lines = (json.loads(line) for line in text.splitlines() if line.strip())
        return [e for e in lines if name is None or e["event"] == name]

    def queued(self) -> int:
        return self.transport.size(QUEUE).total

    def wait_drained(self, timeout: float) -> float:
        """Wait until the queue holds nothing (ready, delayed or reserved); seconds taken."""
        since = time.monotonic()
        wait_until(lambda: self.queued() == 0, timeout=timeout, interval=0.2)
        return round(time.monotonic() - since, 2)

    def wait_events(self, name: str, count: int, timeout: float) -> None:
        wait_until(lambda: len(self.events(name)) >= count, timeout=timeout, interval=0.2)

    def failed_rows(self) -> list[dict[str, Any]]:
        return list(FailedJob.objects.using(FAILED_DB).values(
            "uuid", "attempts", "exception_class", "message", "exception", "max_rss_kb",
            "job_class"))

    def fallback_uuids(self) -> list[str]:
        import redis
        from django.conf import settings

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            return [json.loads(raw)["uuid"] for raw in client.lrange(FALLBACK_KEY, 0, -1)]
        finally:
            client.close()

    # -- the quiescence check -------------------------------------------------------------
    def tally(self, ids: Iterable[str], max_tries: int | None = None) -> dict[str, Any]:
        """Figures at quiescence for the jobs ``ids`` (call once the queue is drained)."""
        ids = list(ids)
        events = self.events()
        attempts: dict[str, int] = {}
        ok = Counter()
        ok_attempts: dict[str, list[int]] = {}
        hooks = Counter()
        started = set()
        finished = set()
        system = Counter()
        for e in events:
            key = e.get("id")
            if e["event"] == "start":
                attempts[key] = max(attempts.get(key, 0), e["attempt"])
                started.add((key, e["attempt"]))
            elif e["event"] == "finish":
                finished.add((key, e["attempt"]))
                ok[key] += bool(e["ok"])
                if e["ok"]:
                    ok_attempts.setdefault(key, []).append(e["attempt"])
            elif e["event"] == "hook":
                hooks[key] += 1
            elif e["event"] == "error" and e["exc"] in SYSTEM_ERRORS:
                system[e["exc"]] += 1
        rows = self.failed_rows()
        failed = Counter(row["uuid"] for row in rows) + Counter(self.fallback_uuids())
        for row in rows:
            attempts[row["uuid"]] = max(attempts.get(row["uuid"], 0), row["attempts"])
        lost = [i for i in ids if not ok[i] and not failed[i]]
        double = [i for i in ids if failed[i] > 1 or (failed[i] and ok[i])]
        figures = {
            "jobs": len(ids),
            "done": sum(1 for i in ids if ok[i]),
            "failed": sum(1 for i in ids if failed[i]),
            "lost": len(lost),
            "double_terminal": len(double),
            "duplicate_executions": sum(max(ok[i] - 1, 0) for i in ids),
            "interrupted_runs": len(started - finished),
            "system_failures": dict(system),
            "max_attempts": max((attempts.get(i, 0) for i in ids), default=0),
            "failed_hook_calls": dict(sorted(Counter(hooks[i] for i in ids if failed[i]).items())),
            "still_queued": self.queued(),
        }
        if max_tries is not None:
            figures["max_tries"] = max_tries
        figures["lost_ids"] = lost[:5]
        # Attempt numbers of the runs of duplicated jobs: a repeated number is a rerun that
        # was not charged as an attempt.
        figures["duplicate_attempts"] = [a for a in ok_attempts.values() if len(a) > 1][:10]
        return figures

    def report(self, scenario: str, figures: dict[str, Any]) -> dict[str, Any]:
        line = {
            "scenario": scenario, "transport": self.connection, "size": SIZE,
            "seconds": round(time.monotonic() - self.started, 1),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **figures,
        }
        print("CHAOS", json.dumps(line))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        # One write with O_APPEND, as the ledger's: the Django lines' suites run at once
        # (scripts/test) and both append here.
        fd = os.open(RESULTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
        return line


def assert_sound(figures: dict[str, Any], *, allow_duplicates: int = 0, hooks: bool = True
                 ) -> None:
    """The invariants every scenario shares: nothing lost, one terminal state each, no
    attempt past ``max_tries``, ``failed()`` once per failed job (with ``hooks``: jobs
    whose payload cannot be rebuilt have no instance to call it on)."""
    assert figures["still_queued"] == 0, figures
    assert figures["lost"] == 0, figures
    assert figures["double_terminal"] == 0, figures
    assert figures["duplicate_executions"] <= allow_duplicates, figures
    if "max_tries" in figures:
        assert figures["max_attempts"] <= figures["max_tries"], figures
    if hooks:
        assert set(figures["failed_hook_calls"]) <= {1}, figures


def dispatch_all(jobs: Iterable[Any], connection: str) -> list[str]:
    from django_jobqueue import dispatch_many

    return [d.id for d in dispatch_many(list(jobs), connection=connection, queue=QUEUE)]


def every(seconds: float, until: float, action: Callable[[], None]) -> int:
    """Call ``action`` every ``seconds`` until ``until`` (monotonic); how many times. The
    pacing of an injected fault, not a wait for an outcome."""
    count = 0
    next_at = time.monotonic()
    while time.monotonic() < until:
        action()
        count += 1
        next_at += seconds
        time.sleep(max(next_at - time.monotonic(), 0))
    return count
