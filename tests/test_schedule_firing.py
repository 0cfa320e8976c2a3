"""The worker's scheduler step on every transport: each slot fires once however many
workers look, missed slots follow the entry's policy, and the store decides who fires."""

from __future__ import annotations

import logging
import uuid

import pytest

from django_jobqueue.exceptions import TransportError
from django_jobqueue.schedule import service, state
from django_jobqueue.schedule.firing import Scheduler
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from tests.support.params import TRANSPORT_PARAMS
from tests.support.settings_overrides import jobqueue

pytestmark = [pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True),
              pytest.mark.usefixtures("ledger")]

DAY = 86_400.0
T0 = 1_800_000_000.0  # a multiple of 10, 60 and 3600: a slot of every entry below


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def schedule(connection: str, **entry):
    """Settings with one entry (a fresh name: Redis keeps values between tests)."""
    name = f"e-{uuid.uuid4().hex[:12]}"
    spec = {"JOB": "tests.jobs.Record", "ARGS": [name], "EVERY": 10, "CONNECTION": connection,
            **entry}
    return name, jobqueue(SCHEDULE={name: spec})


def fired(connection: str) -> list[str]:
    """Ids of the jobs queued (and taken: each test drains what it counts)."""
    jobs = get_transport(connection).reserve(["default"], 100, 30, "t")
    get_transport(connection).ack_many(jobs)
    return [job.id for job in jobs]


def test_a_slot_fires_once_however_many_workers_look(clean_connection):
    name, settings = schedule(clean_connection)
    with settings:
        clock = Clock(T0 + 1)
        workers = [Scheduler(get_transport(clean_connection), f"w{i}", clock) for i in range(3)]
        for worker in workers:
            worker.tick()
        assert len(fired(clean_connection)) == 1
        for worker in workers:
            worker.tick()
        assert fired(clean_connection) == [], "nothing new is due"
        clock.now = T0 + 10.2
        for worker in reversed(workers):
            worker.tick()
        assert len(fired(clean_connection)) == 1
        found = state.read(get_transport(clean_connection).coordination, "default", name)
        assert found.cursor == T0 + 10
        assert found.last is not None and found.last.slot == T0 + 10


def test_a_worker_that_saw_an_old_cursor_fires_nothing(clean_connection):
    _, settings = schedule(clean_connection)
    with settings:
        clock = Clock(T0 + 1)
        late, quick = (Scheduler(get_transport(clean_connection), w, clock) for w in "lq")
        quick.tick()
        # ``late`` read the cursor before ``quick`` moved it: its push is refused.
        cursor, moved = late._fire(late.entries[0][0], "default", None, T0)
        assert (state.parse_slot(cursor), moved) == (T0, False)
        assert len(fired(clean_connection)) == 1


@pytest.mark.parametrize(("policy", "expected"), [("once", 1), ("catch_up", 3), ("skip", 0)])
def test_after_downtime_missed_slots_follow_the_policy(clean_connection, caplog, policy,
                                                       expected):
    name, settings = schedule(clean_connection, EVERY=3600, MISSED=policy, CATCH_UP_LIMIT=3)
    with settings:
        clock = Clock(T0 + 1)
        Scheduler(get_transport(clean_connection), "before", clock).tick()
        assert len(fired(clean_connection)) == 1
        # Down for five hours: five slots missed, the last ten minutes ago (not on time).
        clock.now = T0 + 5 * 3600 + 600
        with caplog.at_level(logging.WARNING, "django_jobqueue.worker"):
            Scheduler(get_transport(clean_connection), "after", clock).tick()
        assert len(fired(clean_connection)) == expected
        found = state.read(get_transport(clean_connection).coordination, "default", name)
        assert found.cursor == T0 + 5 * 3600, "past every missed slot, fired or not"
        assert f"event=schedule_missed entry={name} skipped={5 - expected}" in caplog.text


