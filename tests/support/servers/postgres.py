"""The real PostgreSQL server for the tests; ``tests.support.servers`` starts and stops it.

initdb and postgres refuse to run as root, so as root both run as the ``postgres`` system
user (made by Debian's package) through ``runuser``, in a directory it owns; otherwise they
run as the current user. The server listens on 127.0.0.1 only, with password logins and no
Unix socket (whose path could exceed the 107-byte limit in a deep checkout).

The tests' server trades durability for speed (``fsync``, ``synchronous_commit`` and
``full_page_writes`` off): their data is thrown away. ``JQ_PG_DURABLE=1`` starts it as
PostgreSQL ships (all three on), for the bench, which must measure what users run. Our
server running with the other durability is restarted; another's is refused.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from functools import partial
from pathlib import Path

from tests.support.servers.process import (
    HINT,
    binary,
    failure,
    pid_alive,
    read_pid,
    stop_process,
    wait_for,
)

PG_USER = PG_PASSWORD = PG_DATABASE = "jobqueue"
PG_SUPERUSER = "postgres"
SERVER_ACCOUNT = "postgres"  # the system user that runs the server when we are root
PG_DEADLINE = 30.0
DURABLE_VAR = "JQ_PG_DURABLE"
# Durability is worthless for throwaway data (unless JQ_PG_DURABLE). Deadlocks are looked for
# after 1 s by default, too slow for the deadlock tests, and only a superuser may change it.
_FAST = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
_SETTINGS = ["max_connections=200", "deadlock_timeout=100ms"]


def durable() -> bool:
    """Whether the server must run with PostgreSQL's shipped durability (``JQ_PG_DURABLE``)."""
    return os.environ.get(DURABLE_VAR, "") not in ("", "0")


def wrong_durability(port: int) -> bool:
    """Whether a server answers on ``port`` with the other durability than :func:`durable`
    asks for."""
    running = _running_fsync(port)
    return running is not None and running != durable()


def _running_fsync(port: int) -> bool | None:
    import psycopg

    try:
        with psycopg.connect(host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD,
                             dbname=PG_DATABASE, connect_timeout=2) as conn:
            row = conn.execute("SHOW fsync").fetchone()
    except psycopg.Error:
        return None
    return row is not None and row[0] == "on"


def facts() -> dict[str, str]:
    return {
        "PG_HOST": "127.0.0.1",
        "PG_PORT": os.environ.get("JQ_PG_PORT", "15432"),
        "PG_USER": PG_USER,
        "PG_PASSWORD": PG_PASSWORD,
    }


def _bindir() -> Path:
    def major(bindir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))

    # Debian keeps the server binaries off PATH, one directory per major version.
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    if found := shutil.which("initdb"):
        return Path(found).parent
    raise RuntimeError(f"PostgreSQL's initdb not found; {HINT}.")


def _as_server_user() -> list[str]:
    return [binary("runuser"), "-u", SERVER_ACCOUNT, "--"] if os.geteuid() == 0 else []


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_ACCOUNT)
        os.chown(path, account.pw_uid, account.pw_gid)


def _run_as_server_user(args: list[str], home: Path, log: Path, what: str) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [*_as_server_user(), *args],
            cwd=home, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False,
        )
    if done.returncode != 0:
        reach = f" (the {SERVER_ACCOUNT} user must be able to write {home})" if (
            os.geteuid() == 0
        ) else ""
        raise failure(f"{what} failed{reach}", log)


def answers(port: int, user: str = PG_USER, dbname: str = PG_DATABASE) -> bool:
    import psycopg  # late: `stop` must work where psycopg is not installed

    try:
        psycopg.connect(
            host="127.0.0.1", port=port, user=user, password=PG_PASSWORD, dbname=dbname,
            connect_timeout=2,
        ).close()
    except psycopg.Error:
        return False
    return True


