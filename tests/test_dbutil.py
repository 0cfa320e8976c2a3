"""``run_with_retry`` against real deadlocks on MariaDB (error 1213) and PostgreSQL (40P01)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.db import DatabaseError, connections, transaction

from django_jobqueue.dbutil import run_with_retry
from django_jobqueue.exceptions import TransportError
from django_jobqueue.models import QueuedJob

pytestmark = pytest.mark.parametrize(
    ("alias", "deadlock_code"),
    [
        pytest.param("mysql", 1213, id="mariadb", marks=pytest.mark.django_db(
            transaction=True, databases=["default", "mysql"])),
        pytest.param("postgres", "40P01", id="postgresql", marks=pytest.mark.django_db(
            transaction=True, databases=["default", "postgres"])),
    ],
)
DEADLINE = 20.0


def _driver_code(exc: BaseException) -> object:
    cause = exc.__cause__  # Django wraps the driver's exception
    return getattr(cause, "sqlstate", None) or cause.args[0]


@dataclass
class Collision:
    """What two sides locking the same two rows in opposite order went through."""

    results: dict[str, str] = field(default_factory=dict)
    crashes: dict[str, BaseException] = field(default_factory=dict)
    codes: list[object] = field(default_factory=list)  # of every failed attempt
    attempts: Counter[str] = field(default_factory=Counter)


def _collide(alias: str, in_callers_transaction: bool = False) -> tuple[Collision, list[int]]:
    rows = [
        QueuedJob.objects.using(alias).create(
            uuid=f"deadlock-{n}", queue="deadlock", payload="{}", available_at=0, created_at=0
        ).pk
        for n in range(2)
    ]
    # Each side locks one row, waits until the other holds the other row, then asks for
    # it: a lock cycle on every first attempt, which the server breaks by failing one side.
    both_hold_a_row = threading.Barrier(2, timeout=DEADLINE)
    seen = Collision()

    def bump(row: int) -> None:
        with connections[alias].cursor() as cursor:
            cursor.execute("UPDATE queue_jobs SET attempts = attempts + 1 WHERE id = %s", [row])

    def operation(name: str, mine: int, theirs: int) -> str:
        seen.attempts[name] += 1
        try:
            with transaction.atomic(using=alias):
                bump(mine)
                if seen.attempts[name] == 1:
                    both_hold_a_row.wait()
                bump(theirs)
        except DatabaseError as exc:
            seen.codes.append(_driver_code(exc))
            raise
        return name

    def side(name: str, mine: int, theirs: int) -> None:
        outer = transaction.atomic(using=alias) if in_callers_transaction else (
            contextlib.nullcontext()
        )
        try:
            with outer:
                seen.results[name] = run_with_retry(alias, lambda: operation(name, mine, theirs))
        except BaseException as exc:
            seen.crashes[name] = exc
            both_hold_a_row.abort()  # a side that failed early must not stall the other
        finally:
            connections[alias].close()

    threads = [
        threading.Thread(target=side, args=("a", *rows)),
        threading.Thread(target=side, args=("b", *reversed(rows))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert not any(thread.is_alive() for thread in threads), "a side is still blocked"
    return seen, rows


def _bumps(alias: str, rows: list[int]) -> list[int]:
    stored = QueuedJob.objects.using(alias).filter(pk__in=rows)
    return sorted(stored.values_list("attempts", flat=True))


def test_a_real_deadlock_is_retried_until_both_sides_succeed(alias, deadlock_code):
    seen, rows = _collide(alias)
    assert seen.crashes == {}
    assert seen.results == {"a": "a", "b": "b"}
    assert seen.codes and set(seen.codes) == {deadlock_code}, seen.codes
    assert sum(seen.attempts.values()) == 2 + len(seen.codes)
    # Each side added one to each row once: a retry after a half-done attempt would add
    # three, a lost update one.
    assert _bumps(alias, rows) == [2, 2]


def test_inside_a_callers_transaction_a_deadlock_is_not_retried(alias, deadlock_code):
    # The server has rolled back the caller's whole transaction: retrying only the inner
    # operation would commit half of it.
    seen, rows = _collide(alias, in_callers_transaction=True)
    [(victim, crash)] = seen.crashes.items()
    assert isinstance(crash, TransportError) and _driver_code(crash.__cause__) == deadlock_code
    assert seen.results == {survivor: survivor for survivor in {"a", "b"} - {victim}}
    assert seen.attempts == Counter(a=1, b=1)
    assert _bumps(alias, rows) == [1, 1]  # the survivor's work, none of the victim's
