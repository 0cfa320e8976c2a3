"""Flow-control options at dispatch and at start-up: the payload's expiry and limit keys,
rate limits as written, and the system checks E028-E030."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from django_jobqueue import Job
from django_jobqueue.exceptions import ConfigurationError, PayloadError
from django_jobqueue.flow.limits import Rate, parse_rate
from django_jobqueue.transports import get_transport
from tests.support.registry import own_registry  # noqa: F401 -- a fixture


@pytest.mark.parametrize(("text", "rate"), [
    ("100/m", Rate(100, 60.0)), ("5/s", Rate(5, 1.0)), ("1000/h", Rate(1000, 3600.0)),
    ("10/5m", Rate(10, 300.0)), ("1/day", Rate(1, 86400.0)), (" 3 / 2 sec ", Rate(3, 2.0)),
    ("7/minutes", Rate(7, 60.0)), ("2/0.5s", Rate(2, 0.5)), ("3/secs", Rate(3, 1.0)),
    ("1/days", Rate(1, 86400.0)), ("4/hours", Rate(4, 3600.0)),
])
def test_rates_are_read_as_written(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["100", "100/", "/m", "0/m", "10/0m", "10/fortnight", 100,
                                  None, "-1/s", "10/ms", "10/hs"])
def test_a_rate_that_cannot_be_read_is_refused(text):
    with pytest.raises(ConfigurationError, match="rate limit"):
        parse_rate(text)


def payload_of(job_id):
    # Reserved to be read, then put back as it was.
    memory = get_transport("memory")
    taken = memory.reserve(["default"], 100, 30, "t")
    for job in taken:
        memory.release(job, 0, undo_attempt=True)
    [payload] = [job.payload for job in taken if job.id == job_id]
    return json.loads(payload)


@pytest.fixture
def memory(memory_transport):
    return memory_transport


@pytest.mark.usefixtures("own_registry")
def test_expiry_counts_from_when_the_job_is_due_and_dispatch_can_set_one(memory):
    class Expires(Job):
        expires_after = dt.timedelta(minutes=1)
        discoverable = True

    before = time.time()
    delayed = Expires().dispatch(connection="memory", delay=30)
    fixed = Expires().dispatch(connection="memory",
                               expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    epoch = Expires().dispatch(connection="memory", expires_at=before + 5)
    assert payload_of(fixed.id)["expires_at"] == dt.datetime(2030, 1, 1,
                                                             tzinfo=dt.UTC).timestamp()
    assert payload_of(epoch.id)["expires_at"] == before + 5
    memory.clear("default")
    assert delayed.delay == 30
    with pytest.raises(PayloadError, match="aware"):
        Expires().dispatch(connection="memory", expires_at=dt.datetime(2030, 1, 1))
    with pytest.raises(PayloadError, match="datetime or epoch"):
        Expires().dispatch(connection="memory", expires_at="tomorrow")


@pytest.mark.usefixtures("own_registry")
def test_a_delayed_job_expires_its_expires_after_past_its_due_time(memory):
    class Expires(Job):
        expires_after = 60
        discoverable = True

    before = time.time()
    job = Expires().dispatch(connection="memory", delay=0.05)
    time_due = before + 0.05
    body = None
    deadline = time.monotonic() + 5
    while body is None and time.monotonic() < deadline:
        found = [j for j in memory.reserve(["default"], 10, 30, "t") if j.id == job.id]
        body = json.loads(found[0].payload) if found else None
    assert body is not None
    assert time_due + 60 <= body["expires_at"] <= time.time() + 60


@pytest.mark.usefixtures("own_registry")
def test_limit_keys_are_computed_at_dispatch_and_carried_in_the_payload(memory):
    class PerAccount(Job):
        concurrency_limit = 2
        rate_limit = "10/m"
        discoverable = True

        def __init__(self, account):
            self.account = account

        def concurrency_key(self):
            return f"acct:{self.account}"

    class Plain(Job):
        discoverable = True

    limited = PerAccount(7).dispatch(connection="memory")
    plain = Plain().dispatch(connection="memory")
    assert payload_of(limited.id)["limits"] == {"concurrency": "acct:7",
                                                "rate": PerAccount.name}
    assert "limits" not in payload_of(plain.id) and "expires_at" not in payload_of(plain.id)


@pytest.mark.usefixtures("own_registry")
def test_wrong_flow_control_options_are_system_check_errors():
    from django_jobqueue.checks import check_settings

    class Zero(Job):
        concurrency_limit = 0

    class Typo(Job):
        rate_limit = "100/mn"

    class Never(Job):
        expires_after = dt.timedelta(0)

    class Fine(Job):
        concurrency_limit = 3
        rate_limit = "5/s"
        expires_after = 30

    found = {(e.id, e.msg, e.hint) for e in check_settings()
             if e.id in ("django_jobqueue.E028", "django_jobqueue.E029", "django_jobqueue.E030")}
    assert found == {
        ("django_jobqueue.E028", f"{Zero.name}.concurrency_limit must be a whole number of jobs"
         " (1 or more), or None (no limit), not 0.", None),
        ("django_jobqueue.E029", f"{Typo.name}.rate_limit: a rate limit is written like '100/m'"
         " (a count, '/', then s, m, h or d, optionally after a number: '10/5m'), not"
         " '100/mn'.", "Did you mean '100/min'?"),
        ("django_jobqueue.E030", f"{Never.name}.expires_after must be a number of seconds above"
         " 0 or a timedelta, or None (never expires), not datetime.timedelta(0).", None),
    }
    assert Fine.name not in str(found)
