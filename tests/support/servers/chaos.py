"""Dedicated servers for the scenarios that take a server down: a MariaDB and a redis-server
of their own, never the shared test servers.

Ports: ``JQ_CHAOS_PORT_BASE`` (MariaDB on it, Redis on it + 1), by default the shared Redis
port + 2000 (18379 with the default ports, so a CI run on the defaults and a developer's run
on other ports do not collide). Data lives under ``.test-servers/chaos-<port>``. Every start
and stop waits on a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.servers import mariadb, redis, state_dir
from tests.support.servers.process import binary, pid_alive, wait_for

DEADLINE = 60.0


def base_port() -> int:
    default = int(os.environ.get("JQ_REDIS_PORT", "16379")) + 2000
    return int(os.environ.get("JQ_CHAOS_PORT_BASE", default))


def _home(kind: str, port: int) -> Path:
    return state_dir() / f"chaos-{kind}-{port}"


class MariaDB:
    """A mariadbd that a scenario may kill and start again (its datadir survives)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or base_port()
        self.home = _home("mariadb", self.port)
        self.pid: int | None = None

    def answers(self) -> bool:
        return mariadb.answers(self.port)

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        mariadb.init_datadir(self.home)
        self.pid = mariadb.spawn(self.port, self.home)
        root = lambda: mariadb.connects(unix_socket=str(self.home / "mysqld.sock"),  # noqa: E731
                                        user="root")
        wait_for(root, lambda: pid_alive(self.pid, "mariadbd"), DEADLINE, "chaos mariadbd",
                 self.home / "mariadbd.log")
        mariadb.bootstrap(self.home / "mysqld.sock")
        self.sql("CREATE DATABASE IF NOT EXISTS chaos CHARACTER SET utf8mb4")

    def kill(self) -> None:
        """SIGKILL: the database is down at once, as in a crash."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            deadline = time.monotonic() + DEADLINE
            while pid_alive(self.pid, "mariadbd"):
                assert time.monotonic() < deadline, "chaos mariadbd did not die"
                time.sleep(0.05)
            self.pid = None

    stop = kill

    def sql(self, statement: str, database: str = "") -> list[tuple]:
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=self.port, user="jobqueue",
                               passwd="jobqueue", db=database, connect_timeout=2)
        try:
            cursor = conn.cursor()
            cursor.execute(statement)
            rows = list(cursor.fetchall())
            conn.commit()
            return rows
        finally:
            conn.close()


class Redis:
    """A redis-server with AOF (``appendfsync always``) that a scenario may kill and restart."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or base_port() + 1
        self.home = _home("redis", self.port)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, fresh: bool = False) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        if fresh:
            for path in self.home.glob("*"):
                if path.is_file():
                    path.unlink()
                elif path.is_dir():
                    for inner in path.glob("*"):
                        inner.unlink()
        args = [binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.home), "--save", "", "--appendonly", "yes",
                "--appendfsync", "always", "--logfile", str(self.home / "redis.log")]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: redis.answers(self.port), lambda: self.proc.poll() is None,
                 DEADLINE, "chaos redis-server", self.home / "redis.log")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(DEADLINE)
        self.proc = None

    stop = kill

    def _stop_leftover(self) -> None:
        # A server an earlier run left on this port (a test killed mid-way, the other
        # Django line in the same checkout) would answer in place of ours: the port is the
        # chaos suite's own, so it is stopped.
        if self.proc is not None or not redis.answers(self.port):
            return
        with contextlib.suppress(OSError):
            redis.command(self.port, b"SHUTDOWN NOSAVE")
        deadline = time.monotonic() + DEADLINE
        while redis.answers(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"a redis-server on port {self.port} will not stop")
            time.sleep(0.05)
