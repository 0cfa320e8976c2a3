"""Prometheus metrics: the counts a supervisor keeps, their exposition, and a real worker's
``/metrics`` endpoint scraped while it runs."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from django_jobqueue import metrics
from django_jobqueue.metrics.collector import QueueDepthCollector, WorkerCollector
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support.log_lines import LINE
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def counts():
    counts = metrics.activate("redis")
    yield counts
    metrics.deactivate()


def test_nothing_is_counted_while_metrics_are_off():
    earlier = metrics.activate("redis")
    metrics.deactivate()
    metrics.record_attempt("default", "x.Job", "ok", 0.1)  # one None check, no error
    metrics.record_system_failure("default", "x.Job", "JobTimeout", retried=False)
    metrics.record_fallbacks(3)
    assert metrics.current() is None
    # What an earlier activation counted is left alone: nothing kept a stale reference.
    assert (dict(earlier.attempts), dict(earlier.system), earlier.fallbacks) == ({}, {}, 0)


def test_counts_become_counters_and_a_cumulative_histogram(counts):
    for seconds in (0.0005, 0.003, 0.003, 2.0, 400.0):
        metrics.record_attempt("mail", "shop.jobs.Send", "ok", seconds)
    metrics.record_attempt("mail", "shop.jobs.Send", "retry", 0.02)
    metrics.record_attempt("mail", "shop.jobs.Send", "failed", 0.02)
    metrics.record_system_failure("mail", "shop.jobs.Send", "WorkHorseKilled", retried=False)
    metrics.record_fallbacks(2)
    registry = CollectorRegistry()
    registry.register(WorkerCollector(counts))
    samples = _samples(generate_latest(registry).decode())
    job = {"connection": "redis", "queue": "mail", "job_class": "shop.jobs.Send"}
    assert _value(samples, "jobqueue_jobs_processed_total", **job) == 8
    assert _value(samples, "jobqueue_jobs_succeeded_total", **job) == 5
    assert _value(samples, "jobqueue_jobs_retried_total", **job) == 1
    assert _value(samples, "jobqueue_jobs_failed_total", **job) == 2  # one raised, one killed
    assert _value(samples, "jobqueue_system_failures_total", connection="redis", queue="mail",
                  kind="WorkHorseKilled") == 1
    assert _value(samples, "jobqueue_failed_store_fallbacks_total") == 2
    # Cumulative buckets: 0.001 holds 1, 0.005 holds 3, 2.5 holds 6 (the two 0.02s), +Inf 7.
    bucket = "jobqueue_job_duration_seconds_bucket"
    assert _value(samples, bucket, **job, le="0.001") == 1
    assert _value(samples, bucket, **job, le="0.005") == 3
    assert _value(samples, bucket, **job, le="2.5") == 6
    assert _value(samples, bucket, **job, le="300.0") == 6
    assert _value(samples, bucket, **job, le="+Inf") == 7
    assert _value(samples, "jobqueue_job_duration_seconds_count", **job) == 7
    assert _value(samples, "jobqueue_job_duration_seconds_sum", **job) == pytest.approx(
        402.0465)


def test_queue_depth_reads_the_store_and_survives_one_that_is_down(empty_queues):
    for i in range(3):
        jobs.Record(i).dispatch(connection="redis")
    jobs.Record(9).dispatch(connection="redis", delay=60)
    registry = CollectorRegistry()
    registry.register(QueueDepthCollector(["default"], connection="redis"))
    samples = _samples(generate_latest(registry).decode())
    depth = {"connection": "redis", "queue": "default"}
    assert _value(samples, "jobqueue_queue_depth", **depth, state="ready") == 3
    assert _value(samples, "jobqueue_queue_depth", **depth, state="delayed") == 1
    assert _value(samples, "jobqueue_queue_depth_up", connection="redis") == 1
    down = CollectorRegistry()
    collector = QueueDepthCollector(["default"], connection="no-such-connection")
    down.register(collector)
    samples = _samples(generate_latest(down).decode())
    assert _value(samples, "jobqueue_queue_depth_up", connection="no-such-connection") == 0
    # After a store that did not answer, the next scrapes within 10 s do not ask it again,
    # even though it would answer now.
    collector.connection = "redis"
    samples = _samples(generate_latest(down).decode())
    assert _value(samples, "jobqueue_queue_depth_up", connection="redis") == 0
    collector.failed_at -= 10.0  # the 10 s are over: asked again, and it answers
    samples = _samples(generate_latest(down).decode())
    assert _value(samples, "jobqueue_queue_depth_up", connection="redis") == 1
    get_transport("redis").clear("default")


def _scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


@pytest.mark.slow
def test_a_running_worker_serves_its_metrics(start_worker, empty_queues):
    for i in range(20):
        jobs.Record(i).dispatch(connection="redis")
    jobs.Flaky("f", fails=1).dispatch(connection="redis")
    jobs.AlwaysFails("a").dispatch(connection="redis")
    jobs.Sleeper(5).dispatch(connection="redis")  # timeout 1 s: raises JobTimeout
    jobs.IgnoresAlarm().dispatch(connection="redis")  # the worker kills its horse
    worker = start_worker("--connection", "redis", "--concurrency", "2", "--metrics-port", "0",
                          "--sleep", "0.1", settings_overrides={"TIMEOUT_GRACE": 0.5})
    listening = wait_until(lambda: re.search(r"event=metrics_listening addr=127\.0\.0\.1 "
                                             r"port=(\d+)", worker.output()))
    port = int(listening.group(1))
    record = {"connection": "redis", "queue": "default", "job_class": "tests.jobs.Record"}

    def settled():
        samples = _samples(_scrape(port))
        failed = sum(v for (name, _), v in samples.items() if name == "jobqueue_jobs_failed_total")
        done = _value(samples, "jobqueue_jobs_succeeded_total", **record) == 20
        return samples if done and failed == 3 else None

    samples = wait_until(settled, timeout=60, interval=0.2)
    flaky = {**record, "job_class": "tests.jobs.Flaky"}
    assert _value(samples, "jobqueue_jobs_retried_total", **flaky) == 1
    assert _value(samples, "jobqueue_jobs_succeeded_total", **flaky) == 1
    always = {**record, "job_class": "tests.jobs.AlwaysFails"}
    assert _value(samples, "jobqueue_jobs_retried_total", **always) == 2
    assert _value(samples, "jobqueue_jobs_failed_total", **always) == 1
    sleeper = {**record, "job_class": "tests.jobs.Sleeper"}
    assert _value(samples, "jobqueue_jobs_failed_total", **sleeper) == 1
    assert _value(samples, "jobqueue_job_duration_seconds_bucket", **sleeper, le="0.5") == 0
    assert _value(samples, "jobqueue_job_duration_seconds_bucket", **sleeper, le="2.5") == 1
    assert _value(samples, "jobqueue_system_failures_total", connection="redis",
                  queue="default", kind="JobTimeout") == 1  # IgnoresAlarm, killed
    assert _value(samples, "jobqueue_job_duration_seconds_count", **record) == 20
    assert _value(samples, "jobqueue_queue_depth", connection="redis", queue="default",
                  state="ready") == 0
    assert _value(samples, "process_resident_memory_bytes") > 0  # the supervisor's own
    with pytest.raises(urllib.error.HTTPError) as not_found:
        _scrape(port, "/other")
    assert not_found.value.code == 404
    worker.signal(15)
    assert worker.wait(20) == 0, worker.output()
    # Its log (the test settings print bare messages): one event per line, tracebacks below.
    events = [line for line in worker.output().splitlines() if line.startswith("event=")]
    assert len(events) >= 8, worker.output()
    for line in events:
        assert LINE.fullmatch(line), line


def _server(counts):
    from django_jobqueue.metrics.server import MetricsServer

    return MetricsServer(counts, [], "memory", "127.0.0.1", 0)


def test_the_endpoint_answers_a_scrape_and_drops_a_client_that_trickles(counts):
    import socket
    import time

    from django_jobqueue.metrics import server as metrics_server

    metrics.record_attempt("default", "shop.jobs.Send", "ok", 0.01)
    endpoint = _server(counts)
    try:
        # The request is in the kernel's buffers before the loop looks: answered in one go.
        with socket.create_connection(endpoint.address) as client:
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            endpoint.serve_ready()
            reply = client.makefile("rb").read().decode()
        assert reply.startswith("HTTP/1.1 200 OK\r\n")
        samples = _samples(reply.split("\r\n\r\n", 1)[1])
        assert _value(samples, "jobqueue_jobs_succeeded_total", connection="redis",
                      queue="default", job_class="shop.jobs.Send") == 1
        # A client that never finishes its request costs the loop IO_TIMEOUT, not more.
        with socket.create_connection(endpoint.address) as slow:
            slow.sendall(b"GET /met")
            started = time.monotonic()
            endpoint.serve_ready()
            held = time.monotonic() - started
            assert slow.recv(100) == b""  # closed without an answer
        assert held < metrics_server.IO_TIMEOUT + 1.0
        # Not an HTTP GET: closed without an answer either.
        with socket.create_connection(endpoint.address) as other:
            other.sendall(b"\x16\x03\x01 not http\r\n\r\n")
            endpoint.serve_ready()
            assert other.recv(100) == b""
        # HEAD: the head only.
        with socket.create_connection(endpoint.address) as head:
            head.sendall(b"HEAD /metrics HTTP/1.1\r\n\r\n")
            endpoint.serve_ready()
            reply = head.makefile("rb").read()
        assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b"\r\n\r\n")
    finally:
        endpoint.close()


def test_registering_the_depth_collector_asks_the_store_nothing():
    collector = QueueDepthCollector(["default"], connection="no-such-connection")
    CollectorRegistry(auto_describe=True).register(collector)  # as prometheus' REGISTRY
    assert collector.failed_at is None  # collect() was not called


def test_a_system_failure_is_counted_once_even_when_the_store_refuses_it_first(counts):
    from django_jobqueue.exceptions import TransportError
    from django_jobqueue.transports import Reserved
    from django_jobqueue.worker.claim import Claim
    from django_jobqueue.worker.outcomes import Ended, Outcomes, Owed
    from django_jobqueue.worker.settler import Settler

    class Down:
        name = "redis"

        def release(self, *args):
            raise TransportError("down")

    raw = '{"job": "tests.jobs.Flaky", "args": ["k", 9], "kwargs": {}, "max_tries": 5}'
    claim = Claim.of(Reserved("j1", "default", raw, 1, None, "t"), 30.0)
    outcomes = Outcomes()
    outcomes.add(Owed.ended_by(claim, Ended("WorkHorseKilled", "killed"), "w"))

    def settler(transport):
        return Settler(transport, "w", outcomes, lambda message, pid: None,
                       lambda claim, why: None)

    for _ in range(3):  # the supervisor tries a deferred settlement again, when it is due
        settler(Down()).settle_due(float("inf"))
    assert dict(counts.system) == {} and dict(counts.attempts) == {}

    class Up(Down):
        def release(self, *args):
            return True

    settler(Up()).settle_due(float("inf"))
    assert dict(counts.system) == {("default", "WorkHorseKilled"): 1} and not outcomes


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_every_failure_written_to_the_fallback_is_counted(counts, redis_client):
    from django_jobqueue import failures
    from tests.support.factories import make
    from tests.support.settings_overrides import mysql_down

    with mysql_down():
        # The first meets the table down; the next come straight to the fallback while the
        # outage is waited out. All three are fallback writes.
        assert [failures.record(make()).store for _ in range(3)] == ["redis"] * 3
    assert counts.fallbacks == 3
    assert failures.move_fallback() == 3


def test_a_horse_flushes_sentry_before_it_exits(monkeypatch):
    import sys
    import types

    from django_jobqueue.worker import horse

    flushed = []
    sdk = types.ModuleType("sentry_sdk")
    sdk.flush = lambda timeout=None: flushed.append(timeout)
    monkeypatch.setitem(sys.modules, "sentry_sdk", sdk)
    horse._flush_streams()  # what a horse runs right before os._exit()
    assert flushed == [2.0]
