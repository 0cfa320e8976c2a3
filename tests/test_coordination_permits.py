"""Permits of the coordination contract (admit, give_back, extend, holders), run against
memory, SQLite, MariaDB, PostgreSQL, Redis and Redis Cluster."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from django_jobqueue.coordination import Admission, Coordination, Permit
from django_jobqueue.transports import get_transport
from tests.support.params import TRANSPORT_PARAMS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)


def fresh() -> str:
    """A name no other test uses (Redis keeps keys between tests)."""
    return f"p-{uuid.uuid4().hex}"


def permit(name: str, holder: str, limit: int = 1, ttl: float = 30.0,
           scope: str = "default") -> Permit:
    return Permit(scope, name, holder, limit, ttl)


def granted(co: Coordination, *permits: Permit) -> bool:
    """Whether one group of ``permits`` is admitted."""
    [answer] = co.admit([list(permits)])
    return answer.granted


def count(co: Coordination, name: str) -> int:
    return co.holders("default", [name])[name]


@contextlib.contextmanager
def no_round_trip(co: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail if the store is asked anything inside (memory has no round trips to count)."""
    if hasattr(co, "alias"):
        with CaptureQueriesContext(connections[co.alias]) as queries:
            yield
        assert not queries.captured_queries, queries.captured_queries
        return
    if hasattr(co, "prefix"):
        def unreachable() -> Any:
            raise AssertionError("Redis was asked")

        monkeypatch.setattr(co, "_client", unreachable)
    yield


@contextlib.contextmanager
def repeatable_read(alias: str) -> Iterator[None]:
    """MySQL/MariaDB in the isolation level a project may choose (Django's is READ
    COMMITTED), where a transaction's plain reads see the snapshot of its first one."""
    if connections[alias].vendor != "mysql":
        yield
        return
    with connections[alias].cursor() as cursor:
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        try:
            yield
        finally:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")


def test_no_more_than_the_limit_are_granted_and_a_holder_counts_once(clean_connection):
    co = get_transport(clean_connection).coordination
    name = fresh()
    assert co.admit([[permit(name, "a", 2)]]) == [Admission(True)]
    assert granted(co, permit(name, "a", 2)), "the holder again"
    assert count(co, name) == 1, "not counted twice"
    assert granted(co, permit(name, "b", 2))
    [refused] = co.admit([[permit(name, "c", 2)]])
    assert (refused.granted, refused.refused_by) == (False, 0)
    assert refused.free_in is not None and 29 < refused.free_in <= 30
    assert granted(co, permit(name, "a", 2)), "a holder is granted again at the limit"
    unheld = fresh()
    assert co.holders("default", [name, unheld]) == {name: 2, unheld: 0}


def test_a_group_is_granted_all_or_none(clean_connection):
    co = get_transport(clean_connection).coordination
    full, free = fresh(), fresh()
    assert granted(co, permit(full, "other"))
    [refused] = co.admit([[permit(free, "me", 5), permit(full, "me")]])
    assert (refused.granted, refused.refused_by) == (False, 1)
    assert co.holders("default", [free, full]) == {free: 0, full: 1}, "the first one undone"
    assert co.admit([[permit(fresh(), "me", limit=0)]]) == [Admission(False, 0, None)]
    [twice] = co.admit([[permit(free, "x", 1), permit(free, "y", 1)]])
    assert (twice.granted, twice.refused_by) == (False, 1), "a group counts its own permits"
    assert count(co, free) == 0


def test_groups_are_decided_in_order_and_count_against_later_ones(clean_connection):
    co = get_transport(clean_connection).coordination
    name, other = fresh(), fresh()
    answers = co.admit([[permit(name, "j1", 2)], [permit(name, "j2", 2)],
                        [permit(name, "j3", 2)], [permit(name, "j1", 2)], []])
    assert [a.granted for a in answers] == [True, True, False, True, True]
    # A refused group's permits are not granted, so they take no place from later groups.
    answers = co.admit([[permit(other, "k1"), permit(name, "k1", 2)], [permit(other, "k2")]])
    assert [(a.granted, a.refused_by) for a in answers] == [(False, 1), (True, None)]
    assert co.holders("default", [name, other]) == {name: 2, other: 1}


