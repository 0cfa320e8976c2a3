"""Pausing and resuming a queue (``django_jobqueue.flow.pause``) on memory, SQLite, MariaDB,
PostgreSQL, Redis and Redis Cluster: kept in the store across a restart, read for many
queues in one round trip, never lost to an unreadable value, and no obstacle to dispatch;
and what ``queue_status`` makes of it."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_jobqueue import dispatch, status, transports
from django_jobqueue.exceptions import ConfigurationError
from django_jobqueue.flow import pause as flow
from django_jobqueue.flow.names import FLOW_SCOPE
from django_jobqueue.flow.pause import Pause, pause_queue, paused, resume_queue
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support.params import TRANSPORT_PARAMS
from tests.support.settings_overrides import jobqueue

EVERY_STORE = pytest.mark.parametrize("connection_name", TRANSPORT_PARAMS, indirect=True)


def fresh() -> str:
    """A queue name no other test uses (memory and Redis keep pauses between tests)."""
    return f"q-{uuid.uuid4().hex[:12]}"


def restart() -> None:
    """What a new process sees: every transport (and its coordination) built anew."""
    transports.reset()


@EVERY_STORE
def test_a_pause_is_kept_in_the_store_across_a_restart(clean_connection):
    queue = fresh()
    before = time.time()
    pause = pause_queue(queue, clean_connection, by="admin:alice")
    assert pause == Pause(clean_connection, queue, pause.paused_at, "admin:alice")
    assert before <= pause.paused_at <= time.time()
    old = get_transport(clean_connection)
    restart()
    assert get_transport(clean_connection) is not old
    assert paused(clean_connection, [queue]) == {queue: pause}
    # The stored shape other tools may read: {"at": epoch seconds, "by": who}.
    stored = get_transport(clean_connection).coordination.read(FLOW_SCOPE, [f"paused:{queue}"])
    assert json.loads(stored[f"paused:{queue}"]) == {"at": pause.paused_at,
                                                      "by": "admin:alice"}


@EVERY_STORE
def test_resume_ends_the_pause_and_says_whether_there_was_one(clean_connection):
    queue, other = fresh(), fresh()
    pause_queue(queue, clean_connection)
    pause_queue(other, clean_connection)
    restart()
    assert resume_queue(queue, clean_connection) is True
    assert paused(clean_connection, [queue, other]).keys() == {other}
    assert resume_queue(queue, clean_connection) is False
    assert resume_queue(other, clean_connection) is True
    assert paused(clean_connection, [queue, other]) == {}


@EVERY_STORE
def test_paused_reads_many_queues_in_one_round_trip(clean_connection, monkeypatch):
    names = [fresh() for _ in range(5)]
    for queue in names[1::2]:
        pause_queue(queue, clean_connection, by="command")
    co = get_transport(clean_connection).coordination
    calls = []
    for method in ("read", "take", "write", "release", "renew"):
        real = getattr(co, method)
        monkeypatch.setattr(co, method, lambda *a, _m=method, _real=real: (calls.append(_m),
                                                                         _real(*a))[1])
    alias = getattr(get_transport(clean_connection), "alias", None)
    counting = CaptureQueriesContext(connections[alias]) if alias else contextlib.nullcontext()
    with counting as queries:
        found = paused(clean_connection, names)
    assert calls == ["read"]
    if alias:
        assert len(queries) == 1, [q["sql"] for q in queries]
    assert list(found) == names[1::2]
    assert {(p.connection, p.by) for p in found.values()} == {(clean_connection, "command")}


@EVERY_STORE
def test_pausing_a_paused_queue_keeps_the_first_pause(clean_connection):
    queue = fresh()
    first = pause_queue(queue, clean_connection, by="admin:alice")
    again = pause_queue(queue, clean_connection, by="command")
    assert again == first
    assert paused(clean_connection, [queue]) == {queue: first}


@EVERY_STORE
def test_an_unreadable_pause_still_pauses_and_a_new_pause_replaces_it(clean_connection):
    queue = fresh()
    co = get_transport(clean_connection).coordination
    for text in ('{"by": "x"}', "not json", '["at"]', '{"at": "soon"}', '{"at": 1, "by": 2}'):
        co.write(FLOW_SCOPE, f"paused:{queue}", text)
        assert paused(clean_connection, [queue]) == {
            queue: Pause(clean_connection, queue, 0.0, "")}, text
    pause = pause_queue(queue, clean_connection, by="command")
    assert pause.paused_at > 0 and pause.by == "command"
    assert paused(clean_connection, [queue]) == {queue: pause}


@EVERY_STORE
def test_dispatch_to_a_paused_queue_is_accepted_and_counted_as_ready(clean_connection):
    transport = get_transport(clean_connection)
    pause = pause_queue("other", clean_connection, by="command")
    try:
        result = dispatch(jobs.Record(1), connection=clean_connection, queue="other")
        assert (result.queue, result.duplicate) == ("other", False)
        assert transport.size("other").ready == 1
        assert paused(clean_connection, ["other"]) == {"other": pause}, "still paused"
    finally:
        resume_queue("other", clean_connection)


def test_connections_and_queue_names_are_checked():
    with pytest.raises(ConfigurationError, match="Unknown jobqueue connection 'nope'"):
        pause_queue("default", "nope")
    with pytest.raises(ConfigurationError, match="Unknown jobqueue connection 'nope'"):
        paused("nope", ["default"])
    with pytest.raises(ConfigurationError, match="Unknown jobqueue connection 'nope'"):
        resume_queue("default", "nope")
    for bad in ("", None):
        with pytest.raises(ValueError, match="a queue name is a non-empty string"):
            pause_queue(bad, "memory")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="a queue name is a non-empty string"):
            resume_queue(bad, "memory")  # type: ignore[arg-type]


def test_no_connection_means_the_default_one():
    queue = fresh()
    with jobqueue(DEFAULT_CONNECTION="memory"):
        assert pause_queue(queue).connection == "memory"
        assert paused("memory", [queue]).keys() == {queue}
        assert resume_queue(queue) is True


def test_pause_and_resume_are_logged_once(caplog):
    queue = fresh()
    with caplog.at_level(logging.DEBUG, logger="django_jobqueue"):
        pause_queue(queue, "memory", by="admin:alice")
        pause_queue(queue, "memory", by="command")  # paused already: nothing happens
        resume_queue(queue, "memory")
        resume_queue(queue, "memory")  # not paused: nothing happens
    assert [(r.jobqueue_event, r.jobqueue_fields) for r in caplog.records] == [
        ("queue_paused", {"connection": "memory", "queue": queue, "by": "admin:alice"}),
        ("queue_resumed", {"connection": "memory", "queue": queue}),
    ]
    assert caplog.records[0].name == flow.__name__


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_queue_status_reads_the_pauses_of_a_connection_once(monkeypatch):
    queue, calls = fresh(), []
    pause = pause_queue(queue, "default", by="command")
    dispatch(jobs.Record(1), connection="default", queue=queue)

    def counting(connection, queues):
        calls.append((connection, list(queues)))
        return paused(connection, queues)

    monkeypatch.setattr(status, "paused", counting)
    rows = {row.queue: row for row in status.queue_status(["default"], [queue, "default"])}
    assert calls == [("default", [queue, "default"])]
    assert (rows[queue].ready, rows[queue].paused, rows[queue].paused_at,
            rows[queue].paused_by, rows[queue].error) == (1, True, pause.paused_at, "command", "")
    assert (rows["default"].paused, rows["default"].paused_at, rows["default"].paused_by) == (
        False, None, "")


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_queue_status_of_a_store_that_does_not_answer_is_an_error_not_unpaused():
    down = {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
            "OPTIONS": {"URL": "redis://127.0.0.1:9/0"}}
    with jobqueue(CONNECTIONS={"down": down}):
        [row] = status.queue_status(["down"], ["default"])
    assert row.error.startswith("redis") and not row.paused
    assert (row.ready, row.delayed, row.reserved) == (0, 0, 0)
