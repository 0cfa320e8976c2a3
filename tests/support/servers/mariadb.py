"""The shared MariaDB of the tests (``tests.support.servers`` starts and stops it); the chaos
suite's own MariaDB (``tests.support.servers.chaos``) is made with the same steps.

The tests' server trades durability for speed (``innodb_flush_log_at_trx_commit=2``, no
doublewrite buffer): their data is thrown away. ``JQ_MYSQL_DURABLE=1`` starts it as MariaDB
ships instead (flush at every commit, doublewrite on); ``bench/run.py`` sets it, since a
bench must measure what users run. A server already on the port with the other durability
is restarted when it is ours (its pid file is in ``home``) and refused otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

from tests.support.servers import process

USER = PASSWORD = DATABASE = "jobqueue"
DEADLINE = 60.0
DURABLE_VAR = "JQ_MYSQL_DURABLE"


def durable() -> bool:
    """Whether the server must run with MariaDB's shipped durability (``JQ_MYSQL_DURABLE``)."""
    return os.environ.get(DURABLE_VAR, "") not in ("", "0")


def durability_args(want_durable: bool) -> list[str]:
    if want_durable:
        return ["--innodb-flush-log-at-trx-commit=1", "--innodb-doublewrite=1"]
    # Durability is worthless for throwaway data.
    return ["--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0"]


def running_settings(port: int) -> tuple[int, str] | None:
    """``@@innodb_flush_log_at_trx_commit`` and ``@@pid_file`` of the server on ``port``
    (None: no answer)."""
    import MySQLdb

    try:
        conn = MySQLdb.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                               connect_timeout=2)
    except MySQLdb.Error:
        return None
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT @@innodb_flush_log_at_trx_commit, @@pid_file")
        flush, pid_file = cursor.fetchone()
        return int(flush), str(pid_file)
    finally:
        conn.close()


def wrong_durability(port: int) -> bool:
    """Whether a server answers on ``port`` with the other durability than :func:`durable`
    asks for (the bench must not measure the tests' fast, unsafe server, nor the reverse)."""
    running = running_settings(port)
    return running is not None and (running[0] == 1) != durable()


def facts(home: Path) -> dict[str, str]:
    return {
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": os.environ.get("JQ_MYSQL_PORT", "13306"),
        "MYSQL_USER": USER,
        "MYSQL_PASSWORD": PASSWORD,
        # Only meaningful when we started the server; a reused one has its own socket.
        "MYSQL_SOCKET": str(home / "mysqld.sock"),
    }


def connects(**kwargs: Any) -> bool:
    """Whether ``MySQLdb.connect(**kwargs)`` succeeds."""
    import MySQLdb  # late: `stop` must work where mysqlclient is not installed

    try:
        MySQLdb.connect(connect_timeout=2, **kwargs).close()
    except MySQLdb.Error:
        return False
    return True


def answers(port: int) -> bool:
    """Whether the test user can log in on 127.0.0.1:``port``."""
    return connects(host="127.0.0.1", port=port, user=USER, password=PASSWORD)


def init_datadir(home: Path) -> None:
    marker, data, log = home / "initialised", home / "data", home / "install-db.log"
    if marker.exists():
        return
    shutil.rmtree(data, ignore_errors=True)  # leftovers of an interrupted earlier attempt
    data.mkdir(parents=True)
    args = [process.binary("mariadb-install-db"), "--no-defaults", "--user=root"]
    args += [f"--datadir={data}"]
    # "normal" gives root@localhost an empty password, so the bootstrap needs no sudo.
    args += ["--auth-root-authentication-method=normal", "--skip-test-db", "--skip-log-bin"]
    with log.open("wb") as out:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        raise process.failure("mariadb-install-db failed", log)
    marker.touch()


def spawn(port: int, home: Path) -> int:
    """Start mariadbd on the datadir in ``home``; return its pid."""
    args = [process.binary("mariadbd"), "--no-defaults", "--user=root"]
    args += [f"--datadir={home / 'data'}"]
    args += [f"--port={port}", "--bind-address=127.0.0.1", f"--socket={home / 'mysqld.sock'}"]
    args += [f"--pid-file={home / 'mariadbd.pid'}", "--max-connections=500"]
    # A fixed charset and IP-only grants keep results independent of the host's defaults
    # and DNS.
    args += [*durability_args(durable()), "--skip-log-bin"]
    args += ["--innodb-buffer-pool-size=128M", "--skip-name-resolve"]
    args += ["--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci"]
    with (home / "mariadbd.log").open("ab") as out:
        # A new session keeps it alive after pytest exits and away from pytest's Ctrl-C.
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    # Popen warns (ResourceWarning) when collected while its child runs; the server is
    # meant to outlive us and is tracked by pid from here on, so mark the handle settled.
    proc.returncode = 0
    return proc.pid


def bootstrap(sock: Path) -> None:
    """Create the test user and database as root over the Unix socket ``sock``."""
    import MySQLdb

    conn = MySQLdb.connect(unix_socket=str(sock), user="root", connect_timeout=2)
    try:
        cursor = conn.cursor()
        # 'localhost' too, so socket logins are not captured by a more specific account.
        for host in ("%", "127.0.0.1", "localhost"):
            account = f"'{USER}'@'{host}'"
            # No query parameters: the '%' host would read as a format placeholder.
            cursor.execute(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{PASSWORD}'")
            cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION")
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
    finally:
        conn.close()


def start(port: int, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    sock, log, pidfile = home / "mysqld.sock", home / "mariadbd.log", home / "mariadbd.pid"
    pid = process.read_pid(pidfile)
    if wrong_durability(port):
        _restart_for_durability(port, home)  # stops ours, refuses another's
        pid = None
    # A live one is ours but unusable as the test user (an interrupted bootstrap, say);
    # a second mariadbd on the same datadir would only die on InnoDB's lock.
    if pid is None or not process.pid_alive(pid, "mariadbd"):
        pidfile.unlink(missing_ok=True)
        init_datadir(home)
        pid = spawn(port, home)
    root_answers = partial(connects, unix_socket=str(sock), user="root")
    alive = partial(process.pid_alive, pid, "mariadbd")
    process.wait_for(root_answers, alive, DEADLINE, "mariadbd", log)
    bootstrap(sock)
    if not answers(port):
        raise process.failure(f"mariadbd runs but {USER} cannot log in on 127.0.0.1:{port}", log)


def _restart_for_durability(port: int, home: Path) -> None:
    """Stop our server that runs with the wrong durability, so it starts again with the
    right one; refuse one that is not ours (its pid file is not the one in ``home``)."""
    running = running_settings(port)
    if running is not None and Path(running[1]).resolve() != (home / "mariadbd.pid").resolve():
        wanted = "durable (flush at commit 1)" if durable() else "fast (flush at commit 2)"
        raise RuntimeError(
            f"A MariaDB on 127.0.0.1:{port} runs with another durability than the one"
            f" wanted, {wanted} ({DURABLE_VAR}), and was not started from {home}: stop it"
            " or choose another JQ_MYSQL_PORT.")
    stop(home)


def stop(home: Path) -> None:
    def terminate(pid: int) -> None:
        os.kill(pid, signal.SIGTERM)  # mariadbd's clean shutdown

    process.stop_process(home / "mariadbd.pid", "mariadbd", terminate, home / "mariadbd.log")
