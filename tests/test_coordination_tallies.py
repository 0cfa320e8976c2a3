"""Tallies of the coordination contract (add, count, reopen, read, members, forget), run
against memory, SQLite, MariaDB, PostgreSQL, Redis and Redis Cluster."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_jobqueue.coordination import Coordination, Tally
from django_jobqueue.transports import get_transport
from tests.support.params import TRANSPORT_PARAMS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)

TTL = 30.0


def fresh() -> str:
    """A name no other test uses (Redis keeps keys between tests)."""
    return f"t-{uuid.uuid4().hex}"


def coordination(connection: str) -> Coordination:
    return get_transport(connection).coordination


def read(co: Coordination, name: str, scope: str = "default") -> Tally:
    return co.tallies.read(scope, [name])[name]


def states(co: Coordination, name: str) -> dict[str, str]:
    return dict(co.tallies.members("default", name))


@contextlib.contextmanager
def asked(co: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """What the store is asked inside: SQL statements, or Redis round trips (memory is
    asked nothing that can be counted)."""
    if hasattr(co, "alias"):
        statements: list[Any] = []
        with CaptureQueriesContext(connections[co.alias]) as queries:
            yield statements
        # captured_queries is a copy made when asked: only the block's end knows them all.
        statements.extend(queries.captured_queries)
        return
    trips: list[Any] = []
    if hasattr(co, "prefix"):
        guarded = co._guarded

        def counted(operation: Any) -> Any:
            trips.append(operation)
            return guarded(operation)

        monkeypatch.setattr(co, "_guarded", counted)
    yield trips


def test_members_are_added_once_and_each_end_counted_once(clean_connection):
    co = coordination(clean_connection)
    name = fresh()
    assert co.tallies.add("default", name, ["a", "b", "c"], TTL) == Tally(name, total=3)
    assert co.tallies.add("default", name, ["c", "d", "d"], TTL) == Tally(name, total=4)
    assert co.tallies.count("default", name, [("a", "succeeded")], TTL) == Tally(
        name, total=4, succeeded=1)
    again = co.tallies.count("default", name, [("a", "succeeded")], TTL)
    assert again == Tally(name, total=4, succeeded=1), "a repeat changes nothing"
    last = co.tallies.count(
        "default", name, [("b", "failed"), ("c", "cancelled"), ("d", "succeeded")], TTL)
    assert last == Tally(name, total=4, succeeded=2, failed=1, cancelled=1)
    assert last.complete and not last.all_succeeded
    assert co.tallies.add("default", name, ["a", "b"], TTL) == last, "ended ones stay"
    unknown = fresh()
    assert co.tallies.read("default", [name, unknown]) == {name: last, unknown: Tally(unknown)}
    assert states(co, name) == {"a": "succeeded", "b": "failed", "c": "cancelled",
                                "d": "succeeded"}


def test_a_failed_member_may_still_succeed_and_other_ends_are_repeats(clean_connection):
    co = coordination(clean_connection)
    name = fresh()
    co.tallies.add("default", name, ["f", "s", "c", "g"], TTL)
    co.tallies.count("default", name, [("f", "failed"), ("s", "succeeded"),
                                       ("c", "cancelled"), ("g", "failed")], TTL)
    after = co.tallies.count("default", name, [
        ("f", "succeeded"),  # an operator's retry succeeded after all
        ("s", "failed"), ("s", "cancelled"), ("c", "succeeded"), ("c", "failed"),
        ("g", "cancelled")], TTL)
    assert after == Tally(name, total=4, succeeded=2, failed=1, cancelled=1)
    assert states(co, name) == {"c": "cancelled", "f": "succeeded", "g": "failed",
                                "s": "succeeded"}


def test_one_call_applies_its_ends_in_order(clean_connection):
    co = coordination(clean_connection)
    name = fresh()
    co.tallies.add("default", name, ["a", "b", "c"], TTL)
    after = co.tallies.count("default", name, [
        ("a", "failed"), ("a", "succeeded"), ("b", "succeeded"), ("b", "failed"),
        ("c", "cancelled"), ("c", "cancelled"), ("c", "succeeded")], TTL)
    assert after == Tally(name, total=3, succeeded=2, cancelled=1)
    assert states(co, name) == {"a": "succeeded", "b": "succeeded", "c": "cancelled"}


def test_ends_of_members_the_tally_does_not_have_change_nothing(clean_connection):
    co = coordination(clean_connection)
    name, missing = fresh(), fresh()
    co.tallies.add("default", name, ["a"], TTL)
    assert co.tallies.count("default", name, [("x", "succeeded"), ("a", "failed")],
                            TTL) == Tally(name, total=1, failed=1)
    assert "x" not in states(co, name)
    assert co.tallies.count("default", missing, [("x", "succeeded")], TTL) == Tally(missing)
    assert co.tallies.reopen("default", missing, ["x"], TTL) == Tally(missing)
    assert co.tallies.members("default", missing) == [], "no tally was created"
    assert co.tallies.add("default", missing, ["y"], TTL) == Tally(missing, total=1)


def test_reopening_moves_failed_and_cancelled_members_back_to_pending(clean_connection):
    co = coordination(clean_connection)
    name = fresh()
    co.tallies.add("default", name, ["s", "f", "c", "p"], TTL)
    done = co.tallies.count("default", name, [("s", "succeeded"), ("f", "failed"),
                                              ("c", "cancelled"), ("p", "failed")], TTL)
    assert done.complete
    reopened = co.tallies.reopen("default", name, ["s", "f", "c", "nobody"], TTL)
    assert reopened == Tally(name, total=4, succeeded=1, failed=1)
    assert not reopened.complete and reopened.pending == 2
    assert states(co, name) == {"c": "pending", "f": "pending", "p": "failed",
                                "s": "succeeded"}
    again = co.tallies.count("default", name, [("f", "succeeded"), ("c", "succeeded")], TTL)
    assert again == Tally(name, total=4, succeeded=3, failed=1) and again.complete


def test_members_are_listed_in_member_order_page_by_page_and_by_state(clean_connection):
    co = coordination(clean_connection)
    name = fresh()
    members = [f"m{number:03d}" for number in range(25)]
    co.tallies.add("default", name, list(reversed(members)), TTL)
    co.tallies.count("default", name, [(m, "failed") for m in members[::3]], TTL)
    pages, after = [], ""
    while page := co.tallies.members("default", name, after=after, limit=10):
        pages.append(page)
        after = page[-1][0]
    assert [len(page) for page in pages] == [10, 10, 5]
    listed = [entry for page in pages for entry in page]
    assert [member for member, _ in listed] == members
    failed = co.tallies.members("default", name, "failed")
    assert failed == [(m, "failed") for m in members[::3]]
    assert co.tallies.members("default", name, "pending", after="m020", limit=2) == [
        ("m022", "pending"), ("m023", "pending")]
    assert co.tallies.members("default", name, "cancelled") == []


def test_names_members_and_scopes_are_compared_exactly_and_in_code_point_order(
    clean_connection,
):
    co = coordination(clean_connection)
    base = fresh()
    names = [f"{base}-José", f"{base}-jose", f"{base}-jose ", "n" * 300 + base + "1",
             "n" * 300 + base + "2"]
    for number, name in enumerate(names):
        co.tallies.add("default", name, [f"m{index}" for index in range(number + 1)], TTL)
    co.tallies.add("high", names[0], ["other"], TTL)
    assert co.tallies.read("default", names) == {
        name: Tally(name, total=number + 1) for number, name in enumerate(names)}
    assert read(co, names[0], "high") == Tally(names[0], total=1)
    members = ["é", "a", "B", "a ", "A", "h" * 300 + "1", "h" * 300 + "2"]
    co.tallies.add("default", base, members, TTL)
    listed = [member for member, _ in co.tallies.members("default", base)]
    assert listed == sorted(listed), "code point order"
    short = [member for member in listed if not member.startswith("sha256:")]
    assert short == ["A", "B", "a", "a ", "é"], "case, accents and spaces kept"
    assert len(listed) == 7, "long members stored as digests, kept apart"
    assert co.tallies.count("default", base, [("h" * 300 + "2", "succeeded")],
                            TTL).succeeded == 1


def test_forgetting_deletes_a_tally_and_its_members(clean_connection):
    co = coordination(clean_connection)
    name, kept = fresh(), fresh()
    co.tallies.add("default", name, ["a", "b"], TTL)
    co.tallies.add("default", kept, ["a"], TTL)
    co.tallies.count("default", name, [("a", "succeeded")], TTL)
    co.tallies.forget("default", name)
    co.tallies.forget("default", fresh())
    assert read(co, name) == Tally(name)
    assert co.tallies.members("default", name) == []
    assert co.tallies.add("default", name, ["a"], TTL) == Tally(name, total=1)
    assert states(co, name) == {"a": "pending"}, "its old end is gone"
    assert read(co, kept) == Tally(kept, total=1)


def test_a_tally_expires_its_ttl_after_the_last_call_that_changed_it(clean_connection):
    co = coordination(clean_connection)
    short, renewed = fresh(), fresh()
    co.tallies.add("default", short, ["a", "b"], 0.5)
    co.tallies.add("default", renewed, ["a", "b"], 0.5)
    co.tallies.count("default", short, [("a", "succeeded")], 0.5)
    co.tallies.count("default", renewed, [("a", "succeeded")], TTL)
    wait_until(lambda: read(co, short) == Tally(short), timeout=10)
    assert co.tallies.members("default", short) == []
    assert co.tallies.count("default", short, [("b", "failed")], TTL) == Tally(short)
    assert read(co, renewed) == Tally(renewed, total=2, succeeded=1)
    # Added to once expired, a tally starts afresh: its old members are gone.
    assert co.tallies.add("default", short, ["c"], TTL) == Tally(short, total=1)
    assert states(co, short) == {"c": "pending"}


def test_maintenance_deletes_expired_tallies_where_the_store_keeps_them(
    clean_connection, monkeypatch
):
    from django_jobqueue.coordination import database

    monkeypatch.setattr(database, "PRUNE_AFTER", 0.0)
    co = coordination(clean_connection)
    gone, kept = fresh(), fresh()
    co.tallies.add("default", gone, ["a", "b", "c"], 0.05)
    co.tallies.add("default", kept, ["a"], TTL)
    wait_until(lambda: read(co, gone) == Tally(gone), timeout=10)
    # Redis and memory forget expired tallies by themselves; tables keep rows until pruned.
    alias = getattr(co, "alias", None)
    assert co.prune() == (1 if alias else 0)
    assert co.prune() == 0
    if alias:
        from django_jobqueue.models import CoordinationTally, CoordinationTallyMember

        assert not CoordinationTally.objects.using(alias).filter(name=gone).exists()
        assert not CoordinationTallyMember.objects.using(alias).filter(name=gone).exists()
        assert CoordinationTallyMember.objects.using(alias).filter(name=kept).count() == 1
    assert read(co, kept) == Tally(kept, total=1)


def test_arguments_are_checked_before_the_store_is_asked(clean_connection, monkeypatch):
    co = coordination(clean_connection)
    name = fresh()
    bad_calls = [
        lambda: co.tallies.count("default", name, [("a", "done")], TTL),
        lambda: co.tallies.count("default", name, [("a", "pending")], TTL),
        lambda: co.tallies.add("default", name, ["a"], 0),
        lambda: co.tallies.add("default", name, ["a"], -1),
        lambda: co.tallies.add("default", name, ["a"], float("inf")),
        lambda: co.tallies.add("default", name, "abc", TTL),
        lambda: co.tallies.add("default", name, ["a", ""], TTL),
        lambda: co.tallies.add("default", "", ["a"], TTL),
        lambda: co.tallies.reopen("default", name, ["a"], float("nan")),
        lambda: co.tallies.members("default", name, state="done"),
        lambda: co.tallies.members("default", name, limit=0),
    ]
    with asked(co, monkeypatch) as requests:
        for call in bad_calls:
            with pytest.raises(ValueError):
                call()
        assert co.tallies.read("default", []) == {}
    assert requests == []
    assert co.tallies.add("default", name, [], TTL) == Tally(name), "nothing to add"
    assert co.tallies.members("default", name) == []


def test_racing_counts_count_each_member_once_and_the_last_ones_see_it_complete(
    clean_connection,
):
    co = coordination(clean_connection)
    name, threads, members = fresh(), 6, 60
    outcome = {f"m{n:02d}": ("failed", "cancelled", "succeeded")[n % 3]
               for n in range(members)}
    co.tallies.add("default", name, list(outcome), TTL)
    answers: list[tuple[float, float, Tally]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def end_members(worker: int) -> None:
        # Each member is ended by three or four of the six threads, in small overlapping calls.
        mine = [member for n, member in enumerate(outcome) if (n + worker) % 2 == 0 or
                n % threads == worker]
        start.wait()
        try:
            for first in range(0, len(mine), 4):
                began = time.monotonic()
                tally = co.tallies.count(
                    "default", name, [(m, outcome[m]) for m in mine[first:first + 4]], TTL)
                answers.append((began, time.monotonic(), tally))
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's own; left open, they block teardown

    workers = [threading.Thread(target=end_members, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors, errors
    final = Tally(name, total=members, succeeded=20, failed=20, cancelled=20)
    assert read(co, name) == final, "each member counted once, whatever the order"
    complete = [(began, ended) for began, ended, tally in answers if tally.complete]
    assert complete, "someone learns the tally is complete"
    assert all(tally == final for _, _, tally in answers if tally.complete)
    assert all(tally.pending > 0 for _, _, tally in answers if not tally.complete)
    # Atomic calls: one that began after a call saw the tally complete sees it too.
    first_seen = min(ended for _, ended in complete)
    assert all(tally.complete for began, _, tally in answers if began > first_seen)


def test_ten_thousand_members_are_added_in_few_requests_and_fifty_ends_in_one_call(
    clean_connection, monkeypatch
):
    co = coordination(clean_connection)
    name = fresh()
    members = [f"job-{number:05d}-{uuid.uuid4().hex}" for number in range(10_000)]
    began = time.monotonic()
    with asked(co, monkeypatch) as requests:
        assert co.tallies.add("default", name, members, TTL) == Tally(name, total=10_000)
    added_in = time.monotonic() - began
    assert added_in < 30, f"10,000 members added in {added_in:.1f}s"
    # SQLite's statements take at most 999 parameters: Django inserts 199 rows a statement.
    assert len(requests) <= 60, f"{len(requests)} requests to add 10,000 members"
    with asked(co, monkeypatch) as requests:
        tally = co.tallies.count("default", name,
                                 [(m, "succeeded") for m in members[:50]], TTL)
    assert tally == Tally(name, total=10_000, succeeded=50)
    assert len(requests) <= 8, f"{len(requests)} requests to count 50 ends"
    with asked(co, monkeypatch) as requests:
        assert read(co, name) == tally
    assert len(requests) <= 1, "a read is one request"
    assert co.tallies.add("default", name, [*members[:20], "new"], TTL).total == 10_001


def test_a_count_reads_only_the_members_it_counts(clean_connection, monkeypatch):
    """Each statement of a count on a database finds its members by the unique key or by
    row id: none reads every member of the tally (which made a batch's drain cost the
    square of its size on PostgreSQL and SQLite, whose planners took that road)."""
    co = coordination(clean_connection)
    if not hasattr(co, "alias"):
        pytest.skip("a database's plans")
    name = fresh()
    members = [uuid.uuid4().hex for _ in range(10_000)]
    co.tallies.add("default", name, members, TTL)
    with asked(co, monkeypatch) as requests:
        co.tallies.count("default", name, [(m, "succeeded") for m in members[:35]], TTL)
    on_members = [query["sql"] for query in requests
                  if "queue_coordination_tally_members" in query["sql"]]
    assert on_members, "the count reads and changes members"
    for sql in on_members:
        assert not _reads_whole_tally(co.alias, sql), sql[:200]


def _reads_whole_tally(alias: str, sql: str) -> bool:
    """Whether the plan of ``sql`` reads a tally's members by its key alone."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            steps = [row[-1] for row in cursor.fetchall()
                     if "queue_coordination_tally_members" in row[-1]]
            return any("member=?" not in step and "rowid=?" not in step for step in steps)
        cursor.execute(f"EXPLAIN {sql}")
        if connection.vendor == "postgresql":
            # The key found by the index, the members filtered from its rows. (A sequential
            # scan is PostgreSQL's choice for a table of a few thousand rows, and only then.)
            return "Filter: ((member)" in "\n".join(row[0] for row in cursor.fetchall())
        names = [column[0].lower() for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return any(row["key"] not in ("queue_tally_member_uniq", "PRIMARY") for row in rows
                   if row["table"] == "queue_coordination_tally_members")

