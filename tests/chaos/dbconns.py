"""The MariaDB sessions of given processes, found and KILLed from an admin connection.

A session is matched to a process through its TCP port: ``information_schema.PROCESSLIST``
gives each session's client ``host:port``; ``/proc/<pid>/fd`` and ``/proc/net/tcp[6]`` give
the local ports of a process's sockets. Only the sessions of the given processes are
killed, never another test's (the test process's own sessions included).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Any


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    return inodes


def local_ports(pids: Iterable[int]) -> set[int]:
    """Local TCP ports of the sockets the processes ``pids`` hold open."""
    inodes = set().union(*(_socket_inodes(pid) for pid in pids))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Admin:
    """An admin connection to a MariaDB that lists and kills other sessions."""

    def __init__(self, **params: Any) -> None:
        import MySQLdb

        self.conn = MySQLdb.connect(connect_timeout=5, autocommit=True, **params)

    def sessions_of(self, pids: Iterable[int]) -> list[int]:
        ports = local_ports(pids)
        cursor = self.conn.cursor()
        cursor.execute("SELECT ID, HOST FROM information_schema.PROCESSLIST "
                       "WHERE ID <> CONNECTION_ID()")
        found = []
        for session, host in cursor.fetchall():
            port = (host or "").rpartition(":")[2]
            if port.isdigit() and int(port) in ports:
                found.append(int(session))
        return found

    def kill(self, sessions: Iterable[int]) -> int:
        """KILL each session (a session gone meanwhile is skipped); how many were killed."""
        import MySQLdb

        killed = 0
        cursor = self.conn.cursor()
        for session in sessions:
            try:
                cursor.execute(f"KILL CONNECTION {int(session)}")
                killed += 1
            except MySQLdb.OperationalError as exc:
                if exc.args[0] != 1094:  # unknown thread: it ended on its own
                    raise
        return killed

    def close(self) -> None:
        self.conn.close()
