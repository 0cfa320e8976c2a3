"""The pure retry policy."""

from __future__ import annotations

import random

import pytest

from django_jobqueue import DontRetry, ExponentialBackoff
from django_jobqueue.retry import decide, delay_for, is_unrecoverable


def test_list_interval_last_value_repeats():
    assert [delay_for([10, 30, 60], n) for n in range(1, 6)] == [10, 30, 60, 60, 60]


def test_number_and_callable_and_empty_list():
    assert delay_for(5, 3) == 5.0
    assert delay_for(lambda retry: retry * 2, 4) == 8.0
    assert delay_for([], 1) == 0.0
    assert delay_for(-3, 1) == 0.0


def test_rq_retry_max_3_interval_list_is_four_tries():
    # RQ's Retry(max=3, interval=[10, 30, 60]) == max_tries=4 with that list.
    delays = []
    attempt = 1
    while (d := decide(attempts=attempt, max_tries=4, retry_after=[10, 30, 60])).retry:
        delays.append(d.delay)
        attempt += 1
    assert delays == [10, 30, 60] and attempt == 4


def test_give_up_when_tries_are_spent_or_unrecoverable():
    assert decide(attempts=3, max_tries=3, retry_after=0).retry is False
    assert "max_tries" in decide(attempts=3, max_tries=3, retry_after=0).reason
    assert decide(attempts=1, max_tries=9, retry_after=0, unrecoverable=True).reason == (
        "unrecoverable"
    )


def test_unrecoverable_classes():
    assert is_unrecoverable(DontRetry("x"), ())
    assert is_unrecoverable(KeyError("x"), (LookupError,))
    assert not is_unrecoverable(ValueError("x"), (LookupError,))


@pytest.mark.parametrize("seed", range(20))
def test_backoff_properties(seed):
    rng = random.Random(seed)
    backoff = ExponentialBackoff(
        base=rng.uniform(0, 5), factor=rng.uniform(1, 4), cap=rng.uniform(1, 1000),
        jitter=rng.choice([0, 0.5, 1]),
    )
    previous_ceiling = 0.0
    for retry in range(1, 60):
        delay = backoff(retry, rng)
        ceiling = min(backoff.base * backoff.factor ** (retry - 1), backoff.cap)
        # Never above the cap, never below the jitter floor, ceilings never shrink.
        assert 0 <= delay <= backoff.cap + 1e-9
        assert delay >= ceiling * (1 - backoff.jitter) - 1e-9
        assert ceiling >= previous_ceiling - 1e-9
        previous_ceiling = ceiling
    assert backoff(10_000, rng) <= backoff.cap


def test_backoff_rejects_nonsense():
    with pytest.raises(ValueError):
        ExponentialBackoff(factor=0.5)
    with pytest.raises(ValueError):
        ExponentialBackoff(jitter=2)
