"""Process trees, peak RSS from /proc, and the watched, deadline-bounded worker run.

Stdlib only: ``bench/driver.py`` uses it from our virtualenv and from the peers'.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree(roots: Sequence[int]) -> list[int]:
    """The pids of ``roots`` and all their descendants that are alive now."""
    children, found, todo = _children_map(), [], list(roots)
    while todo:
        pid = todo.pop()
        if os.path.exists(f"/proc/{pid}"):
            found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def rss_kb(pids: Sequence[int]) -> int:
    """Resident memory of ``pids`` added up (shared pages count once per process, as
    ``ps`` and most dashboards count them)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue  # gone between the scan and the read
    return total


def kill_tree(roots: Sequence[int], grace: float = 3.0) -> None:
    """SIGTERM the trees, then SIGKILL whatever still lives after ``grace`` seconds."""
    pids = tree(roots)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        end = time.monotonic() + grace
        while time.monotonic() < end:
            pids = [p for p in tree(roots) + pids if _alive(p)]
            if not pids:
                return
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


@dataclass
class Outcome:
    """One watched run: ``jobs`` of ``wanted`` completed in ``seconds`` (first attempt
    started to the last completion), the worker tree's peak RSS, and whether the deadline
    cut it short."""

    wanted: int
    jobs: int
    seconds: float
    rate: float
    peak_rss_kb: int
    timeout: bool
    startup_s: float
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def launch(commands: Sequence[Sequence[str]], env: dict[str, str],
           log: Path) -> list[subprocess.Popen]:
    """Start the worker processes, their output appended to ``log``."""
    with open(log, "ab") as out:
        return [subprocess.Popen(list(cmd), env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL) for cmd in commands]


def stop(procs: Sequence[subprocess.Popen]) -> None:
    kill_tree([p.pid for p in procs])
    for p in procs:
        p.wait()


def watch(
    commands: Sequence[Sequence[str]],
    *,
    env: dict[str, str],
    wanted: int,
    started: Callable[[], int],
    completed: Callable[[], int],
    deadline: float,
    log: Path,
    poll: float = 0.002,
    gate_at: int | None = None,
) -> Outcome:
    """Start the worker processes, wait until ``completed()`` reaches ``wanted`` or the
    deadline passes, and stop them.

    The clock starts when ``started()`` first moves (the first attempt began), so process
    start-up and imports are not counted for any system; it stops when the count is seen
    to reach ``wanted``. ``completed`` may be a query (a failed store's count): with
    ``gate_at`` it is asked only once ``started()`` has reached that many, so the watcher
    does not load the store it measures while the work is still far from done.
    """
    launched = time.monotonic()
    procs = launch(commands, env, log)
    roots = [p.pid for p in procs]
    peak, began, done, error = 0, None, 0, ""
    next_sample = 0.0
    try:
        end = launched + deadline
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_sample:
                peak = max(peak, rss_kb(tree(roots)))
                next_sample = now + 0.1
            if began is None:
                if started() > 0:
                    began = time.monotonic()
                elif any(p.poll() is not None for p in procs):
                    error = f"a worker exited with {[p.poll() for p in procs]} (see {log})"
                    break
            if began is not None and (gate_at is None or started() >= gate_at):
                done = completed()
                if done >= wanted:
                    break
            time.sleep(poll)
        finished = time.monotonic()
        peak = max(peak, rss_kb(tree(roots)))
        if began is not None and done < wanted:
            done = completed()  # a gated count may not have been asked yet
    finally:
        stop(procs)
    seconds = finished - began if began is not None else 0.0
    return Outcome(
        wanted=wanted, jobs=done, seconds=round(seconds, 4),
        rate=round(done / seconds, 1) if seconds > 0 else 0.0, peak_rss_kb=peak,
        timeout=done < wanted and not error,
        startup_s=round((began or finished) - launched, 3), error=error,
    )


def create_mariadb_database(servers: dict[str, str], name: str) -> None:
    """Database ``name`` on the MariaDB of ``servers`` (``tests.support.servers``' facts)."""
    import MySQLdb

    conn = MySQLdb.connect(host=servers["MYSQL_HOST"], port=int(servers["MYSQL_PORT"]),
                           user=servers["MYSQL_USER"], password=servers["MYSQL_PASSWORD"])
    try:
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}`"
                              " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()


def create_pg_database(servers: dict[str, str], name: str) -> None:
    """Database ``name`` on the PostgreSQL of ``servers``."""
    import psycopg

    # CREATE DATABASE refuses to run in a transaction, and has no IF NOT EXISTS.
    with psycopg.connect(host=servers["PG_HOST"], port=int(servers["PG_PORT"]),
                         user=servers["PG_USER"], password=servers["PG_PASSWORD"],
                         dbname="postgres", autocommit=True) as pg:
        if not pg.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            pg.execute(f'CREATE DATABASE "{name}"')
