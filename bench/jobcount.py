"""How every system's bench jobs report progress: one byte appended to a file per event,
and for the latency measure one fixed-width record per job.

The same job body runs on every system, so no system pays more than another for being
counted. An ``O_APPEND`` write of one byte is atomic between processes and costs a
system call (a few µs), not a network round trip, so counting does not slow the fastest
workers down; the watcher reads the files' sizes with ``os.stat``.

Stdlib only: imported by our workers (``.venv``) and the peers' (``.venv-bench-peers``).
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

ENV_VAR = "BENCH_COUNT_DIR"
#: ``started``: an attempt began; ``done``: an attempt succeeded; ``failed``: a system with
#: no failed store of its own (Celery without a results backend) recorded a failure;
#: ``latency``: (sent, started) records of the latency measure.
EVENTS = ("started", "done", "failed", "latency")
#: Two ``time.monotonic()`` readings: CLOCK_MONOTONIC is one clock for every process of a
#: Linux host, so the enqueuer's and the worker's readings can be subtracted.
STAMP = struct.Struct("<dd")

_fds: dict[str, int] = {}
_pid = 0


def mark(event: str) -> None:
    """Count one ``event`` of the calling job."""
    _write(event, b".")


def _write(event: str, record: bytes) -> None:
    global _pid
    if _pid != os.getpid():  # a forked work horse must not share its parent's descriptors
        _fds.clear()
        _pid = os.getpid()
    fd = _fds.get(event)
    if fd is None:
        path = os.path.join(os.environ[ENV_VAR], event)
        fd = _fds[event] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, record)


def stamp(sent: float) -> None:
    """The latency job's body: record when it was sent and when its body began (now)."""
    started = time.monotonic()
    _write("latency", STAMP.pack(sent, started))


def stamps(directory: Path) -> list[tuple[float, float]]:
    """Every (sent, started) pair recorded so far, in the order written."""
    try:
        data = (directory / "latency").read_bytes()
    except FileNotFoundError:
        return []
    whole = len(data) - len(data) % STAMP.size  # a record being written is not read
    return list(STAMP.iter_unpack(data[:whole]))


def stamp_count(directory: Path) -> int:
    return count(directory, "latency") // STAMP.size


def count(directory: Path, event: str) -> int:
    try:
        return (directory / event).stat().st_size
    except FileNotFoundError:
        return 0


def reset(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for event in EVENTS:
        (directory / event).unlink(missing_ok=True)


def noop() -> None:
    mark("started")
    mark("done")


class Boom(RuntimeError):
    pass


def fail() -> None:
    mark("started")
    raise Boom("bench: this job always fails")


def retry(attempt: int) -> None:
    """Fail the first two attempts (``attempt`` counts from 1), succeed on the third."""
    mark("started")
    if attempt <= 2:
        raise Boom(f"bench: attempt {attempt} fails")
    mark("done")
