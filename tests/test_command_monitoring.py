"""``failed_jobs_stats``, ``check_failed_jobs`` and ``queue_status``."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
from django.utils import timezone

from django_jobqueue import dispatch, failures
from django_jobqueue.flow.names import FLOW_SCOPE, status_name
from django_jobqueue.transports import CurrentJob, WorkerInfo, get_transport
from tests import jobs
from tests.support.commands import command, failing_command, refused
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue, mysql_down


@pytest.fixture
def pattern(store):
    """Two queues, two exception classes, one failure 30 hours old."""
    for queue, exc, hours in [("a", "KeyError", 0), ("a", "KeyError", 1), ("b", "OSError", 30)]:
        failures.record(make(queue=queue, exc=exc, age_hours=hours))
    return store


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_stats_text(pattern):
    out, _ = command("failed_jobs_stats")
    assert out.startswith("Failed jobs (all time): 3\nWaiting in the fallback store: 0\n")
    queue_section = out.split("By queue:\n")[1].split("\n\n")[0].splitlines()
    # Queue a's failures are now and an hour ago: one day, or two just after midnight UTC.
    now = timezone.now()
    days_a = str(len({now.date(), (now - dt.timedelta(hours=1)).date()}))
    assert [line.split()[:3] for line in queue_section[1:]] == [["a", "2", days_a],
                                                               ["b", "1", "1"]]
    hours = out.split("Per hour (last 24 h):\n")[1].splitlines()[1:]
    assert sum(int(line.split()[-1]) for line in hours) == 2
    assert "Top fingerprints:" in out and "By exception class:" in out


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_stats_json_since(pattern):
    out, _ = command("failed_jobs_stats", "--since", "2h", "--json")
    data = json.loads(out)
    assert data["total"] == 2 and data["since"] is not None
    assert [(g["exception_class"], g["count"]) for g in data["by_exception_class"]] == [
        ("KeyError", 2)]
    assert data["by_job_class"][0]["job_class"] == "tests.jobs.Record"


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_check_ok_and_alert(pattern):
    out, _ = command("check_failed_jobs", "--threshold", "2", "--window", "1h")
    assert out == "OK: 1 failed job in the last 1h (threshold 2)\n"
    out = failing_command("check_failed_jobs", "--threshold", "1", "--window", "2d")
    assert out == "ALERT: 3 failed jobs in the last 2d (threshold 1)\n"
    out, _ = command("check_failed_jobs", "--threshold", "0", "--window", "2d", "--queue", "c")
    assert out == "OK: 0 failed jobs in the last 2d on queue c (threshold 0)\n"


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize(("args", "match"), [
    ([], "--threshold"),
    (["--threshold", "-1"], "at least 0"),
    (["--threshold", "1", "--window", "1"], "not a duration"),
    (["--threshold", "1", "--window", "0h"], "not a duration"),
])
def test_check_bad_arguments(args, match):
    refused("check_failed_jobs", *args, match=match)


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_check_counts_failures_hidden_in_the_fallback(redis_client):
    with mysql_down():
        failures.record(make())
    with jobqueue(FAILED_DATABASE="mysql"):
        out = failing_command("check_failed_jobs", "--threshold", "0")
    assert out.startswith("ALERT: 1 failed job in the last 1h")


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_queue_status_counts_ready_delayed_and_reserved(redis_client):
    for connection in ("default", "redis"):
        transport = get_transport(connection)
        for queue in ("default", "mail"):
            transport.clear(queue)
        dispatch(jobs.Record(1), connection=connection)
        dispatch(jobs.Record(2), connection=connection)
        dispatch(jobs.Record(3), connection=connection, delay=300)
        transport.reserve(["default"], 1, 30, "t")
    failures.record(make(queue="mail"))  # a queue seen in failed jobs is listed
    running = CurrentJob("b" * 32, "tests.jobs.LongJob", time.time() - 3)
    silent = CurrentJob("d" * 32, "tests.jobs.LongJob", time.time() - 3)
    worker = WorkerInfo(name="box.42", host="box", pid=42, connection="redis",
                        queues=("default", "mail"), concurrency=2, started_at=time.time(),
                        jobs_processed=5, current=(running, silent))
    get_transport("redis").register_worker(worker, 30)
    reported = {"state": "running", "done": 3, "total": 4, "at": time.time(), "queue": "default",
                "message": "rows imported from the nightly feed, and more text than fits"}
    get_transport("redis").coordination.write(FLOW_SCOPE, status_name(running.id),
                                              json.dumps(reported), ttl=60)
    out, _ = command("queue_status", "--connection", "default", "--connection", "redis")
    lines = out.splitlines()
    assert lines[0] == "connection  queue    ready  delayed  reserved  oldest"
    # Only these two queues: the Tasks backends' declared queues are listed too.
    shown = [line for line in lines[1:] if line.split()[1:2] in (["default"], ["mail"])]
    for line, expected in zip(shown[:4], [r"default +default +1 +1 +1 +\d+\.\ds",
                                           r"default +mail +0 +0 +0 +-",
                                           r"redis +default +1 +1 +1 +\d+\.\ds",
                                           r"redis +mail +0 +0 +0 +-"], strict=True):
        assert re.fullmatch(expected, line), line
    head = next(n for n, line in enumerate(lines) if line.startswith("connection  worker"))
    assert lines[head].split() == ["connection", "worker", "host", "pid", "queues", "horses",
                                   "heartbeat", "jobs", "running"]
    assert lines[head - 1] == ""  # the queue table ends where the worker table begins
    # The progress a job reported, compactly; none for one that reported nothing.
    assert re.fullmatch(rf"redis +box\.42 +box +42 +default,mail +2 +\d\.\ds ago +5 +"
                        rf"tests\.jobs\.LongJob {'b' * 32} \(\d\.\ds, 3/4 75% rows imported "
                        rf"from the nightl…\), tests\.jobs\.LongJob {'d' * 32} \(\d\.\ds\)",
                        lines[head + 1]), lines[head + 1]
    out, _ = command("queue_status", "--json", "--connection", "redis", "--queue", "default")
    queue, workers = (json.loads(line) for line in out.splitlines())
    assert 0 <= queue.pop("oldest_age") < 60
    assert queue == {"kind": "queue", "connection": "redis", "queue": "default", "ready": 1,
                     "delayed": 1, "reserved": 1, "error": "", "paused": False,
                     "paused_at": None, "paused_by": ""}
    [listed] = workers.pop("workers")
    assert workers == {"kind": "workers", "connection": "redis", "tracked": True, "error": ""}
    assert 0 <= listed.pop("heartbeat_age") < 60 and listed.pop("last_heartbeat") > 0
    expected = worker.as_dict()
    del expected["heartbeat_age"], expected["last_heartbeat"]
    expected["current"][0]["progress"] = {
        "done": 3, "total": 4, "message": reported["message"], "at": reported["at"],
        "percent": 75.0}
    expected["current"][1]["progress"] = None
    assert listed == expected
    for connection in ("default", "redis"):
        get_transport(connection).clear("default")


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_queue_status_defaults_and_errors():
    with jobqueue(CONNECTIONS={
        "default": {"TRANSPORT": "django_jobqueue.transports.database.DatabaseTransport"},
        "memory": {"TRANSPORT": "django_jobqueue.transports.memory.MemoryTransport"},
        "down": {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
                 "OPTIONS": {"URL": "redis://127.0.0.1:9/0"}},
    }, DEFAULT_QUEUE="main"):
        out, _ = command("queue_status", "--queue", "main")
        refused("queue_status", "--connection", "nope", match="Unknown jobqueue connection")
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[1:3]] == [["default", "main"], ["down", "main"]]
    assert "unavailable: redis" in lines[2]
    assert lines[4] == "No live workers."
    assert lines[5].startswith("down: workers unavailable: redis")


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
@pytest.mark.parametrize("args", [
    ["failed_jobs"], ["failed_jobs_stats"], ["check_failed_jobs", "--threshold", "1"],
    ["retry_failed_jobs", "--all"], ["prune_failed_jobs", "--days", "1"],
])
def test_a_store_that_is_down_is_a_one_line_error(args):
    dead_redis = {"URL": "redis://127.0.0.1:9/0"}
    with mysql_down(), jobqueue(FAILED_DATABASE="mysql", FAILED_REDIS=dead_redis):
        error = refused(*args, match="TransportError|OperationalError")
    assert error.returncode == 1


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_fallback_listing_without_redis_is_a_clear_error():
    with jobqueue(FAILED_REDIS={}, CONNECTIONS={
            "default": {"TRANSPORT": "django_jobqueue.transports.database.DatabaseTransport"}}):
        refused("failed_jobs", "--fallback",
                match="the failed-job store has no part 'redis' \\(it has database\\)")


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_redis_store_prunes_only_by_age_and_queue(redis_client):
    with jobqueue(FAILED_STORE="redis"):
        failures.record(make())
        refused("prune_failed_jobs", "--exception-class", "KeyError",
                match="only be pruned by age and queue")
        out, _ = command("prune_failed_jobs", "--queue", "default")
    assert out.splitlines() == ["Deleted 1 failed job:", "  queue    redis",
                                "  default      1"]


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize("connection", ["default", "redis"], ids=["sqlite", "redis"])
def test_queue_status_lists_queues_no_job_class_declares(connection, redis_client):
    from django_jobqueue import status

    transport = get_transport(connection)
    for n in range(4):
        dispatch(jobs.Record(n), connection=connection, queue="emails")
    for n in range(2):
        dispatch(jobs.Record(n), connection=connection, queue="imports")
    worker = WorkerInfo(name="box.1", host="box", pid=1, connection=connection,
                        queues=("reports",), concurrency=1, started_at=time.time())
    transport.register_worker(worker, 30)
    try:
        rows = {row.queue: row for row in status.queue_status([connection])}
        assert (rows["emails"].ready, rows["imports"].ready) == (4, 2)
        assert rows["reports"].ready == 0 and "default" in rows  # served, declared
        out, _ = command("queue_status", "--connection", connection)
        assert re.search(r"emails +4 +0 +0", out) and re.search(r"imports +2 +0 +0", out)
    finally:
        transport.unregister_worker("box.1")
        for queue in ("emails", "imports"):
            transport.clear(queue)
