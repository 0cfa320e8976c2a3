"""Real redis-server and MariaDB for the tests: ``python -m tests.servers start|stop|status``.

``tests/settings.py`` calls :func:`ensure_servers` on import, in pytest and in every worker
subprocess. The first caller does the work and publishes the result in ``JQ_TEST_SERVERS``,
which children inherit, so they return at once without touching network or disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

ENV_VAR = "JQ_TEST_SERVERS"
MYSQL_USER = MYSQL_PASSWORD = MYSQL_DATABASE = "jobqueue"
REDIS_DEADLINE, MYSQL_DEADLINE, STOP_DEADLINE = 10.0, 60.0, 60.0
HINT = "run scripts/test, or apt-get install redis-server mariadb-server"

Probe = Callable[[], bool]
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
    }


def _failure(problem: str, log: Path) -> RuntimeError:
    return RuntimeError(f"{problem}; see {log}. If the server is not installed, {HINT}.")


def _binary(name: str) -> str:
    # Non-root shells often lack the sbin directories where mariadbd lives.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    if found := shutil.which(name, path=path):
        return found
    raise RuntimeError(f"{name} not found on PATH; {HINT}.")


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int, name: str) -> bool:
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


def _wait_for(ready: Probe, alive: Probe, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if not alive():
            raise _failure(f"{what} exited before it answered", log)
        if time.monotonic() > deadline:
            raise _failure(f"{what} did not answer within {seconds:.0f} s", log)
        time.sleep(0.05)


@contextlib.contextmanager
def _locked(state: Path) -> Iterator[None]:
    state.mkdir(parents=True, exist_ok=True)
    with (state / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


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
    args = [_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--daemonize", "yes", "--dir", str(home), "--pidfile", str(pidfile)]
    args += ["--logfile", str(log), "--save", "", "--appendonly", "no"]
    done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise _failure(f"redis-server failed: {done.stderr.decode(errors='replace')}", log)

    def alive() -> bool:
        pid = _read_pid(pidfile)  # written a moment after the daemonising parent exits
        return pid is None or _pid_alive(pid, "redis-server")

    _wait_for(partial(_redis_answers, port), alive, REDIS_DEADLINE, "redis-server", log)


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
    args = [_binary("mariadb-install-db"), "--no-defaults", "--user=root", f"--datadir={data}"]
    # "normal" gives root@localhost an empty password, so the bootstrap needs no sudo.
    args += ["--auth-root-authentication-method=normal", "--skip-test-db", "--skip-log-bin"]
    with log.open("wb") as out:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        raise _failure("mariadb-install-db failed", log)
    marker.touch()


def _spawn_mariadbd(port: int, home: Path) -> int:
    args = [_binary("mariadbd"), "--no-defaults", "--user=root", f"--datadir={home / 'data'}"]
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
    pid = _read_pid(pidfile)
    # A live one is ours but unusable as the test user (an interrupted bootstrap, say);
    # a second mariadbd on the same datadir would only die on InnoDB's lock.
    if pid is None or not _pid_alive(pid, "mariadbd"):
        pidfile.unlink(missing_ok=True)
        _init_datadir(home)
        pid = _spawn_mariadbd(port, home)
    root_answers = partial(_mysql_answers, unix_socket=str(sock), user="root")
    _wait_for(root_answers, partial(_pid_alive, pid, "mariadbd"), MYSQL_DEADLINE, "mariadbd", log)
    _bootstrap_mariadb(sock)
    if not _test_user_answers(port):
        raise _failure(f"mariadbd runs but {MYSQL_USER} cannot log in on 127.0.0.1:{port}", log)


def _say(what: str, since: float) -> None:
    print(f"tests.servers: {what} in {time.monotonic() - since:.2f} s", file=sys.stderr)


def ensure_servers() -> dict[str, str]:
    """Start whatever is missing of redis-server and MariaDB; return how to reach them."""
    if cached := os.environ.get(ENV_VAR):
        return dict(json.loads(cached))
    facts = _facts()
    redis_port, mysql_port = int(facts["REDIS_PORT"]), int(facts["MYSQL_PORT"])
    if not (_redis_answers(redis_port) and _test_user_answers(mysql_port)):
        state = _state_dir()
        with _locked(state):
            # Check again under the lock: another process may just have started them.
            if not _redis_answers(redis_port):
                since = time.monotonic()
                _start_redis(redis_port, state / "redis")
                _say(f"started redis-server on 127.0.0.1:{redis_port}", since)
            if not _test_user_answers(mysql_port):
                since = time.monotonic()
                _start_mariadb(mysql_port, state / "mariadb")
                _say(f"started mariadbd on 127.0.0.1:{mysql_port}", since)
    os.environ[ENV_VAR] = json.dumps(facts)
    return facts


def _stop(pidfile: Path, name: str, request: Callable[[int], object], log: Path) -> None:
    pid = _read_pid(pidfile)
    if pid is None or not _pid_alive(pid, name):
        return
    request(pid)
    deadline = time.monotonic() + STOP_DEADLINE
    while _pid_alive(pid, name):
        if time.monotonic() > deadline:
            raise _failure(f"{name} (pid {pid}) did not stop within {STOP_DEADLINE:.0f} s", log)
        time.sleep(0.05)


def stop_servers() -> None:
    """Stop the servers this module started; servers it merely reused are left alone."""
    os.environ.pop(ENV_VAR, None)
    state, redis_port = _state_dir(), int(_facts()["REDIS_PORT"])

    def shutdown_redis(_pid: int) -> None:
        with contextlib.suppress(OSError):  # redis closes the connection instead of replying
            _redis_command(redis_port, b"SHUTDOWN NOSAVE")

    def terminate(pid: int) -> None:
        os.kill(pid, signal.SIGTERM)  # mariadbd's clean shutdown

    with _locked(state):
        redis, maria = state / "redis", state / "mariadb"
        _stop(redis / "redis.pid", "redis-server", shutdown_redis, redis / "redis.log")
        _stop(maria / "mariadbd.pid", "mariadbd", terminate, maria / "mariadbd.log")


def main(argv: list[str]) -> int:
    command, since = (argv[0] if len(argv) == 1 else ""), time.monotonic()
    if command == "start":
        os.environ.pop(ENV_VAR, None)  # one inherited from a shell would skip every check
        print(json.dumps(ensure_servers(), indent=2))
        _say("ready", since)
    elif command == "stop":
        stop_servers()
        _say("stopped", since)
    elif command == "status":
        facts = _facts()
        redis_up = _redis_answers(int(facts["REDIS_PORT"]))
        mysql_up = _test_user_answers(int(facts["MYSQL_PORT"]))
        print(json.dumps({**facts, "redis_answers": redis_up, "mysql_answers": mysql_up}, indent=2))
        return 0 if redis_up and mysql_up else 1
    else:
        print("usage: python -m tests.servers start|stop|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
