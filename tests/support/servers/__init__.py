"""Real redis-server, MariaDB and PostgreSQL for the tests:
``python -m tests.support.servers start|stop|status``.

``tests/settings.py`` calls :func:`ensure_servers` on import, in pytest and in every worker
subprocess. The first caller does the work and publishes the result in ``JQ_TEST_SERVERS``,
which children inherit, so they return at once without touching network or disk. Each
server has a module of its own (``redis``, ``mariadb``, ``postgres``); the Redis Cluster
(``cluster``) and the chaos suite's killable servers (``chaos``) are started apart.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.support import REPO
from tests.support.servers import mariadb, postgres, redis
from tests.support.servers.process import locked, say

ENV_VAR = "JQ_TEST_SERVERS"


def state_dir() -> Path:
    """Where the servers keep their files: ``JQ_TEST_SERVER_DIR``, else ``.test-servers`` at
    the repository root."""
    return Path(os.environ.get("JQ_TEST_SERVER_DIR") or REPO / ".test-servers").resolve()


def facts() -> dict[str, str]:
    """How to reach the servers (from the ``JQ_*_PORT`` variables), started or not."""
    return {**redis.facts(), **mariadb.facts(state_dir() / "mariadb"), **postgres.facts()}


def status(known: dict[str, str]) -> dict[str, bool]:
    return {
        "redis_answers": redis.answers(int(known["REDIS_PORT"])),
        "mysql_answers": mariadb.answers(int(known["MYSQL_PORT"])),
        "pg_answers": postgres.answers(int(known["PG_PORT"])),
    }


def ensure_servers() -> dict[str, str]:
    """Start whatever is missing of redis-server, MariaDB and PostgreSQL; return how to reach
    them."""
    if cached := os.environ.get(ENV_VAR):
        return dict(json.loads(cached))
    known = facts()
    redis_port, mysql_port = int(known["REDIS_PORT"]), int(known["MYSQL_PORT"])
    pg_port = int(known["PG_PORT"])
    # A MariaDB or PostgreSQL of the other durability (JQ_MYSQL_DURABLE, JQ_PG_DURABLE) is
    # restarted by its start().
    wrong = mariadb.wrong_durability(mysql_port) or postgres.wrong_durability(pg_port)
    if not all(status(known).values()) or wrong:
        state = state_dir()
        with locked(state):
            # Check again under the lock: another process may just have started them.
            if not redis.answers(redis_port):
                since = time.monotonic()
                redis.start(redis_port, state / "redis")
                say(f"started redis-server on 127.0.0.1:{redis_port}", since)
            if not mariadb.answers(mysql_port) or mariadb.wrong_durability(mysql_port):
                since = time.monotonic()
                mariadb.start(mysql_port, state / "mariadb")
                say(f"started mariadbd on 127.0.0.1:{mysql_port}", since)
            if not postgres.answers(pg_port) or postgres.wrong_durability(pg_port):
                since = time.monotonic()
                postgres.start(pg_port, postgres.home_for(state))
                say(f"started postgres on 127.0.0.1:{pg_port}", since)
    os.environ[ENV_VAR] = json.dumps(known)
    return known


def stop_servers() -> None:
    """Stop the servers this module started; servers it merely reused are left alone."""
    os.environ.pop(ENV_VAR, None)
    state = state_dir()
    if not state.is_dir():
        return  # never started here (another line's directory, say): nothing to stop
    with locked(state):
        redis.stop(int(redis.facts()["REDIS_PORT"]), state / "redis")
        mariadb.stop(state / "mariadb")
        postgres.stop(postgres.home_for(state))
