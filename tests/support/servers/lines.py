"""Servers of their own for each Django line that ``scripts/test`` runs at the same time, so
two suites never share a database, a Redis keyspace, a Redis Cluster or a chaos server.

The first line (5.2) takes the ports and the server directory the ``JQ_*`` variables name,
or their defaults, as a run without lines does. Every later line takes the same ports plus
``OFFSET`` per line (``JQ_LINE_PORT_OFFSET`` overrides it) and the directory
``<server dir>/django-<line>``; ``JQ_DJ<line>_<NAME>`` sets one of its values outright, for
instance ``JQ_DJ6_CHAOS_PORT_BASE=32500`` for ``JQ_CHAOS_PORT_BASE`` on line 6.

Each server takes a few ports: Redis Cluster three (and their bus ports, + 10000), the chaos
servers three. 50 apart, no line's ports meet another's.
"""

from __future__ import annotations

import os

from tests.support.servers import chaos, cluster, mariadb, postgres, redis, state_dir

LINES = ("5.2", "6")
OFFSET = 50
OFFSET_VAR = "JQ_LINE_PORT_OFFSET"
PORT_VARS = ("JQ_REDIS_PORT", "JQ_MYSQL_PORT", "JQ_PG_PORT", "JQ_REDIS_CLUSTER_PORT",
             "JQ_CHAOS_PORT_BASE")
DIR_VAR = "JQ_TEST_SERVER_DIR"


def first_line() -> dict[str, str]:
    """The ports and server directory of the first line: the environment's, or the defaults."""
    return {
        "JQ_REDIS_PORT": redis.facts()["REDIS_PORT"],
        "JQ_MYSQL_PORT": mariadb.facts(state_dir() / "mariadb")["MYSQL_PORT"],
        "JQ_PG_PORT": postgres.facts()["PG_PORT"],
        "JQ_REDIS_CLUSTER_PORT": str(cluster.base_port()),
        "JQ_CHAOS_PORT_BASE": str(chaos.base_port()),
        DIR_VAR: str(state_dir()),
    }


def environment(line: str) -> dict[str, str]:
    """The ``JQ_*`` variables that point a test run on ``line`` at that line's servers."""
    if line not in LINES:
        raise ValueError(f"unknown Django line {line!r} (known: {', '.join(LINES)})")
    values = first_line()
    index = LINES.index(line)
    if index == 0:
        return values
    offset = int(os.environ.get(OFFSET_VAR) or OFFSET) * index
    values = {name: str(int(values[name]) + offset) for name in PORT_VARS} | {
        DIR_VAR: os.path.join(values[DIR_VAR], f"django-{line}")}
    prefix = f"JQ_DJ{line.replace('.', '')}_"
    return {name: os.environ.get(prefix + name[3:]) or value for name, value in values.items()}
