"""How a supervisor settles what its horses' answers leave owed (``worker/settler.py``), in
process, against the real Redis transport with the store's answers forced: nothing owed is
ever dropped, a recorded failure is never recorded twice, one bad record holds no other."""

from __future__ import annotations

import pytest

from django_jobqueue import TransportError
from django_jobqueue.transports import Reserved
from django_jobqueue.worker.claim import Claim
from django_jobqueue.worker.options import WorkerOptions
from django_jobqueue.worker.outcomes import Owed
from django_jobqueue.worker.protocol import Failure
from django_jobqueue.worker.supervisor import Supervisor

pytestmark = pytest.mark.usefixtures("redis_client")

RETRY = Failure(True, 0, {}, "E: m", "E", "m", "x")


def failed(key: str) -> Failure:
    return Failure(False, 0, {}, f"E: {key}", "E", key, "x")


def owed(sup: Supervisor, key: str, failure: Failure) -> Owed:
    claim = Claim.of(Reserved(key, "default", "{}", 1, key, "token"), 30.0)
    item = Owed.failed(claim, failure, "x", horse_pid=0)
    sup.outcomes.add(item)
    return item


def held(sup: Supervisor) -> list[str]:
    return [job.id for job in sup.outcomes.held()]


def settle(sup: Supervisor) -> None:
    for item in sup.outcomes.items:  # what waits is due at once
        item.due = 0
    sup._settle()


@pytest.fixture
def sup() -> Supervisor:
    return Supervisor(WorkerOptions(connection="redis", queues=["default"]))


def test_an_error_that_is_not_the_stores_keeps_everything_owed(sup, monkeypatch):
    def read_only(*args, **kwargs):
        raise RuntimeError("READONLY You can't write against a read only replica.")

    monkeypatch.setattr(sup.transport, "release", read_only)
    monkeypatch.setattr(sup.settler, "record", read_only)
    owed(sup, "r1", RETRY)
    owed(sup, "f1", failed("f1"))
    sup._settle()
    assert sorted(held(sup)) == ["f1", "r1"]  # renewed, retried


def test_a_recorded_failure_whose_removal_failed_is_only_removed_next_time(sup, monkeypatch):
    recorded, removals = [], []

    def record(items):
        recorded.extend(item.claim.id for item in items)
        for n, item in enumerate(items):
            item.info = {"id": n}

    def remove(claims, ended=frozenset()):
        removals.append([claim.id for claim in claims])
        if len(removals) == 1:
            raise TransportError("redis went away")

    monkeypatch.setattr(sup.settler, "record", record)
    monkeypatch.setattr(sup.settler, "remove", remove)
    owed(sup, "f1", failed("f1"))
    sup._settle()
    settle(sup)
    assert (recorded, removals) == (["f1"], [["f1"], ["f1"]])
    assert not sup.outcomes and [hook.id for hook in sup.feeder.hooks] == ["f1"]


def test_a_record_the_store_refuses_does_not_hold_the_others_back(sup, monkeypatch):
    def record(items):
        if any(item.claim.id == "bad" for item in items):
            raise TransportError("database 'default': invalid byte sequence")
        for item in items:
            item.info = {"id": item.claim.id}

    monkeypatch.setattr(sup.settler, "record", record)
    monkeypatch.setattr(sup.settler, "remove", lambda claims, ended=frozenset(): None)
    for key in ("a", "bad", "b"):
        owed(sup, key, failed(key))
    sup._settle()  # the batch fails: each is tried alone next time
    settle(sup)
    assert sorted(hook.id for hook in sup.feeder.hooks) == ["a", "b"]
    assert held(sup) == ["bad"]


def test_a_store_that_does_not_answer_is_asked_once_per_pass(sup, monkeypatch):
    calls = []

    def down(job, *args, **kwargs):
        calls.append(job.id)
        raise TransportError("connection refused")

    monkeypatch.setattr(sup.transport, "release", down)
    for n in range(5):
        owed(sup, f"r{n}", RETRY)
    sup._settle()
    assert calls == ["r0"] and len(held(sup)) == 5


def test_a_stop_that_cannot_wait_removes_recorded_failures_and_hands_back_the_rest(
    sup, monkeypatch
):
    removed, handed = [], []
    monkeypatch.setattr(sup.settler, "remove", lambda claims: removed.extend(c.id for c in claims))
    monkeypatch.setattr(sup.settler, "hand_back", lambda claim, why="": handed.append(claim.id))
    owed(sup, "recorded", failed("recorded")).info = {"id": 1}
    owed(sup, "unrecorded", failed("unrecorded"))
    sup.settler.settle_before_stop()
    assert (removed, handed, sup.outcomes.items) == (["recorded"], ["unrecorded"], [])