def test_a_new_entry_fires_a_slot_only_within_its_grace(clean_connection):
    _, settings = schedule(clean_connection, EVERY=3600)
    with settings:
        Scheduler(get_transport(clean_connection), "w", Clock(T0 + 600)).tick()
        assert fired(clean_connection) == [], "ten minutes late: not on time"
        clock = Clock(T0 + 3600 + 5)
        Scheduler(get_transport(clean_connection), "w", clock).tick()
        assert len(fired(clean_connection)) == 1


def test_a_disabled_entry_does_not_fire_and_enabling_skips_what_it_missed(clean_connection):
    name, settings = schedule(clean_connection)
    with settings:
        clock = Clock(T0 + 1)
        Scheduler(get_transport(clean_connection), "w", clock).tick()
        fired(clean_connection)
        assert service.disable(name).enabled is False
        clock.now = T0 + 100
        Scheduler(get_transport(clean_connection), "w", clock).tick()
        assert fired(clean_connection) == []
        assert service.enable(name, now=clock.now).enabled is True
        Scheduler(get_transport(clean_connection), "w", clock).tick()
        assert fired(clean_connection) == [], "enabled from the next slot on"


def test_a_fired_job_is_an_ordinary_job_and_its_outcome_is_kept(clean_connection,
                                                                transactional_db):
    name, settings = schedule(clean_connection, JOB="tests.jobs.AlwaysFails")
    with settings:
        Scheduler(get_transport(clean_connection), "w", Clock(T0 + 1)).tick()
        result = work(connection=clean_connection, wait_for_delayed=30)
        assert (result.retried, result.failed) == (2, 1)
        status = service.status(name)
        assert status.outcome is not None and status.outcome.outcome == "failed"
        assert status.last is not None and status.outcome.job_id == status.last.job_id


def test_a_scheduled_unique_job_still_running_lets_its_slot_pass(clean_connection, caplog):
    name, settings = schedule(clean_connection, JOB="tests.jobs.UniqueReport",
                              ARGS=[uuid.uuid4().hex])
    with settings:
        clock = Clock(T0 + 1)
        worker = Scheduler(get_transport(clean_connection), "w", clock)
        worker.tick()
        clock.now = T0 + 11
        with caplog.at_level(logging.WARNING, "django_jobqueue.worker"):
            worker.tick()
        assert get_transport(clean_connection).size("default").ready == 1
        assert f"event=schedule_skipped entry={name}" in caplog.text
        found = state.read(get_transport(clean_connection).coordination, "default", name)
        assert found.cursor == T0 + 10


def test_run_now_queues_the_job_without_touching_the_slots(clean_connection):
    name, settings = schedule(clean_connection)
    with settings:
        result = service.run_now(name)
        assert fired(clean_connection) == [result.id]
        status = service.status(name)
        assert status.last is not None and status.last.slot is None
        assert state.read(get_transport(clean_connection).coordination, "default",
                          name).cursor is None


def test_a_store_that_does_not_answer_delays_firing_and_is_logged_once(
    clean_connection, monkeypatch, caplog
):
    _, settings = schedule(clean_connection)
    with settings:
        transport = get_transport(clean_connection)
        clock = Clock(T0 + 1)
        worker = Scheduler(transport, "w", clock)

        real_read, is_down = type(transport.coordination).read, [True]

        def down(self, *args, **kwargs):
            if is_down[0]:
                raise TransportError("store down")
            return real_read(self, *args, **kwargs)

        monkeypatch.setattr(type(transport.coordination), "read", down)
        with caplog.at_level(logging.INFO, "django_jobqueue.worker"):
            for step in range(3):
                clock.now = T0 + 1 + step * 2.5
                worker.tick()
            assert caplog.text.count("event=schedule_delayed") == 1
            is_down[0] = False
            clock.now = T0 + 12
            worker.tick()
        assert "event=schedule_resumed" in caplog.text
        assert len(fired(clean_connection)) == 1, "the missed-run policy: once"


