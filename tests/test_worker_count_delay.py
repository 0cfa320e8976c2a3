"""A batch's children that succeeded are told to its count together (``COUNT_DELAY`` after
the first of them ended, or once ``COUNT_AT_LEAST`` wait), their acks held with them; a
chain's next step and a worker with nothing else to do do not wait. In the supervisor's
parts, on the memory transport, with a clock of the test's."""

from __future__ import annotations

import pytest

from django_jobqueue.worker import outcomes as outcomes_module
from django_jobqueue.worker.claim import Claim
from django_jobqueue.worker.feeder import SETTLE_DELAY, Feeder
from django_jobqueue.worker.options import WorkerOptions
from django_jobqueue.worker.outcomes import COUNT_DELAY, TELL_AGAIN_AFTER, Outcomes
from django_jobqueue.worker.slots import Op, Slot
from django_jobqueue.workflows import batch, batch_status, chain
from tests import jobs

T0 = 1000.0


@pytest.fixture
def memory(memory_transport):
    return memory_transport


def _succeeded(transport, count: int, at: float = T0) -> Outcomes:
    """Reserve ``count`` jobs and have them succeed at ``at``."""
    outcomes = Outcomes()
    for reserved in transport.reserve(["default"], count, 30, "t"):
        outcomes.succeeded(Claim.of(reserved, 60.0), at)
    return outcomes


def _succeeded_count(batch_id: str) -> int:
    return batch_status(batch_id, "memory").succeeded


def test_a_batchs_successes_wait_for_the_count_delay_their_acks_with_them(memory):
    dispatched = batch([jobs.Noop(n) for n in range(3)]).dispatch(connection="memory")
    outcomes = _succeeded(memory, 3)
    assert outcomes.advance_at() == T0 + COUNT_DELAY

    outcomes.advance_workflows(T0 + COUNT_DELAY / 2)
    assert (len(outcomes.advancing), outcomes.acks) == (3, [])
    assert _succeeded_count(dispatched.id) == 0

    outcomes.advance_workflows(T0 + COUNT_DELAY)
    assert (outcomes.advancing, len(outcomes.acks)) == ([], 3)
    assert outcomes.acks_since == T0  # the acks are as old as the first end
    assert _succeeded_count(dispatched.id) == 3
    assert outcomes.advance_at() is None


def test_forced_or_enough_of_them_are_told_at_once(memory, monkeypatch):
    first = batch([jobs.Noop(n) for n in range(2)]).dispatch(connection="memory")
    outcomes = _succeeded(memory, 2)
    outcomes.advance_workflows(T0, force=True)
    assert _succeeded_count(first.id) == 2

    monkeypatch.setattr(outcomes_module, "COUNT_AT_LEAST", 3)
    second = batch([jobs.Noop(n) for n in range(3)]).dispatch(connection="memory")
    outcomes = _succeeded(memory, 3)
    assert outcomes.advance_at() == T0
    outcomes.advance_workflows(T0)
    assert _succeeded_count(second.id) == 3


def test_a_chains_next_step_is_pushed_at_once(memory):
    chain(jobs.Noop(1), jobs.Noop(2)).dispatch(connection="memory")
    outcomes = _succeeded(memory, 1)
    assert outcomes.advance_at() == T0
    outcomes.advance_workflows(T0)
    assert outcomes.acks and not outcomes.advancing
    assert memory.size("default").ready == 1  # the second step


def test_a_store_that_fails_keeps_them_waiting_and_tries_again_after_a_pause(memory, monkeypatch):
    dispatched = batch([jobs.Noop(n) for n in range(2)]).dispatch(connection="memory")
    outcomes = _succeeded(memory, 2)

    def down(ends):
        raise ConnectionError("store down")

    with monkeypatch.context() as patch:
        patch.setattr(outcomes_module, "advance", down)
        with pytest.raises(ConnectionError):
            outcomes.advance_workflows(T0 + COUNT_DELAY)
    assert (len(outcomes.advancing), outcomes.acks) == (2, [])
    # Tried again after a pause, not at every turn of the loop (nor at once when idle).
    again = T0 + COUNT_DELAY + TELL_AGAIN_AFTER
    assert outcomes.advance_at() == outcomes.advance_at(at_once=True) == again
    outcomes.advance_workflows(again - 0.01, at_once=True)
    assert _succeeded_count(dispatched.id) == 0
    outcomes.advance_workflows(again)
    assert _succeeded_count(dispatched.id) == 2
    assert len(outcomes.acks) == 2


def test_a_worker_with_nothing_else_to_do_tells_and_acks_them_without_the_delay(memory):
    dispatched = batch([jobs.Noop(n) for n in range(2)]).dispatch(connection="memory")
    outcomes = _succeeded(memory, 2)
    slot = Slot()
    feeder = Feeder(memory, WorkerOptions(), [slot], outcomes, spawn=None,
                    burst_watch=None, gate=None)
    feeder.queue_empty = False  # more work may come: the count waits
    assert feeder.flush_at() == pytest.approx(T0 + COUNT_DELAY + SETTLE_DELAY)
    feeder.queue_empty = True  # nothing queued, nothing running: the batch's end waits on it
    assert feeder.flush_at() == pytest.approx(T0 + SETTLE_DELAY)
    slot.ops.append(Op(None, 60.0))  # a horse busy (here with a hook): the count waits
    assert feeder.flush_at() == pytest.approx(T0 + COUNT_DELAY + SETTLE_DELAY)
    slot.ops.clear()
    feeder.flush()  # due (the test's clock is long past), nothing else to do: told, acked
    assert _succeeded_count(dispatched.id) == 2
    assert (outcomes.advancing, outcomes.acks, feeder.flush_at()) == ([], [], None)
    assert memory.size("default").total == 0
