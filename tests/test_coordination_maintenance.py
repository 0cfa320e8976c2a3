"""Workers delete expired coordination locks (a table keeps rows until deleted)."""

from __future__ import annotations

import uuid

import pytest

from django_jobqueue.coordination import Lock
from django_jobqueue.transports import get_transport
from tests.support.waiting import wait_until


def fresh() -> str:
    return f"n-{uuid.uuid4().hex}"


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_a_worker_deletes_expired_locks_about_once_a_minute(monkeypatch):
    from django_jobqueue.coordination import database
    from django_jobqueue.worker.options import WorkerOptions
    from django_jobqueue.worker.supervisor import Supervisor

    monkeypatch.setattr(database, "PRUNE_AFTER", 0.0)
    co = get_transport("default").coordination
    gone = fresh()
    co.take(Lock("default", gone, "a", 0.05))
    supervisor = Supervisor(WorkerOptions(connection="default"))
    due = supervisor.next_coordination_prune
    wait_until(lambda: not co.read("default", [gone]), timeout=10)
    supervisor._prune_coordination(due - 1)
    assert co.prune() == 1, "not yet: the next prune is not due"
    co.take(Lock("default", gone, "b", 0.05))
    wait_until(lambda: not co.read("default", [gone]), timeout=10)
    supervisor._prune_coordination(due)
    assert co.prune() == 0, "the worker deleted it"
    assert supervisor.next_coordination_prune >= due + 48


@pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])
@pytest.mark.parametrize("connection_name", ["default", "mysql", "postgres"])
def test_expired_locks_are_pruned_in_batches(connection_name, monkeypatch):
    from django_jobqueue.coordination import database

    monkeypatch.setattr(database, "PRUNE_AFTER", 0.0)
    monkeypatch.setattr(database, "PRUNE_BATCH", 3)
    monkeypatch.setattr(database, "PRUNE_BATCHES", 2)
    co = get_transport(connection_name).coordination
    names = [fresh() for _ in range(8)]
    for name in names:
        co.take(Lock("default", name, "a", 0.05))
    wait_until(lambda: not co.read("default", names), timeout=10)
    assert co.prune() == 6, "two batches of three a call"
    assert co.prune() == 2
    assert co.prune() == 0
