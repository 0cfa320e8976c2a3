"""Fixtures shared by the suite: ledgers, transports on real servers, worker subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from django_jobqueue import transports
from django_jobqueue.failures import service

REPO = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    transports.reset()
    service.reset()
    yield
    transports.reset()
    service.reset()


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("JQ_LEDGER", str(path))
    return path


@pytest.fixture
def redis_client() -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def jobqueue(**overrides: Any) -> override_settings:
    """``override_settings`` for a few JOBQUEUE keys, keeping the rest."""
    return override_settings(JOBQUEUE={**settings.JOBQUEUE, **overrides})


_SQLITE_DB = pytest.mark.django_db(transaction=True, databases=["default"])
_MARIADB_DB = pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
_POSTGRES_DB = pytest.mark.django_db(transaction=True, databases=["default", "postgres"])

# One parameter per transport, each with the real databases it needs.
TRANSPORT_PARAMS = [
    pytest.param("memory", id="memory"),
    pytest.param("default", id="sqlite", marks=_SQLITE_DB),
    pytest.param("mysql", id="mariadb", marks=_MARIADB_DB),
    pytest.param("postgres", id="postgresql", marks=_POSTGRES_DB),
    pytest.param("redis", id="redis"),
    pytest.param("redis-cluster", id="redis-cluster"),
]


# Real-worker tests that need one SQL server and Redis, with leases that expire in seconds.
MARIADB_AND_REDIS = [pytest.param("mysql", id="mariadb"), pytest.param("redis", id="redis")]
FAST_LEASE = {"LEASE": 2.0, "HEARTBEAT": 0.5, "MAINTENANCE_INTERVAL": 0.5}


@pytest.fixture
def empty_queues(redis_client: Any) -> None:
    """The queues real-worker tests use, emptied on every shared connection."""
    for name in ("default", "mysql", "postgres", "redis"):
        for queue in ("default", "high", "low"):
            transports.get_transport(name).clear(queue)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real three-node Redis Cluster for this test session (started on first use)."""
    from tests.support.servers import cluster

    nodes = cluster.start(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster.url()
    cluster.stop(nodes)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    """``FAILED_DATABASE`` set to the parametrised alias (see ``tests.factories.STORES``),
    jobs pushed to the memory connection, which starts empty."""
    with jobqueue(FAILED_DATABASE=request.param, DEFAULT_CONNECTION="memory"):
        transports.get_transport("memory").clear("default")
        yield request.param


@pytest.fixture
def connection_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def clean_connection(
    connection_name: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A connection whose store is real and empty (database ones are marked for their
    test databases in TRANSPORT_PARAMS)."""
    if connection_name.startswith("redis"):
        request.getfixturevalue("redis_client")
    if connection_name == "redis-cluster":
        request.getfixturevalue("redis_cluster")
    transport = transports.get_transport(connection_name)
    for queue in ("default", "high", "low", "other"):
        transport.clear(queue)
    yield connection_name
    for queue in ("default", "high", "low", "other"):
        transport.clear(queue)


class WorkerProcess:
    """A real ``manage.py runworker`` subprocess."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "django", "runworker", *args],
            cwd=REPO, env=env, stdout=self._out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def horse_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._out.close()


@pytest.fixture
def start_worker(tmp_path: Path, ledger: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``runworker`` subprocesses on the test databases; all are killed at the end."""
    started: list[WorkerProcess] = []

    def start(*args: str, settings_overrides: dict[str, Any] | None = None) -> WorkerProcess:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.settings",
            JQ_TESTING_DB="1",
            JQ_LEDGER=str(ledger),
            JQ_SETTINGS_JSON=json.dumps(settings_overrides or {}),
            PYTHONPATH=str(REPO),
        )
        worker = WorkerProcess(list(args), env, tmp_path / f"worker{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
