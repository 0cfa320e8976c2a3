"""The ``/metrics`` endpoint of a worker, answered from the supervisor's loop.

The listening socket sits in the same ``wait()`` as the horses' sockets; a scrape is read and
answered in one go within ``IO_TIMEOUT`` in all, and at most ``SCRAPES_PER_TURN`` are
answered per turn, so clients that stall, trickle or flood delay the loop by a bounded time
(the port listens on 127.0.0.1 unless ``METRICS_ADDR`` says otherwise). No thread is
started: see the package docstring.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence

from ..logutil import exception_for_log, log_event
from . import Counts
from .collector import QueueDepthCollector, WorkerCollector, require

logger = logging.getLogger("django_jobqueue.metrics")

IO_TIMEOUT = 0.25
SCRAPES_PER_TURN = 2
# After accept() fails (out of file descriptors): the socket stays readable, so it leaves
# the loop's wait() for this long instead of making the loop spin.
ACCEPT_PAUSE = 1.0
_MAX_REQUEST = 8192


class MetricsServer:
    """One worker's scrape endpoint."""

    def __init__(
        self, counts: Counts, queues: Sequence[str], connection: str, addr: str, port: int
    ) -> None:
        require()
        from prometheus_client import CollectorRegistry, ProcessCollector

        self.registry = CollectorRegistry()
        self.registry.register(WorkerCollector(counts))
        self.registry.register(QueueDepthCollector(queues, connection))
        ProcessCollector(registry=self.registry)  # the supervisor's memory, CPU and fds
        self.sock = socket.create_server((addr, port), reuse_port=False)
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.paused_until = 0.0

    def fileno(self) -> int:
        return self.sock.fileno()

    def listening(self, now: float) -> bool:
        """Whether the loop should wait on the socket this turn."""
        return now >= self.paused_until

    def serve_ready(self) -> None:
        """Answer the scrapes waiting on the socket (it said it was readable); more than
        ``SCRAPES_PER_TURN`` wait for the next turn."""
        for _ in range(SCRAPES_PER_TURN):
            try:
                client, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log_event(logger, logging.WARNING, "metrics_accept_failed", error=exc)
                self.paused_until = time.monotonic() + ACCEPT_PAUSE
                return
            with client:
                self._answer(client)

    def _answer(self, client: socket.socket) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        deadline = time.monotonic() + IO_TIMEOUT
        try:
            request = _request(client, deadline)
            if request is None:
                return
            method, path = request
            status, ctype, body = "404 Not Found", "text/plain", b"try /metrics\n"
            if path.split("?", 1)[0] in ("/", "/metrics"):
                try:
                    status, ctype = "200 OK", CONTENT_TYPE_LATEST
                    body = generate_latest(self.registry)
                except Exception as error:  # a collector's bug: the scrape's loss only
                    log_event(logger, logging.ERROR, "metrics_scrape_failed",
                              error=type(error).__name__, traceback=exception_for_log(error))
                    status, ctype, body = "500 Internal Server Error", "text/plain", b"error\n"
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
            # One timeout for the whole sendall (Python >= 3.5), so a client that reads
            # slowly cannot hold the loop longer than the rest of the budget.
            client.settimeout(max(deadline - time.monotonic(), 0.05))
            client.sendall(head.encode("ascii") + (b"" if method == "HEAD" else body))
        except OSError as exc:  # a client that went away or stalled: its loss only
            log_event(logger, logging.DEBUG, "metrics_scrape_dropped", error=exc)

    def close(self) -> None:
        self.sock.close()


def _request(client: socket.socket, deadline: float) -> tuple[str, str] | None:
    """The method and path of an HTTP GET or HEAD, or ``None`` for anything else (answered
    by closing). The whole request must arrive before ``deadline``: a client trickling
    bytes is dropped."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data and len(data) < _MAX_REQUEST:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        client.settimeout(left)
        chunk = client.recv(4096)
        if not chunk:
            break
        data += chunk
    parts = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0].split()
    if len(parts) < 2 or parts[0] not in (b"GET", b"HEAD"):
        return None
    return parts[0].decode("ascii"), parts[1].decode("latin-1")


def start(counts: Counts, queues: Sequence[str], connection: str, addr: str,
          port: int) -> MetricsServer:
    """Listen on ``addr:port`` (port 0 picks a free one, logged at start)."""
    server = MetricsServer(counts, queues, connection, addr, port)
    log_event(logger, logging.INFO, "metrics_listening", addr=server.address[0],
              port=server.address[1])
    return server
