"""The coordination contract (locks, advances, values, guarded pushes), run against memory,
SQLite, MariaDB, PostgreSQL, Redis and Redis Cluster."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connections, transaction

from django_jobqueue.coordination import Advance, Lock, Taken
from django_jobqueue.transports import PushItem, get_transport
from tests.support.params import TRANSPORT_PARAMS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)


def fresh() -> str:
    """A name no other test uses (Redis keeps keys between tests)."""
    return f"n-{uuid.uuid4().hex}"


def job(queue: str = "default") -> PushItem:
    job_id = uuid.uuid4().hex
    return PushItem(job_id, queue, f'{{"job":"x","id":"{job_id}"}}')


def test_a_lock_is_granted_once_until_released(clean_connection):
    co = get_transport(clean_connection).coordination
    name = fresh()
    assert co.take(Lock("default", name, "a", 30)) == Taken(True, "a")
    assert co.take(Lock("default", name, "b", 30)) == Taken(False, "a")
    assert co.take(Lock("default", name, "a", 30)) == Taken(True, "a"), "the holder again"
    assert co.release("default", name, "b") is False
    assert co.read("default", [name]) == {name: "a"}
    assert co.release("default", name, "a") is True
    assert co.read("default", [name]) == {}
    assert co.take(Lock("default", name, "b", 30)) == Taken(True, "b")


def test_locks_are_separate_by_scope_and_name(clean_connection):
    co = get_transport(clean_connection).coordination
    name = fresh()
    assert co.take(Lock("default", name, "a", 30)).granted
    assert co.take(Lock("high", name, "b", 30)).granted
    assert co.take(Lock("default", name + "x", "c", 30)).granted


def test_a_lock_ends_with_its_time_to_live_and_renewing_keeps_it(clean_connection):
    co = get_transport(clean_connection).coordination
    short, renewed = fresh(), fresh()
    assert co.take(Lock("default", short, "a", 0.3)).granted
    assert co.take(Lock("default", renewed, "a", 0.3)).granted
    assert co.renew("default", renewed, "a", 30) is True
    assert co.renew("default", renewed, "b", 30) is False
    # The holder that stopped renewing loses it to the next taker once its time is up.
    wait_until(lambda: co.take(Lock("default", short, "b", 30)).granted, timeout=10)
    assert co.read("default", [short, renewed]) == {short: "b", renewed: "a"}
    assert co.take(Lock("default", renewed, "b", 30)) == Taken(False, "a")


def test_an_advance_moves_a_value_only_from_what_the_caller_saw(clean_connection):
    co = get_transport(clean_connection).coordination
    name = fresh()
    assert co.take(Advance("default", name, None, "1")) == Taken(True, "1")
    assert co.take(Advance("default", name, None, "2")) == Taken(False, "1")
    assert co.take(Advance("default", name, "1", "2")) == Taken(True, "2")
    assert co.take(Advance("default", name, "1", "3")) == Taken(False, "2"), "a stale view"
    assert co.read("default", [name]) == {name: "2"}


def test_a_durable_value_is_not_a_lock(clean_connection):
    co = get_transport(clean_connection).coordination
    name = fresh()
    co.write("default", name, "a")
    assert co.take(Lock("default", name, "b", 30)) == Taken(False, "a")
    assert co.release("default", name, "a") is False, "release ends locks, not values"
    assert co.renew("default", name, "a", 30) is False
    assert co.read("default", [name]) == {name: "a"}


def test_a_value_written_with_a_time_to_live_is_gone_after_it(clean_connection):
    co = get_transport(clean_connection).coordination
    short, kept = fresh(), fresh()
    co.write("default", short, "1", ttl=0.3)
    co.write("default", kept, "1", ttl=0.3)
    co.write("default", kept, "2", ttl=30)  # rewritten: its time starts again
    assert co.read("default", [short, kept]) == {short: "1", kept: "2"}
    wait_until(lambda: co.read("default", [short]) == {}, timeout=10)
    assert co.read("default", [kept]) == {kept: "2"}
    co.write("default", short, "3", ttl=30)  # an expired one is written again
    assert co.read("default", [short]) == {short: "3"}


def test_values_are_written_replaced_and_deleted(clean_connection):
    co = get_transport(clean_connection).coordination
    one, two, missing = fresh(), fresh(), fresh()
    co.write("default", one, "1")
    co.write("default", two, "2")
    co.write("default", one, "uno")
    assert co.read("default", [one, two, missing]) == {one: "uno", two: "2"}
    co.write("default", two, None)
    assert co.read("default", [one, two]) == {one: "uno"}
    assert co.read("default", []) == {}


def test_long_names_are_kept_apart(clean_connection):
    co = get_transport(clean_connection).coordination
    base = "k" * 300
    assert co.take(Lock("default", base + "1", "a", 30)).granted
    assert co.take(Lock("default", base + "2", "b", 30)).granted
    assert co.read("default", [base + "1", base + "2"]) == {base + "1": "a", base + "2": "b"}


def test_of_many_racing_takers_one_wins(clean_connection):
    co = get_transport(clean_connection).coordination
    lock_name, value_name = fresh(), fresh()
    start = threading.Barrier(8)
    answers: list[tuple[Taken, Taken]] = []

    def contend(holder: str) -> None:
        start.wait()
        try:
            answers.append((co.take(Lock("default", lock_name, holder, 30)),
                            co.take(Advance("default", value_name, None, holder))))
        finally:
            connections.close_all()  # this thread's own; left open, they block teardown

    threads = [threading.Thread(target=contend, args=(f"h{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 8
    for index in (0, 1):
        won = [a[index].current for a in answers if a[index].granted]
        assert len(won) == 1, won
        assert {a[index].current for a in answers} == set(won), "losers see the winner"


def test_a_guarded_push_queues_the_job_only_when_granted(clean_connection):
    transport = get_transport(clean_connection)
    name = fresh()
    first, second = job(), job()
    assert transport.push_guarded(first, Lock("default", name, first.id, 30)).granted
    refused = transport.push_guarded(second, Lock("default", name, second.id, 30))
    assert refused == Taken(False, first.id)
    assert [j.id for j in transport.reserve(["default"], 5, 30, "t")] == [first.id]
    assert transport.size("default").total == 1
    cursor = fresh()
    assert transport.push_guarded(job(), Advance("default", cursor, None, "10")).granted
    assert not transport.push_guarded(job(), Advance("default", cursor, None, "10")).granted
    assert transport.push_guarded(job(), Advance("default", cursor, "10", "11")).granted
    assert transport.size("default").ready == 2


def test_a_guard_must_be_scoped_by_the_jobs_queue(clean_connection):
    transport = get_transport(clean_connection)
    with pytest.raises(ValueError, match="scoped by the job's queue"):
        transport.push_guarded(job("high"), Lock("default", fresh(), "a", 30))
    assert transport.size("high").total == 0


def test_a_guarded_push_in_a_rolled_back_transaction_leaves_nothing(clean_connection):
    transport = get_transport(clean_connection)
    alias = getattr(transport, "alias", None)
    if alias is None:
        pytest.skip("only a database transport joins the caller's transaction")
    name = fresh()
    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        assert transport.push_guarded(job(), Lock("default", name, "a", 30)).granted
        raise RuntimeError("rolled back")
    assert transport.size("default").total == 0
    assert transport.coordination.read("default", [name]) == {}
    assert transport.push_guarded(job(), Lock("default", name, "b", 30)).granted


def test_maintenance_deletes_expired_locks_where_the_store_keeps_them(
    clean_connection, monkeypatch
):
    from django_jobqueue.coordination import database

    monkeypatch.setattr(database, "PRUNE_AFTER", 0.0)
    co = get_transport(clean_connection).coordination
    gone, kept, value = fresh(), fresh(), fresh()
    co.take(Lock("default", gone, "a", 0.2))
    co.take(Lock("default", kept, "a", 30))
    co.write("default", value, "v")
    wait_until(lambda: not co.read("default", [gone]), timeout=10)
    pruned = co.prune()
    # Redis and memory forget expired locks by themselves; a table keeps rows until pruned.
    assert pruned == (1 if hasattr(co, "alias") else 0)
    assert co.read("default", [gone, kept, value]) == {kept: "a", value: "v"}


def test_a_push_behind_several_guards_changes_nothing_unless_all_are_granted(clean_connection):
    transport = get_transport(clean_connection)
    cursor, lock = fresh(), fresh()
    transport.coordination.take(Lock("default", lock, "other", 30))
    refused = transport.push_guarded(job(), Advance("default", cursor, None, "1"),
                                     Lock("default", lock, "me", 30))
    assert (refused.granted, refused.current, refused.refused_by) == (False, "other", 1)
    assert transport.coordination.read("default", [cursor]) == {}, "the first guard undone"
    assert transport.size("default").total == 0
    refused = transport.push_guarded(job(), Advance("default", cursor, "0", "1"),
                                     Lock("default", fresh(), "me", 30))
    assert (refused.granted, refused.current, refused.refused_by) == (False, None, 0)
    transport.coordination.release("default", lock, "other")
    granted = transport.push_guarded(job(), Advance("default", cursor, None, "1"),
                                     Lock("default", lock, "me", 30))
    assert granted.granted and granted.refused_by is None
    assert transport.coordination.read("default", [cursor, lock]) == {cursor: "1", lock: "me"}
    assert transport.size("default").ready == 1


def test_a_push_that_fails_leaves_the_guards_as_they_were(clean_connection, monkeypatch):
    transport = get_transport(clean_connection)
    if not hasattr(transport, "alias") and clean_connection != "memory":
        pytest.skip("Redis runs the guards and the push in one script")
    cursor, lock = fresh(), fresh()

    def broken(items, retry=False):
        raise RuntimeError("the insert failed")

    # The job's insert: a database transport's own, or the memory transport's push.
    monkeypatch.setattr(transport, "insert" if hasattr(transport, "insert") else "push_many",
                        broken)
    with pytest.raises(RuntimeError, match="the insert failed"):
        transport.push_guarded(job(), Advance("default", cursor, None, "1"),
                               Lock("default", lock, "me", 30))
    monkeypatch.undo()
    assert transport.coordination.read("default", [cursor, lock]) == {}
    assert transport.push_guarded(job(), Advance("default", cursor, None, "1"),
                                  Lock("default", lock, "me", 30)).granted



def test_names_differing_only_in_case_or_accents_are_different(clean_connection):
    co = get_transport(clean_connection).coordination
    base = fresh()
    for holder, name in enumerate((f"{base}-José", f"{base}-jose", f"{base}-JOSE",
                                   f"{base}-jose ")):
        assert co.take(Lock("default", name, f"h{holder}", 30)).granted, name
    assert co.take(Advance("default", f"{base}-v", None, "Ab")).granted
    assert not co.take(Advance("default", f"{base}-v", "ab", "x")).granted, "values too"
