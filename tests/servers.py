"""Real redis-server, MariaDB and PostgreSQL (``tests.servers_pg``) for the tests:
``python -m tests.servers start|stop|status``.

``tests/settings.py`` calls :func:`ensure_servers` on import, in pytest and in every worker
subprocess. The first caller does the work and publishes the result in ``JQ_TEST_SERVERS``,
which children inherit, so they return at once without touching network or disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from tests import servers_pg
from tests.servers_base import (
    binary,
    failure,
    locked,
    pid_alive,
    read_pid,
    say,
    stop_process,
    wait_for,
)

ENV_VAR = "JQ_TEST_SERVERS"
MYSQL_USER = MYSQL_PASSWORD = MYSQL_DATABASE = "jobqueue"
REDIS_DEADLINE, MYSQL_DEADLINE = 10.0, 60.0
_REPO = Path(__file__).resolve().parent.parent


def _state_dir() -> Path:
    return Path(os.environ.get("JQ_TEST_SERVER_DIR") or _REPO / ".test-servers").resolve()


def _facts() -> dict[str, str]:
    redis_port = os.environ.get("JQ_REDIS_PORT", "16379")
    return {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDIS_PORT": redis_port,
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": os.environ.get("JQ_MYSQL_PORT", "13306"),
        "MYSQL_USER": MYSQL_USER,
        "MYSQL_PASSWORD": MYSQL_PASSWORD,
        # Only meaningful when we started the server; a reused one has its own socket.
        "MYSQL_SOCKET": str(_state_dir() / "mariadb" / "mysqld.sock"),
        **servers_pg.facts(),
    }


def _redis_command(port: int, command: bytes) -> bytes:
    # Raw inline protocol, so starting and stopping need no redis client library.
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(command + b"\r\n")
        return sock.recv(64)


def _redis_answers(port: int) -> bool:
    try:
        return _redis_command(port, b"PING").startswith(b"+PONG")
    except OSError:
        return False


def _start_redis(port: int, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    log, pidfile = home / "redis.log", home / "redis.pid"
    pidfile.unlink(missing_ok=True)  # so a stale pid cannot pass the liveness check below
    args = [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--daemonize", "yes", "--dir", str(home), "--pidfile", str(pidfile)]
    args += ["--logfile", str(log), "--save", "", "--appendonly", "no"]
    done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise failure(f"redis-server failed: {done.stderr.decode(errors='replace')}", log)

    def alive() -> bool:
        pid = read_pid(pidfile)  # written a moment after the daemonising parent exits
        return pid is None or pid_alive(pid, "redis-server")

    wait_for(partial(_redis_answers, port), alive, REDIS_DEADLINE, "redis-server", log)


def _mysql_answers(**kwargs: Any) -> bool:
    import MySQLdb  # late: `stop` must work where mysqlclient is not installed

    try:
        MySQLdb.connect(connect_timeout=2, **kwargs).close()
    except MySQLdb.Error:
        return False
    return True


def _test_user_answers(port: int) -> bool:
    return _mysql_answers(host="127.0.0.1", port=port, user=MYSQL_USER, password=MYSQL_PASSWORD)


def _init_datadir(home: Path) -> None:
    marker, data, log = home / "initialised", home / "data", home / "install-db.log"
    if marker.exists():
        return
    shutil.rmtree(data, ignore_errors=True)  # leftovers of an interrupted earlier attempt
    data.mkdir(parents=True)
    args = [binary("mariadb-install-db"), "--no-defaults", "--user=root", f"--datadir={data}"]
    # "normal" gives root@localhost an empty password, so the bootstrap needs no sudo.
    args += ["--auth-root-authentication-method=normal", "--skip-test-db", "--skip-log-bin"]
    with log.open("wb") as out:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        raise failure("mariadb-install-db failed", log)
    marker.touch()


def _spawn_mariadbd(port: int, home: Path) -> int:
    args = [binary("mariadbd"), "--no-defaults", "--user=root", f"--datadir={home / 'data'}"]
    args += [f"--port={port}", "--bind-address=127.0.0.1", f"--socket={home / 'mysqld.sock'}"]
    args += [f"--pid-file={home / 'mariadbd.pid'}", "--max-connections=500"]
    # Durability is worthless for throwaway data; a fixed charset and IP-only grants keep
    # results independent of the host's defaults and DNS.
    args += ["--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0", "--skip-log-bin"]
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


def _bootstrap_mariadb(sock: Path) -> None:
    import MySQLdb

    conn = MySQLdb.connect(unix_socket=str(sock), user="root", connect_timeout=2)
    try:
        cursor = conn.cursor()
        # 'localhost' too, so socket logins are not captured by a more specific account.
        for host in ("%", "127.0.0.1", "localhost"):
            account = f"'{MYSQL_USER}'@'{host}'"
            # No query parameters: the '%' host would read as a format placeholder.
            cursor.execute(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{MYSQL_PASSWORD}'")
            cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION")
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{MYSQL_DATABASE}`")
    finally:
        conn.close()


def _start_mariadb(port: int, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    sock, log, pidfile = home / "mysqld.sock", home / "mariadbd.log", home / "mariadbd.pid"
    pid = read_pid(pidfile)
    # A live one is ours but unusable as the test user (an interrupted bootstrap, say);
    # a second mariadbd on the same datadir would only die on InnoDB's lock.
    if pid is None or not pid_alive(pid, "mariadbd"):
        pidfile.unlink(missing_ok=True)
        _init_datadir(home)
        pid = _spawn_mariadbd(port, home)
    root_answers = partial(_mysql_answers, unix_socket=str(sock), user="root")
    wait_for(root_answers, partial(pid_alive, pid, "mariadbd"), MYSQL_DEADLINE, "mariadbd", log)
    _bootstrap_mariadb(sock)
    if not _test_user_answers(port):
        raise failure(f"mariadbd runs but {MYSQL_USER} cannot log in on 127.0.0.1:{port}", log)


def ensure_servers() -> dict[str, str]:
    """Start whatever is missing of redis-server, MariaDB and PostgreSQL; return how to reach
    them."""
    if cached := os.environ.get(ENV_VAR):
        return dict(json.loads(cached))
    facts = _facts()
    redis_port, mysql_port = int(facts["REDIS_PORT"]), int(facts["MYSQL_PORT"])
    pg_port = int(facts["PG_PORT"])
    if not (
        _redis_answers(redis_port)
        and _test_user_answers(mysql_port)
        and servers_pg.answers(pg_port)
    ):
        state = _state_dir()
        with locked(state):
            # Check again under the lock: another process may just have started them.
            if not _redis_answers(redis_port):
                since = time.monotonic()
                _start_redis(redis_port, state / "redis")
                say(f"started redis-server on 127.0.0.1:{redis_port}", since)
            if not _test_user_answers(mysql_port):
                since = time.monotonic()
                _start_mariadb(mysql_port, state / "mariadb")
                say(f"started mariadbd on 127.0.0.1:{mysql_port}", since)
            if not servers_pg.answers(pg_port):
                since = time.monotonic()
                servers_pg.start(pg_port, servers_pg.home_for(state))
                say(f"started postgres on 127.0.0.1:{pg_port}", since)
    os.environ[ENV_VAR] = json.dumps(facts)
    return facts


def stop_servers() -> None:
    """Stop the servers this module started; servers it merely reused are left alone."""
    os.environ.pop(ENV_VAR, None)
    state, redis_port = _state_dir(), int(_facts()["REDIS_PORT"])

    def shutdown_redis(_pid: int) -> None:
        with contextlib.suppress(OSError):  # redis closes the connection instead of replying
            _redis_command(redis_port, b"SHUTDOWN NOSAVE")

    def terminate(pid: int) -> None:
        os.kill(pid, signal.SIGTERM)  # mariadbd's clean shutdown

    with locked(state):
        redis, maria = state / "redis", state / "mariadb"
        stop_process(redis / "redis.pid", "redis-server", shutdown_redis, redis / "redis.log")
        stop_process(maria / "mariadbd.pid", "mariadbd", terminate, maria / "mariadbd.log")
        servers_pg.stop(servers_pg.home_for(state))


def main(argv: list[str]) -> int:
    command, since = (argv[0] if len(argv) == 1 else ""), time.monotonic()
    if command == "start":
        os.environ.pop(ENV_VAR, None)  # one inherited from a shell would skip every check
        print(json.dumps(ensure_servers(), indent=2))
        say("ready", since)
    elif command == "stop":
        stop_servers()
        say("stopped", since)
    elif command == "status":
        facts = _facts()
        redis_up = _redis_answers(int(facts["REDIS_PORT"]))
        mysql_up = _test_user_answers(int(facts["MYSQL_PORT"]))
        pg_up = servers_pg.answers(int(facts["PG_PORT"]))
        answers = {"redis_answers": redis_up, "mysql_answers": mysql_up, "pg_answers": pg_up}
        print(json.dumps({**facts, **answers}, indent=2))
        return 0 if redis_up and mysql_up and pg_up else 1
    else:
        print("usage: python -m tests.servers start|stop|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
