"""Dispatch: payload encoding, refusals at dispatch time, transactions, bulk."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from django_jobqueue import ConfigurationError, PayloadError, dispatch_many
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import ledger
from tests.support.settings_overrides import jobqueue


@pytest.fixture
def memory(ledger):
    with jobqueue(DEFAULT_CONNECTION="memory"):
        get_transport("memory").clear("default")
        yield get_transport("memory")


def _payload(transport):
    [job] = transport.reserve(["default"], 1, 30, "t")
    return job


def test_special_types_round_trip(memory):
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    values = {
        "when": when, "day": when.date(), "clock": when.time(), "id": uuid.UUID(int=7),
        "price": decimal.Decimal("12.30"), "nested": [{"at": when}],
    }
    seen = []

    class Capture(jobs.Record):
        def handle(self):
            seen.append(self.value)

    Capture(values).dispatch()
    work()
    assert seen == [values]
    assert isinstance(seen[0]["price"], decimal.Decimal)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, "sets are not JSON"),
        (object(), "object is not JSON-serialisable"),
        (float("nan"), "not JSON"),
        ({"__jq__": "x"}, "reserved"),
    ],
)
def test_non_json_arguments_raise_at_dispatch(memory, value, message):
    with pytest.raises(PayloadError, match=message):
        jobs.Record(value).dispatch()
    assert memory.size("default").total == 0


@pytest.mark.django_db
def test_model_instances_are_refused_with_a_hint(memory):
    user = User(pk=3, username="u")
    with pytest.raises(PayloadError, match="pass its primary key"):
        jobs.Record(user).dispatch()


def test_payload_size_limit(memory):
    with jobqueue(DEFAULT_CONNECTION="memory", MAX_PAYLOAD_BYTES=1000), pytest.raises(
        PayloadError, match="over MAX_PAYLOAD_BYTES"
    ):
        jobs.Record("x" * 2000).dispatch()


def test_unknown_connection_raises_at_dispatch(memory):
    with pytest.raises(ConfigurationError, match="Unknown jobqueue connection 'nope'"):
        jobs.Record(1).dispatch(connection="nope")


def test_payload_shape_and_overrides(memory):
    result = jobs.Record(1, note="n").dispatch(queue="high", delay=0, priority=5)
    [job] = memory.reserve(["high"], 1, 30, "t")
    body = json.loads(job.payload)
    assert body["id"] == result.id == job.id
    assert body["job"] == "tests.jobs.Record" and body["v"] == 1
    assert body["data"] == {"args": [1], "kwargs": {"note": "n"}}
    assert (body["queue"], body["connection"], body["max_tries"]) == ("high", "memory", 1)
    assert body["priority"] == 5


def test_explicit_name_survives_renames(memory):
    jobs.Renamed(3).dispatch()
    assert json.loads(_payload(memory).payload)["job"] == "tests.stable-name"


def test_abstract_jobs_cannot_be_dispatched(memory):
    from django_jobqueue import Job

    class Base(Job):
        abstract = True

    with pytest.raises(PayloadError, match="abstract"):
        Base().dispatch()


@pytest.mark.django_db(transaction=True)
def test_push_waits_for_commit_and_rollback_drops_it(memory):
    with transaction.atomic():
        jobs.Record("committed").dispatch()
        assert memory.size("default").total == 0
    assert memory.size("default").ready == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.Record("rolled back").dispatch()
        raise RuntimeError
    assert memory.size("default").ready == 1


@pytest.mark.django_db(transaction=True)
def test_push_immediately_when_configured(memory):
    with jobqueue(DEFAULT_CONNECTION="memory", DISPATCH_AFTER_COMMIT=False), (
        transaction.atomic()
    ):
        jobs.Record(1).dispatch()
        assert memory.size("default").ready == 1


@pytest.mark.django_db(transaction=True)
def test_database_transport_joins_the_transaction():
    transport = get_transport("default")
    transport.clear("default")
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.Record("gone").dispatch(connection="default")
        raise RuntimeError
    assert transport.size("default").total == 0
    with transaction.atomic():
        jobs.Record("kept").dispatch(connection="default")
    assert transport.size("default").ready == 1
    transport.clear("default")


def test_dispatch_many_validates_all_before_pushing(memory):
    with pytest.raises(PayloadError):
        dispatch_many([jobs.Record(1), jobs.Record({1})])
    assert memory.size("default").total == 0
    results = dispatch_many([jobs.Record(i) for i in range(3)], queue="low")
    assert [r.queue for r in results] == ["low"] * 3
    assert memory.size("low").ready == 3
    memory.clear("low")


def test_attempt_and_job_id_inside_handle(memory):
    result = jobs.Record("v").dispatch()
    work()
    [ran] = ledger.events("ran")
    assert ran["id"] == result.id and ran["attempt"] == 1
