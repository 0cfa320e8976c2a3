"""Scenario 10, the policy part: property tests (Hypothesis) of ``django_jobqueue.retry``'s
backoff, and a retry-storm simulation of the real policy: many jobs failing at once against
a dependency that recovers after 60 s. The storm through real workers is not run (see
docs/reliability.md)."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_jobqueue.retry import (
    ExponentialBackoff,
    decide,
    delay_for,
    retry_after_from_json,
    retry_after_to_json,
)
from tests.chaos.harness import Chaos, size

finite = st.floats(min_value=0, max_value=1e6, allow_nan=False)
backoffs = st.builds(ExponentialBackoff, base=finite, factor=st.floats(1, 100),
                     cap=finite, jitter=st.floats(0, 1))
retries = st.integers(min_value=1, max_value=10**6)


@settings(max_examples=size(300, 5000), deadline=None)
@given(backoffs, retries, st.integers(0, 2**32))
def test_delay_is_finite_capped_and_jitter_only_shortens(backoff, retry, seed):
    delay = backoff(retry, random.Random(seed))
    plain = ExponentialBackoff(backoff.base, backoff.factor, backoff.cap)(retry)
    assert math.isfinite(delay) and 0 <= delay <= backoff.cap
    assert plain * (1 - backoff.jitter) - 1e-9 <= delay <= plain + 1e-9


@settings(max_examples=size(300, 5000), deadline=None)
@given(backoffs, retries)
def test_without_jitter_delays_never_decrease(backoff, retry):
    steady = ExponentialBackoff(backoff.base, backoff.factor, backoff.cap)
    assert steady(retry) <= steady(retry + 1)


@settings(max_examples=size(300, 5000), deadline=None)
@given(backoffs | st.lists(finite, min_size=1, max_size=8) | finite)
def test_policies_survive_the_payload_round_trip(policy):
    back = retry_after_from_json(retry_after_to_json(policy))
    for retry in (1, 2, 3, 50):
        if isinstance(policy, ExponentialBackoff) and policy.jitter:
            assert back == policy
        else:
            assert delay_for(back, retry) == pytest.approx(delay_for(policy, retry))


@settings(max_examples=size(300, 5000), deadline=None)
@given(st.integers(1, 100), st.integers(1, 100), st.booleans())
def test_decide_gives_up_exactly_at_max_tries_or_when_unrecoverable(attempts, max_tries, fatal):
    decision = decide(attempts=attempts, max_tries=max_tries, retry_after=1,
                      unrecoverable=fatal)
    assert decision.retry == (attempts < max_tries and not fatal)


@given(st.sampled_from([math.inf, -math.inf, math.nan]))
def test_a_policy_that_yields_no_finite_delay_is_refused(bad):
    with pytest.raises(ValueError):
        delay_for(lambda retry: bad, 1)
    with pytest.raises(ValueError):
        retry_after_from_json([bad])


def test_retry_storm_simulation(tmp_path):
    jobs, recovers, backoff = size(2000, 10_000), 60.0, ExponentialBackoff(1, 2, 60, jitter=1)
    rng = random.Random(10)
    per_second: Counter[int] = Counter()
    for _ in range(jobs):
        now, retry = 0.0, 1
        while now < recovers:  # every attempt before the recovery fails
            now += backoff(retry, rng)
            per_second[int(now)] += 1
            retry += 1
    window = range(int(recovers) + 1)
    mean = sum(per_second[s] for s in window) / len(window)
    peak = max(per_second[s] for s in window)
    figures = {"jobs": jobs, "recovers_after": recovers, "backoff": "1 s x2, cap 60 s, full jitter",
               "retries": sum(per_second.values()), "mean_per_second": round(mean, 1),
               "peak_per_second": peak, "peak_to_mean": round(peak / mean, 2),
               "peak_to_mean_after_10s": round(max(per_second[s] for s in range(10, 61))
                                               / mean, 2)}
    harness = Chaos.__new__(Chaos)
    harness.connection, harness.started = "policy", __import__("time").monotonic()
    harness.report("10-retry-storm-simulation", figures)
    # Synchronised failures put the first retry waves in the first seconds whatever the
    # jitter; after them the storm is spread out (docs/reliability.md).
    assert figures["peak_to_mean_after_10s"] <= 2