def test_an_unexpected_error_is_logged_and_not_retried_at_every_turn(clean_connection,
                                                                     monkeypatch, caplog):
    _, settings = schedule(clean_connection)
    with settings:
        clock = Clock(T0 + 1)
        worker = Scheduler(get_transport(clean_connection), "w", clock)

        def broken(*args, **kwargs):
            raise KeyError("a bug")

        monkeypatch.setattr("django_jobqueue.schedule.firing.placement", broken)
        with caplog.at_level(logging.ERROR, "django_jobqueue.worker"):
            worker.tick()
            worker.tick()
        assert caplog.text.count("event=schedule_failed") == 1
        assert worker.next_at == T0 + 31


def test_a_fired_job_knows_the_slot_it_stands_for(clean_connection, transactional_db):
    from tests.support import ledger as ledger_file

    _, settings = schedule(clean_connection, JOB="tests.jobs.KnowsItsSlot", ARGS=[],
                           EVERY=60, MISSED="catch_up")
    with settings:
        clock = Clock(T0 + 1)
        Scheduler(get_transport(clean_connection), "w", clock).tick()
        clock.now = T0 + 185  # three slots missed, caught up late
        Scheduler(get_transport(clean_connection), "w", clock).tick()
        assert work(connection=clean_connection).succeeded == 4
    ran = ledger_file.events("ran")
    assert sorted(e["slot"] for e in ran) == [T0, T0 + 60, T0 + 120, T0 + 180]
    assert {e["tz"] for e in ran} == {"UTC"}


def test_enabling_never_moves_the_cursor_back(clean_connection):
    name, settings = schedule(clean_connection)
    with settings:
        clock = Clock(T0 + 21)
        Scheduler(get_transport(clean_connection), "w", clock).tick()
        fired(clean_connection)
        co = get_transport(clean_connection).coordination
        before = state.read(co, "default", name).cursor_text
        # An enabled entry: enable is a no-op for its slots, even from a host whose clock
        # is behind the workers'.
        service.enable(name, now=T0 + 5)
        assert state.read(co, "default", name).cursor_text == before
        service.disable(name)
        service.enable(name, now=T0 + 5)
        assert state.read(co, "default", name).cursor_text == before, "never backwards"
        service.disable(name)
        service.enable(name, now=T0 + 45)
        assert state.read(co, "default", name).cursor == T0 + 40


def test_a_slot_passed_over_is_read_back_exactly(clean_connection):
    from django_jobqueue.schedule.timing import Every

    slots = Every(1.1).slots(T0, T0 + 300, 1000)
    assert all(state.parse_slot(state.slot_text(slot)) == slot for slot in slots)
    name, settings = schedule(clean_connection, EVERY=1.1, MISSED="skip")
    with settings:
        clock = Clock(slots[-1] + 120)  # every slot late: passed over, not fired
        worker = Scheduler(get_transport(clean_connection), "w", clock)
        worker.tick()
        cursor = state.read(get_transport(clean_connection).coordination, "default",
                            name).cursor
        assert cursor is not None
        worker._due_at.clear()
        worker.next_at = 0.0
        worker.tick()
        assert state.read(get_transport(clean_connection).coordination, "default",
                          name).cursor == cursor, "nothing due again"


def test_an_unreadable_cursor_is_replaced_not_a_stop(clean_connection, caplog):
    name, settings = schedule(clean_connection)
    co = get_transport(clean_connection).coordination
    co.write("default", state.cursor_name(name), "garbage")
    co.write("default", state.outcome_name(name), '{"job": "x", "at": "yesterday"}')
    with settings:
        clock = Clock(T0 + 1)
        with caplog.at_level(logging.WARNING, "django_jobqueue.worker"):
            Scheduler(get_transport(clean_connection), "w", clock).tick()
        assert f"event=schedule_cursor_unreadable entry={name}" in caplog.text
        assert len(fired(clean_connection)) == 1
        assert state.read(co, "default", name).cursor == T0
        assert service.status(name).outcome.at == 0.0