def test_one_call_is_one_scope_and_nothing_is_asked_for_nothing(clean_connection,
                                                                monkeypatch):
    co = get_transport(clean_connection).coordination
    name = fresh()
    with pytest.raises(ValueError, match="one scope"):
        co.admit([[permit(name, "a")], [permit(name, "b", scope="high")]])
    assert count(co, name) == 0
    with no_round_trip(co, monkeypatch):
        assert co.admit([]) == []
        assert co.admit([[], []]) == [Admission(True), Admission(True)]
        co.give_back("default", [])
        assert co.extend("default", [], 30) == []
        assert co.holders("default", []) == {}


def test_giving_back_frees_a_place(clean_connection):
    co = get_transport(clean_connection).coordination
    name = fresh()
    assert granted(co, permit(name, "a", 2)) and granted(co, permit(name, "b", 2))
    assert not granted(co, permit(name, "c", 2))
    co.give_back("default", [(name, "a"), (name, "nobody"), (fresh(), "a")])
    assert count(co, name) == 1
    assert granted(co, permit(name, "c", 2))
    co.give_back("default", [(name, "b"), (name, "c")])
    assert count(co, name) == 0


def test_permits_given_back_with_an_admission_free_their_places_first(clean_connection):
    co = get_transport(clean_connection).coordination
    name, other = fresh(), fresh()
    assert granted(co, permit(name, "a", 2)) and granted(co, permit(name, "b", 2))
    assert granted(co, permit(other, "x", 1))
    # One call: a's and x's places free up, then c takes a's; the group after it is
    # refused, b still holding the other place.
    answers = co.admit([[permit(name, "c", 2)], [permit(name, "d", 2)]],
                       releasing=[(name, "a"), (other, "x"), (name, "nobody")])
    assert [answer.granted for answer in answers] == [True, False]
    assert co.holders("default", [name, other]) == {name: 2, other: 0}
    # With nothing to admit, nothing is given back either: the call asks the store nothing.
    assert co.admit([[]], releasing=[(name, "b")]) == [Admission(True)]
    assert count(co, name) == 2


def test_permits_expire_with_their_time_to_live_a_sliding_window(clean_connection):
    co = get_transport(clean_connection).coordination
    name = fresh()
    began = time.monotonic()
    answers = co.admit([[permit(name, "t1", 2, ttl=0.3)], [permit(name, "t2", 2, ttl=0.6)],
                        [permit(name, "t3", 2, ttl=0.3)]])
    assert [a.granted for a in answers] == [True, True, False]
    [refused] = co.admit([[permit(name, "t3", 2)]])
    waited = time.monotonic() - began
    assert refused.free_in is not None
    assert 0.3 - waited - 0.05 <= refused.free_in <= 0.3, "the first holder's time left"
    wait_until(lambda: granted(co, permit(name, "t3", 2)), timeout=10)
    assert time.monotonic() - began > 0.25, "not before the first permit expired"
    assert not granted(co, permit(name, "t4", 2)), "the second one is still held"


def test_extending_keeps_live_permits_and_reports_lost_ones(clean_connection):
    co = get_transport(clean_connection).coordination
    kept, lapsed, returned = fresh(), fresh(), fresh()
    assert granted(co, permit(kept, "a", ttl=0.2), permit(lapsed, "a", ttl=0.2),
                   permit(returned, "a"))
    assert co.extend("default", [(kept, "a")], 30) == []
    co.give_back("default", [(returned, "a")])
    wait_until(lambda: count(co, lapsed) == 0, timeout=10)
    lost = co.extend("default", [(kept, "a"), (lapsed, "a"), (returned, "a"), (kept, "b")], 30)
    assert lost == [(lapsed, "a"), (returned, "a"), (kept, "b")]
    assert co.holders("default", [kept, lapsed, returned]) == {kept: 1, lapsed: 0, returned: 0}
    assert not granted(co, permit(kept, "b")), "still held after its first time-to-live"


