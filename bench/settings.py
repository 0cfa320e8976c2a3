"""Settings for ``bench/admin_at_scale.py``: the test settings, with ``default`` (and so
``FAILED_DATABASE``, the admin's users and sessions) on a MariaDB database of its own.

The database is the test MariaDB from ``tests.support.servers`` (started on import of
``tests.settings``), not the ``jobqueue`` database the test suite uses, so a million rows
never slow the tests down and the suite never empties the bench table.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403  (the bench differs from the tests only below)
from tests.settings import JOBQUEUE, REDIS_URL, SERVERS

BENCH_DATABASE = os.environ.get("JQ_BENCH_DATABASE", "jobqueue_bench")
# Each statement of the bench has a deadline: a runaway query fails its page instead of
# hanging the run (MariaDB's max_statement_time, in seconds).
STATEMENT_DEADLINE_S = int(os.environ.get("JQ_BENCH_STATEMENT_DEADLINE", "60"))

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "HOST": SERVERS["MYSQL_HOST"],
        "PORT": SERVERS["MYSQL_PORT"],
        "USER": SERVERS["MYSQL_USER"],
        "PASSWORD": SERVERS["MYSQL_PASSWORD"],
        "NAME": BENCH_DATABASE,
        "OPTIONS": {
            "charset": "utf8mb4",
            "local_infile": 1,  # the fill loads rows with LOAD DATA LOCAL INFILE
            "init_command": f"SET SESSION max_statement_time = {STATEMENT_DEADLINE_S}",
        },
    },
}
DATABASE_ROUTERS: list[str] = []

_DB = "django_jobqueue.transports.database.DatabaseTransport"
# Only what a small production site has: the database transport and Redis. The test
# settings' other connections (PostgreSQL, the Redis cluster) would make the queues page
# measure servers the bench is not about.
JOBQUEUE = {
    **JOBQUEUE,
    "CONNECTIONS": {
        "default": {"TRANSPORT": _DB, "OPTIONS": {"DATABASE": "default"}},
        "redis": {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
                  "OPTIONS": {"URL": REDIS_URL}},
        "memory": {"TRANSPORT": "django_jobqueue.transports.memory.MemoryTransport"},
    },
    "FAILED_DATABASE": "default",
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
