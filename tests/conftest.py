"""Fixtures shared by the suite: ledgers, transports on real servers, worker subprocesses.
What they use, and the helpers test modules import, live in ``tests.support``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from django_jobqueue import failures, transports
from tests.support import REPO
from tests.support.settings_overrides import jobqueue
from tests.support.workers import WorkerProcess


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    transports.reset()
    failures.reset()
    yield
    transports.reset()
    failures.reset()


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


@pytest.fixture
def memory_transport() -> Iterator[Any]:
    """The memory transport, its default queue empty before and after."""
    transport = transports.get_transport("memory")
    transport.clear("default")
    yield transport
    transport.clear("default")


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
    """``FAILED_DATABASE`` set to the parametrised alias (see ``tests.support.params.STORES``),
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
    test databases in ``tests.support.params.TRANSPORT_PARAMS``)."""
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


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the browser tests' screenshots go: ``docs/img/`` with ``JQ_SCREENSHOTS=1``
    (to refresh the documentation's), else the test's tmp dir."""
    folder = REPO / "docs" / "img" if os.environ.get("JQ_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder
