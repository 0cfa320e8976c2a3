"""Work horses: long-lived child processes that run job code for a supervisor.

A horse is forked once and runs many jobs (recycled after ``HORSE_MAX_JOBS`` jobs or
``HORSE_MAX_MEMORY_MB`` of resident memory). It talks to its supervisor over a socket pair
in the messages of :mod:`.protocol`; it never touches the transport or the failed-job store,
so a horse that dies loses nothing the supervisor cannot settle. (Only a job's own progress
reports reach the store from a horse: see :mod:`django_jobqueue.flow.running`.)

Work arrives in order and may arrive ahead of time (the supervisor keeps a short jobs' horse
busy with a few jobs queued in the socket): jobs to run and ``failed()`` hooks to call. The
horse answers each in the order it came, so the supervisor knows what runs from the answers
it has read. A job that fails for good is answered at once; its ``failed()`` hook runs when
the supervisor has recorded the failure and says so, while other jobs go on. Once the
supervisor starts stopping, it sets a flag shared with every horse, and a horse then skips
the jobs still queued for it (answering ``skipped``) instead of starting them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import mmap
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from django.db import close_old_connections, connections

from ..logutil import exception_for_log, log_event
from .execute import Pending, run_attempt, run_failed_hook, run_system_failure, stand_in
from .handlers import build_chain
from .protocol import (
    FromHorse,
    Hook,
    HookDone,
    Result,
    Run,
    Skipped,
    Stop,
    SystemFailure,
    ToHorse,
    decode,
    encode,
)

logger = logging.getLogger("django_jobqueue.worker")

_PR_SET_PDEATHSIG = 1
# Connections inherited from the supervisor: kept referenced (never closed or collected) so
# their sockets are not shut down under the supervisor's feet by a close in the child.
_inherited: list[Any] = []


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def resident_kb(pid: int | str = "self") -> int:
    """Current resident memory of a process in KiB (0 if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0


class _OwnResidentMemory:
    """This process's resident memory, read after every job: the file stays open and is
    re-read with ``pread``, which costs one system call instead of open, read and close."""

    def __init__(self) -> None:
        self.fd = os.open("/proc/self/statm", os.O_RDONLY)

    def kb(self) -> int:
        try:
            return int(os.pread(self.fd, 128, 0).split()[1]) * _PAGE_KB
        except (OSError, ValueError, IndexError):
            return 0


@dataclass(frozen=True)
class HorseConfig:
    """What a horse is forked with (it inherits the object: nothing is serialised)."""

    exception_handlers: list[str]
    disable_default: bool
    max_jobs: int
    max_memory_mb: float


class StopFlag:
    """One byte shared by a supervisor and all its horses: set once the supervisor stops,
    so horses skip the jobs queued for them. Created before the horses are forked."""

    def __init__(self) -> None:
        self._page = mmap.mmap(-1, 1)

    def set(self) -> None:
        self._page[0] = 1

    def is_set(self) -> bool:
        return self._page[0] == 1


class CancelFlag:
    """The id of the job a supervisor asks one horse to stop (its cancel request), in a page
    the two share, created before the fork: the job's ``cancel_requested`` reads it at the
    cost of a memory read, and an id, not a bit, so a request can never reach the next job."""

    SIZE = 64

    def __init__(self) -> None:
        self._page = mmap.mmap(-1, self.SIZE)

    def set(self, job_id: str) -> None:
        self._page[:] = job_id.encode()[:self.SIZE].ljust(self.SIZE, b"\0")

    def holds(self, job_id: str) -> bool:
        return self._page[:].rstrip(b"\0") == job_id.encode()[:self.SIZE]


class Horse:
    """The supervisor's handle on one work horse."""

    def __init__(self, conn: Connection, pid: int, cancel: CancelFlag | None = None) -> None:
        self.conn = conn
        self.pid = pid
        self.exiting = False  # it announced it will exit (recycling)
        self.cancel = cancel or CancelFlag()

    @classmethod
    def spawn(
        cls, config: HorseConfig, close_in_child: Iterable[int], stop: StopFlag
    ) -> Horse:
        parent_end, child_end = Pipe(duplex=True)
        cancel = CancelFlag()
        pid = os.fork()
        if pid == 0:  # pragma: no cover -- runs in the child; its exit status is tested
            code = 1
            try:
                parent_end.close()
                _close_fds(close_in_child)
                code = _child_main(child_end, config, stop, cancel)
            except BaseException as error:
                log_event(logger, logging.CRITICAL, "horse_crashed", pid=os.getpid(),
                          error=type(error).__name__, traceback=exception_for_log(error))
            finally:
                _flush_streams()
                os._exit(code)
        child_end.close()
        return cls(parent_end, pid, cancel)

    def send(self, message: ToHorse) -> int:
        """Send ``message``; returns its size in bytes."""
        return self.send_encoded(encode(message))

    def send_encoded(self, data: bytes) -> int:
        """Send a message already encoded (to know its size first)."""
        self.conn.send_bytes(data)
        return len(data)

    def recv(self) -> FromHorse:
        """The horse's next answer (:class:`ValueError` for anything else)."""
        message = decode(self.conn.recv_bytes())
        if not isinstance(message, (Result, Skipped, HookDone)):
            raise ValueError(f"a horse does not send {type(message).__name__}")
        return message

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def reap(self) -> tuple[int, Any]:
        """Wait for the process to end; return its wait status and rusage."""
        self.conn.close()
        try:
            _, status, rusage = os.wait4(self.pid, 0)
        except ChildProcessError:
            return 0, None
        return status, rusage


def stop_horses(horses: list[Horse], wait: float = 5.0) -> None:
    """Ask ``horses`` to exit, give them ``wait`` seconds in all, then kill and reap them."""
    for horse in horses:
        with contextlib.suppress(OSError):
            horse.send(Stop())
    deadline = time.monotonic() + wait
    for horse in horses:
        while time.monotonic() < deadline and os.waitpid(horse.pid, os.WNOHANG) == (0, 0):
            time.sleep(0.01)
        horse.kill()
        horse.reap()


def _close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    # os._exit() skips atexit, where Sentry sends what it still holds: events reported by
    # this horse's last jobs would be lost.
    sentry = sys.modules.get("sentry_sdk")
    if sentry is not None:
        with contextlib.suppress(Exception):
            sentry.flush(timeout=2.0)


def _detach_inherited_connections() -> None:
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None


def _die_with_parent() -> None:
    # If the supervisor is SIGKILLed its horses go too, instead of finishing orphaned jobs
    # whose results nobody would record.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)


def _prepare_child() -> None:
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    # Ctrl-C and a service manager's stop reach the whole process group; the supervisor
    # decides what happens to running jobs (it uses SIGKILL when a horse must go).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    _detach_inherited_connections()


def _child_main(
    conn: Connection, config: HorseConfig, stop: StopFlag, cancel: CancelFlag
) -> int:
    _prepare_child()
    return _Work(conn, config, stop, cancel).serve()


class _Work:
    """The horse's side: runs what arrives, in order, and answers each message."""

    def __init__(
        self, conn: Connection, config: HorseConfig, stop: StopFlag, cancel: CancelFlag
    ) -> None:
        self.conn, self.stop, self.cancel = conn, stop, cancel
        self.chain = build_chain(config.exception_handlers, config.disable_default)
        self.loop = asyncio.new_event_loop()
        self.max_jobs, self.max_kb = config.max_jobs, config.max_memory_mb * 1024
        self.memory = _OwnResidentMemory()
        # Failed jobs whose failed() hook waits for the supervisor to record the failure;
        # the horse runs other jobs meanwhile. The exception objects live here only.
        self.pending: dict[str, Pending] = {}
        self.done, self.recycle = 0, False

    def serve(self) -> int:
        # A horse due for recycling stays until its failed jobs' hooks have run.
        while not self.recycle or self.pending:
            try:
                message = decode(self.conn.recv_bytes())
            except EOFError:
                return 0
            if isinstance(message, Stop):
                return 0
            if isinstance(message, Run):
                self._run(message)
            elif isinstance(message, (Hook, SystemFailure)):
                close_old_connections()
                self._hook(message)
                self._send(HookDone(message.id))
            close_old_connections()
        return 0

    def _run(self, run: Run) -> None:
        if self.recycle:
            return  # the supervisor puts it back in line when it reads ``recycle``
        if self.stop.is_set():
            self._send(Skipped(run.id))
            return
        if run.start_by and time.monotonic() > run.start_by:
            self._send(Skipped(run.id, late=True))
            return
        close_old_connections()
        result, pending = run_attempt(run, self.chain, self.loop, self.cancel.holds)
        if pending is not None:
            self.pending[run.id] = pending
        self.done += 1
        failure = result.failure
        # A timed-out coroutine may leave the event loop unusable: start afresh.
        self.recycle = (
            self.done >= self.max_jobs or self.memory.kb() > self.max_kb
            or (failure is not None and failure.exception_class.endswith("JobTimeout"))
        )
        self._send(replace(result, recycle=True) if self.recycle else result)

    def _hook(self, message: Hook | SystemFailure) -> None:
        if isinstance(message, SystemFailure):
            run_system_failure(message, self.chain, self.loop)
            return
        pending = self.pending.pop(message.id, None) or stand_in(message)
        run_failed_hook(pending, message.failed_job, self.loop)

    def _send(self, message: FromHorse) -> None:
        self.conn.send_bytes(encode(message))
