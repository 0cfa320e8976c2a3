"""How every system's bench jobs report progress: one byte appended to a file per event.

The same job body runs on every system, so no system pays more than another for being
counted. An ``O_APPEND`` write of one byte is atomic between processes and costs a
system call (a few µs), not a network round trip, so counting does not slow the fastest
workers down; the watcher reads the files' sizes with ``os.stat``.

Stdlib only: imported by our workers (``.venv``) and the peers' (``.venv-bench-peers``).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "BENCH_COUNT_DIR"
#: ``started``: an attempt began; ``done``: an attempt succeeded; ``failed``: a system with
#: no failed store of its own (Celery without a results backend) recorded a failure.
EVENTS = ("started", "done", "failed")

_fds: dict[str, int] = {}
_pid = 0


def mark(event: str) -> None:
    """Count one ``event`` of the calling job."""
    global _pid
    if _pid != os.getpid():  # a forked work horse must not share its parent's descriptors
        _fds.clear()
        _pid = os.getpid()
    fd = _fds.get(event)
    if fd is None:
        path = os.path.join(os.environ[ENV_VAR], event)
        fd = _fds[event] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, b".")


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