def _init_cluster(home: Path) -> None:
    marker, data, log = home / "initialised", home / "data", home / "initdb.log"
    if marker.exists():
        return
    shutil.rmtree(data, ignore_errors=True)  # leftovers of an interrupted earlier attempt
    pwfile = home / "superuser-password"
    pwfile.write_text(PG_PASSWORD)
    _give_to_server_user(pwfile)
    args = [str(_bindir() / "initdb"), "-D", str(data), "-U", PG_SUPERUSER]
    args += [f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"]
    args += ["--no-sync"]
    try:
        _run_as_server_user(args, home, log, "initdb")
    finally:
        pwfile.unlink(missing_ok=True)
    marker.touch()


def _spawn_postgres(port: int, home: Path) -> None:
    options = ["-p", str(port), "-h", "127.0.0.1", "-k", ""]
    for setting in [*_SETTINGS, *([] if durable() else _FAST)]:
        options += ["-c", setting]
    # pg_ctl daemonises the server in a session of its own, away from pytest's Ctrl-C, and
    # with -w waits for it to accept connections, failing early if it dies first.
    args = [str(_bindir() / "pg_ctl"), "start", "-w", "-t", f"{PG_DEADLINE:.0f}"]
    args += ["-D", str(home / "data")]
    args += ["-l", str(home / "postgres.log"), "-o", shlex.join(options)]
    _run_as_server_user(args, home, home / "pg_ctl.log", "pg_ctl start")


def _bootstrap(port: int) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host="127.0.0.1", port=port, user=PG_SUPERUSER, password=PG_PASSWORD,
        dbname="postgres", autocommit=True,  # CREATE DATABASE refuses to run in a transaction
    ) as conn:
        user, password = sql.Identifier(PG_USER), sql.Literal(PG_PASSWORD)
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [PG_USER]).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(user, password))
        # pytest-django creates and drops the test databases as this user.
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN CREATEDB PASSWORD {}").format(user, password))
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if not conn.execute(query, [PG_DATABASE]).fetchone():
            database = sql.Identifier(PG_DATABASE)
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, user))


def home_for(state: Path) -> Path:
    """Where the server's files live: under ``state`` when the server user can reach it.

    As root the server runs as ``postgres``, which cannot enter a checkout under a private
    directory such as ``/root`` (mode 700); the files then go to a directory in the temp dir
    named after the state dir, so every checkout still gets its own server.
    """
    home = state / "postgres"
    if os.geteuid() != 0 or _server_user_can_enter(state):
        return home
    digest = hashlib.sha1(str(state).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"jobqueue-test-postgres-{digest}"


def _server_user_can_enter(path: Path) -> bool:
    probe = [*_as_server_user(), "test", "-x", str(path)]
    return subprocess.run(probe, stdin=subprocess.DEVNULL, capture_output=True,
                          check=False).returncode == 0


def start(port: int, home: Path) -> None:
    """Initialise the cluster once, start the server unless it runs, create the test user."""
    home.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(home)
    pidfile, log = home / "data" / "postmaster.pid", home / "postgres.log"
    if wrong_durability(port):
        if not _running(pidfile):
            wanted = "durable" if durable() else "fast (fsync off)"
            raise RuntimeError(
                f"A PostgreSQL on 127.0.0.1:{port} runs with another durability than the one"
                f" wanted, {wanted} ({DURABLE_VAR}), and was not started from {home}: stop it"
                " or choose another JQ_PG_PORT.")
        stop(home)
    # A live one is ours but unusable as the test user (an interrupted bootstrap, say).
    if not _running(pidfile):
        _init_cluster(home)
        _spawn_postgres(port, home)
    superuser_answers = partial(answers, port, PG_SUPERUSER, "postgres")
    wait_for(superuser_answers, partial(_running, pidfile), PG_DEADLINE, "postgres", log)
    _bootstrap(port)
    if not answers(port):
        raise failure(f"postgres runs but {PG_USER} cannot log in on 127.0.0.1:{port}", log)


def _running(pidfile: Path) -> bool:
    pid = read_pid(pidfile)
    return pid is not None and pid_alive(pid, "postgres")


def stop(home: Path) -> None:
    def fast_shutdown(pid: int) -> None:
        os.kill(pid, signal.SIGINT)  # SIGTERM would wait for every client to disconnect

    stop_process(home / "data" / "postmaster.pid", "postgres", fast_shutdown,
                 home / "postgres.log")
