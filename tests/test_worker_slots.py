"""The supervisor's bookkeeping of what each horse was sent (``worker.slots``), of what it
holds ahead (``worker.prefetch``) and of what it owes the store (``worker.outcomes``): pure
logic, no processes."""

from __future__ import annotations

import pytest

from django_jobqueue.transports import Reserved
from django_jobqueue.worker.claim import Claim
from django_jobqueue.worker.outcomes import Outcomes, Owed
from django_jobqueue.worker.prefetch import HAND_OUT_WITHIN, Prefetch
from django_jobqueue.worker.protocol import Failure, Hook
from django_jobqueue.worker.slots import HOOK, IDLE, INBOX_MAX, RUNNING, Op, Slot


class _Horse:
    exiting = False
    pid = 1


def job(n: int) -> Claim:
    return Claim.of(Reserved(f"id{n}", "default", "{}", 1, n, "t"), 30.0)


def failure(retry: bool) -> Failure:
    return Failure(retry, 0.0, {}, "E: m", "E", "m", "x")


def busy_slot(typical: float | None) -> Slot:
    slot = Slot(horse=_Horse())  # type: ignore[arg-type]
    slot.push(Op(job(0), 30.0), now=0.0, wall=0.0)
    slot.typical = typical
    return slot


@pytest.mark.parametrize(
    ("typical", "room"),
    [(None, 0), (0.0001, INBOX_MAX), (0.004, 5), (0.05, 0)],
    ids=["unknown", "tiny", "short", "long"],
)
def test_a_horse_is_handed_jobs_ahead_only_while_its_jobs_are_short(typical, room):
    assert busy_slot(typical).inbox_room(cap=64, now=0.001) == room


def test_nothing_is_queued_behind_a_job_that_is_already_long():
    assert busy_slot(0.0001).inbox_room(cap=64, now=0.5) == 0


def test_a_kill_stays_pinned_on_the_op_it_was_for():
    slot = busy_slot(None)
    slot.horse.kill = lambda: None  # type: ignore[attr-defined]
    slot.push(Op(job(1), 30.0, size=100), now=0.0, wall=0.0)
    assert slot.queued_bytes() == 100
    killed = slot.ops[0]
    slot.kill(("JobTimeout", "overran"))
    slot.pop(now=1.0, wall=1.0)  # its answer was already in the socket
    assert (slot.job.id, slot.kill_reason, slot.killed_op) == ("id1", ("JobTimeout", "overran"),
                                                                killed)
    first, _ = slot.take_all()
    assert first is not killed and slot.killed_op is None and slot.kill_reason is None


def test_answers_are_matched_to_ops_in_the_order_they_were_sent():
    slot = busy_slot(None)
    slot.push(Op(job(1), 30.0), now=1.0, wall=1.0)
    slot.push(Op(None, 30.0, Hook("id9", {}, 30.0, "w")), now=1.0, wall=1.0)
    slot.push(Op(job(2), 30.0), now=1.0, wall=1.0)
    assert (slot.phase, slot.job.id, slot.queued_runs()) == (RUNNING, "id0", 2)
    slot.pop(now=2.0, wall=2.0)  # job 0 answered after 2 s; job 1 begins now
    assert (slot.job.id, slot.typical, slot.deadline) == ("id1", 2.0, pytest.approx(32.0 + 1))
    slot.pop(now=2.5, wall=2.5)
    assert slot.phase == HOOK
    # The horse dies: the job behind the hook never began; the hook is kept to be re-sent.
    assert [j.id for j in slot.take_queued_runs()] == ["id2"]
    first, rest = slot.take_all()
    assert (first.message.id, rest, slot.phase) == ("id9", [], IDLE)


def test_a_skipped_job_does_not_count_in_the_running_average():
    slot = busy_slot(0.001)
    slot.pop(now=50.0, wall=50.0, ran=False)
    assert slot.typical == 0.001


def test_jobs_a_horse_will_not_run_go_back_first_in_line():
    prefetch = Prefetch(target=8, hold=1.0)
    prefetch.keep_ahead([job(3), job(4)], now=0.0)
    taken = prefetch.take_ahead_one(now=0.0)
    assert taken.id == "id3" and prefetch.marks == []  # marked when it begins, not before
    prefetch.put_back([job(1), job(2)], now=1.0)
    assert [j.id for _, j in prefetch.ahead] == ["id1", "id2", "id4"]
    prefetch.mark(taken, now=1.0)
    prefetch.unmark(taken)
    assert prefetch.marks == [] and prefetch.marks_since is not None


def test_a_prefetched_job_goes_to_a_horse_only_while_its_lease_is_surely_held():
    prefetch = Prefetch(target=8, hold=60.0)
    held = [job(1), job(2)]
    for claim in held:
        claim.leased_at = 10.0
    prefetch.keep_ahead(held, now=10.0)
    # After a stall, nothing goes out until a renewal confirms the lease again.
    assert prefetch.take_ahead_one(now=10.0 + HAND_OUT_WITHIN) is None
    assert prefetch.next_ahead(now=10.0 + HAND_OUT_WITHIN) is None and prefetch.marks == []
    held[0].leased_at = 11.0
    assert prefetch.next_ahead(now=11.0 + HAND_OUT_WITHIN - 0.01) is held[0]


def test_a_job_whose_lease_was_lost_is_dropped_and_never_put_back():
    prefetch = Prefetch(target=8, hold=60.0)
    kept, gone, queued = job(1), job(2), job(3)
    prefetch.keep_ahead([kept, gone], now=0.0)
    prefetch.drop([gone.reserved])
    queued.lost = True  # was in a horse's inbox when the renewal found it taken
    prefetch.put_back([queued], now=0.0)
    assert prefetch.claims() == [kept]


def test_jobs_queued_in_horses_count_against_the_prefetch_target():
    prefetch = Prefetch(target=32, hold=1.0)
    # A refill waits until half the target is left, then tops it up.
    assert prefetch.wanted(run=0, queue_empty=False, room=1 << 30, in_horses=17) == 0
    assert prefetch.wanted(run=0, queue_empty=False, room=1 << 30, in_horses=16) == 16
    assert prefetch.wanted(run=1, queue_empty=True, room=1 << 30, in_horses=10) == 22


def test_owed_outcomes_wait_until_due():
    owed = Outcomes()
    owed.add(Owed(job(1), failure(retry=True), "{}", "x", 1, due=5.0))
    owed.add(Owed(job(2), failure(retry=False), "{}", "x", 1))
    assert [item.claim.id for item in owed.take_due(1.0)] == ["id2"]
    assert owed.next_due() == 5.0 and [j.id for j in owed.held()] == ["id1"]
    assert [item.claim.id for item in owed.take_due(5.0)] == ["id1"] and not owed