def test_names_and_holders_are_compared_exactly_and_long_ones_kept_apart(clean_connection):
    co = get_transport(clean_connection).coordination
    base = fresh()
    names = [f"{base}-José", f"{base}-jose", f"{base}-jose ", "n" * 300 + "1", "n" * 300 + "2"]
    names[3:] = [name + base for name in names[3:]]
    for number, name in enumerate(names):
        assert granted(co, permit(name, f"Holder{number}")), name
    assert not granted(co, permit(names[0], "holder0")), "another holder"
    assert co.holders("default", names) == dict.fromkeys(names, 1)
    long_holder = "h" * 300
    assert granted(co, permit(names[3], long_holder, 2))
    assert granted(co, permit(names[3], long_holder, 3)) and count(co, names[3]) == 2
    assert co.extend("default", [(names[3], long_holder), (names[3], "h" * 299)], 30) == [
        (names[3], "h" * 299)]
    co.give_back("default", [(names[3], long_holder)])
    assert count(co, names[3]) == 1


def test_an_admission_joins_the_callers_transaction_and_counts_the_latest_holders(
    clean_connection,
):
    co = get_transport(clean_connection).coordination
    alias = getattr(co, "alias", None)
    if alias is None or connections[alias].vendor == "sqlite":
        pytest.skip("a transaction of the caller's on a server database")
    name, undone = fresh(), fresh()
    assert granted(co, permit(name, "first", 2))

    def admit_second() -> None:
        try:
            assert granted(co, permit(name, "second", 2))
        finally:
            connections.close_all()

    with repeatable_read(alias), transaction.atomic(using=alias):
        # The transaction's first read: in REPEATABLE READ, what later plain reads see.
        assert count(co, name) == 1
        other = threading.Thread(target=admit_second)
        other.start()
        other.join(30)
        assert not granted(co, permit(name, "third", 2)), "the second holder counts"
    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        assert granted(co, permit(undone, "a"))
        raise RuntimeError("rolled back")
    assert count(co, undone) == 0
    assert granted(co, permit(undone, "b"))


def test_maintenance_deletes_expired_permits_where_the_store_keeps_them(
    clean_connection, monkeypatch
):
    from django_jobqueue.coordination import database

    monkeypatch.setattr(database, "PRUNE_AFTER", 0.0)
    co = get_transport(clean_connection).coordination
    name = fresh()
    assert all(a.granted for a in co.admit([[permit(name, "a", 3, ttl=0.05)],
                                            [permit(name, "b", 3, ttl=0.05)],
                                            [permit(name, "c", 3)]]))
    wait_until(lambda: count(co, name) == 1, timeout=10)
    # Redis and memory forget expired permits by themselves; a table keeps rows until pruned.
    assert co.prune() == (2 if hasattr(co, "alias") else 0)
    assert co.prune() == 0
    assert granted(co, permit(name, "d", 2)) and not granted(co, permit(name, "e", 2))


def test_racing_admits_never_hold_more_than_the_limit(clean_connection):
    co = get_transport(clean_connection).coordination
    name, threads, rounds, limit = fresh(), 6, 12, 3
    tally = {"held": 0, "most": 0, "refused": 0}
    tally_lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def note(change: int) -> None:
        with tally_lock:
            tally["held"] += change
            tally["most"] = max(tally["most"], tally["held"])
            tally["refused"] += change == 0

    def hammer(worker: int) -> None:
        start.wait()
        try:
            for turn in range(rounds):
                holder = f"w{worker}-{turn}"
                if not granted(co, permit(name, holder, limit)):
                    note(0)
                    continue
                note(+1)  # after the grant and before the give-back: never overcounts
                time.sleep(0.005)
                note(-1)
                co.give_back("default", [(name, holder)])
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's own; left open, they block teardown

    workers = [threading.Thread(target=hammer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors, errors
    assert 1 <= tally["most"] <= limit, tally
    assert tally["refused"] > 0, f"no contention: {tally}"
    assert count(co, name) == 0
