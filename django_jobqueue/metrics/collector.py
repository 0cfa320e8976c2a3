"""The Prometheus view of a worker's counts and of its queues (needs ``prometheus-client``)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..conf import jobqueue_settings
from . import DURATION_BUCKETS, OUTCOMES, Counts

try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.registry import Collector
except ImportError:  # pragma: no cover -- checked at start by ``require()``
    Collector = object  # type: ignore[assignment,misc]


def require() -> None:
    """Fail with a clear message when the extra is missing."""
    from ..exceptions import ConfigurationError

    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "METRICS_PORT is set but prometheus-client is not installed: "
            "pip install 'django-jobqueue[metrics]'"
        ) from None


_HELP = {
    "succeeded": "Attempts whose handle() returned.",
    "retried": "Attempts that failed; the job runs again.",
    "failed": "Jobs that failed for good (their last attempt).",
}
# After a depth query fails, the store is not asked again for this long: a scrape is
# answered from the worker's loop, and a store that is down can take seconds to say so.
DEPTH_RETRY_AFTER = 10.0


class WorkerCollector(Collector):
    """Jobs processed, succeeded, retried and failed by queue and job class, attempt
    durations, system failures and fallbacks of one worker process."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Any]:
        counts, conn = self.counts, self.counts.connection
        attempts = dict(counts.attempts)  # a copy: the loop keeps counting meanwhile
        labels = ["connection", "queue", "job_class"]
        processed = CounterMetricFamily(
            "jobqueue_jobs_processed", "Attempts that ended, whatever their outcome.",
            labels=labels)
        by_outcome = {outcome: CounterMetricFamily(
            f"jobqueue_jobs_{outcome}", _HELP[outcome], labels=labels) for outcome in OUTCOMES}
        totals: dict[tuple[str, str], int] = {}
        for (queue, job_class, outcome), n in sorted(attempts.items()):
            by_outcome[outcome].add_metric([conn, queue, job_class], n)
            totals[(queue, job_class)] = totals.get((queue, job_class), 0) + n
        for (queue, job_class), n in sorted(totals.items()):
            processed.add_metric([conn, queue, job_class], n)
        yield processed
        yield from by_outcome.values()
        yield self._durations(conn)
        system = CounterMetricFamily(
            "jobqueue_system_failures", "Attempts the worker ended: killed horses, hard "
            "timeouts, abandoned jobs.", labels=["connection", "queue", "kind"])
        for (queue, kind), n in sorted(dict(counts.system).items()):
            system.add_metric([conn, queue, kind], n)
        yield system
        yield CounterMetricFamily(
            "jobqueue_failed_store_fallbacks", "Failures written to the Redis fallback "
            "because the failed-job table did not answer.", value=counts.fallbacks)

    def _durations(self, conn: str) -> Any:
        family = HistogramMetricFamily(
            "jobqueue_job_duration_seconds", "Attempts that returned or raised, timed by "
            "the supervisor from the horse taking the job up to its answer.",
            labels=["connection", "queue", "job_class"])
        for (queue, job_class), durations in sorted(dict(self.counts.durations).items()):
            cumulative, buckets = 0, []
            for bound, n in zip([*DURATION_BUCKETS, float("inf")], list(durations.counts),
                                strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric([conn, queue, job_class], buckets, durations.total)
        return family


class QueueDepthCollector(Collector):
    """``jobqueue_queue_depth{connection,queue,state}``: ready, delayed and reserved jobs,
    read from the store at each scrape. Register one in a web process's registry too (for
    example beside django-prometheus) to watch queues no worker serves."""

    def __init__(self, queues: Sequence[str], connection: str | None = None) -> None:
        self.queues = list(queues)
        self.connection = connection or jobqueue_settings.DEFAULT_CONNECTION
        self.failed_at: float | None = None

    def describe(self) -> Iterable[Any]:
        # Given, so that registering the collector does not query the store.
        return self._families()

    def _families(self) -> tuple[Any, Any]:
        family = GaugeMetricFamily("jobqueue_queue_depth", "Jobs in the queue, by state.",
                                   labels=["connection", "queue", "state"])
        up = GaugeMetricFamily("jobqueue_queue_depth_up", "1 if the store answered the "
                               "depth query of this scrape, else 0.", labels=["connection"])
        return family, up

    def collect(self) -> Iterable[Any]:
        from ..transports import get_transport

        family, up = self._families()
        now = time.monotonic()
        if self.failed_at is not None and now - self.failed_at < DEPTH_RETRY_AFTER:
            up.add_metric([self.connection], 0)
            return [up]
        try:
            transport = get_transport(self.connection)
            sizes = [(queue, transport.size(queue)) for queue in self.queues]
        except Exception:
            # A store that is down must not fail the scrape: the other metrics matter most
            # exactly then.
            self.failed_at = now
            up.add_metric([self.connection], 0)
            return [up]
        self.failed_at = None
        for queue, size in sizes:
            for state in ("ready", "delayed", "reserved"):
                family.add_metric([self.connection, queue, state], getattr(size, state))
        up.add_metric([self.connection], 1)
        return [family, up]
