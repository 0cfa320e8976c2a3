"""How a supervisor settles what its horses' answers leave owed (``worker/answers.py``), in
process, against the real Redis transport with the store's answers forced: nothing owed is
ever dropped, a recorded failure is never recorded twice, one bad record holds no other."""

from __future__ import annotations

from typing import Any

import pytest

from django_jobqueue import TransportError
from django_jobqueue.transports import Reserved
from django_jobqueue.worker.options import WorkerOptions
from django_jobqueue.worker.owed import Owed
from django_jobqueue.worker.supervisor import Supervisor

pytestmark = pytest.mark.usefixtures("redis_client")

RETRY = {"status": "retry", "delay": 0, "payload": "{}", "job_class": "x",
         "exception_class": "E"}


def failed(key: str) -> dict[str, Any]:
    return {"status": "failed", "payload": "{}", "exception_class": "E", "message": key}


def owed(sup: Supervisor, key: str, result: dict[str, Any]) -> Owed:
    item = Owed(Reserved(key, "default", "{}", 1, key, "token"), result, horse_pid=0)
    sup.owed.add(item)
    return item


@pytest.fixture
def sup() -> Supervisor:
    return Supervisor(WorkerOptions(connection="redis", queues=["default"]))


def test_an_error_that_is_not_the_stores_keeps_everything_owed(sup, monkeypatch):
    def read_only(*args, **kwargs):
        raise RuntimeError("READONLY You can't write against a read only replica.")

    monkeypatch.setattr(sup.transport, "release", read_only)
    monkeypatch.setattr(sup.books, "record_failures", read_only)
    owed(sup, "r1", RETRY)
    owed(sup, "f1", failed("f1"))
    sup._settle_owed()
    assert sorted(job.id for job in sup.owed.jobs()) == ["f1", "r1"]  # renewed, retried


def test_a_recorded_failure_whose_removal_failed_is_only_removed_next_time(sup, monkeypatch):
    recorded, removals = [], []

    def record(failures):
        recorded.extend(job.id for job, _, _ in failures)
        return [{"id": n} for n, _ in enumerate(failures)]

    def remove(jobs):
        removals.append([job.id for job in jobs])
        if len(removals) == 1:
            raise TransportError("redis went away")

    monkeypatch.setattr(sup.books, "record_failures", record)
    monkeypatch.setattr(sup.books, "remove", remove)
    owed(sup, "f1", failed("f1"))
    sup._settle_owed()
    for item in sup.owed.items:
        item.due = 0
    sup._settle_owed()
    assert (recorded, removals) == (["f1"], [["f1"], ["f1"]])
    assert not sup.owed and [hook["id"] for hook in sup.hooks] == ["f1"]


def test_a_record_the_store_refuses_does_not_hold_the_others_back(sup, monkeypatch):
    def record(failures):
        if any(job.id == "bad" for job, _, _ in failures):
            raise TransportError("database 'default': invalid byte sequence")
        return [{"id": job.id} for job, _, _ in failures]

    monkeypatch.setattr(sup.books, "record_failures", record)
    monkeypatch.setattr(sup.books, "remove", lambda jobs: None)
    for key in ("a", "bad", "b"):
        owed(sup, key, failed(key))
    sup._settle_owed()  # the batch fails: each is tried alone next time
    for item in sup.owed.items:
        item.due = 0
    sup._settle_owed()
    assert sorted(hook["id"] for hook in sup.hooks) == ["a", "b"]
    assert [job.id for job in sup.owed.jobs()] == ["bad"]


def test_a_store_that_does_not_answer_is_asked_once_per_pass(sup, monkeypatch):
    calls = []

    def down(job, *args, **kwargs):
        calls.append(job.id)
        raise TransportError("connection refused")

    monkeypatch.setattr(sup.transport, "release", down)
    for n in range(5):
        owed(sup, f"r{n}", RETRY)
    sup._settle_owed()
    assert calls == ["r0"] and len(sup.owed.jobs()) == 5


def test_a_stop_that_cannot_wait_removes_recorded_failures_and_hands_back_the_rest(
    sup, monkeypatch
):
    removed, handed = [], []
    monkeypatch.setattr(sup.books, "remove", lambda jobs: removed.extend(j.id for j in jobs))
    monkeypatch.setattr(sup, "_hand_back", lambda job, why="": handed.append(job.id))
    owed(sup, "recorded", failed("recorded")).info = {"id": 1}
    owed(sup, "unrecorded", failed("unrecorded"))
    sup._hand_back_owed()
    assert (removed, handed, sup.owed.items) == (["recorded"], ["unrecorded"], [])
