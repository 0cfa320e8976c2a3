"""Process helpers shared by the test servers: find a binary, wait for a server, stop one by
its pidfile, hold the state directory's lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HINT = "run scripts/test, or apt-get install redis-server mariadb-server postgresql"
STOP_DEADLINE = 60.0

Probe = Callable[[], bool]


def failure(problem: str, log: Path) -> RuntimeError:
    return RuntimeError(f"{problem}; see {log}. If the server is not installed, {HINT}.")


def binary(name: str) -> str:
    # Non-root shells often lack the sbin directories where mariadbd lives.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    if found := shutil.which(name, path=path):
        return found
    raise RuntimeError(f"{name} not found on PATH; {HINT}.")


def read_pid(pidfile: Path) -> int | None:
    try:
        # PostgreSQL's postmaster.pid has more lines after the pid.
        return int(pidfile.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int, name: str) -> bool:
    # Reap it if it is our child. Orphans can linger as zombies too when a container's
    # PID 1 never reaps, hence the state check below.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    comm, _, rest = stat.partition("(")[2].rpartition(")")
    # Matching the name guards against a stale pidfile whose pid was recycled.
    return name.startswith(comm) and rest.split()[0] not in ("Z", "X")


def wait_for(ready: Probe, alive: Probe, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if not alive():
            raise failure(f"{what} exited before it answered", log)
        if time.monotonic() > deadline:
            raise failure(f"{what} did not answer within {seconds:.0f} s", log)
        time.sleep(0.05)


@contextlib.contextmanager
def locked(state: Path) -> Iterator[None]:
    state.mkdir(parents=True, exist_ok=True)
    with (state / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def stop_process(pidfile: Path, name: str, request: Callable[[int], object], log: Path) -> None:
    pid = read_pid(pidfile)
    if pid is None or not pid_alive(pid, name):
        return
    request(pid)
    deadline = time.monotonic() + STOP_DEADLINE
    while pid_alive(pid, name):
        if time.monotonic() > deadline:
            raise failure(f"{name} (pid {pid}) did not stop within {STOP_DEADLINE:.0f} s", log)
        time.sleep(0.05)


def say(what: str, since: float) -> None:
    print(f"tests.support.servers: {what} in {time.monotonic() - since:.2f} s", file=sys.stderr)
