"""Settings for our side of the peer bench (``bench/ours.py`` and the workers it starts).

Production defaults everywhere (``JOBQUEUE`` sets only connections and the failed store),
on the servers of ``tests.support.servers``:

- ``redis``: the Redis transport;
- ``mariadb``: the database transport on MariaDB database ``jobqueue_peers`` (its own, so
  neither the test suite nor ``bench/admin_at_scale.py``'s million rows are touched);
- ``sqlite``: the database transport on a SQLite file in WAL mode, as the tests run it.

Failures go to ``queue_failed_jobs`` on that MariaDB database (``FAILED_DATABASE``), whatever
the transport: the failure path is measured with the Redis transport.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.servers import ensure_servers

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("JQ_TEST_SERVER_DIR") or REPO / ".test-servers") / "bench"
STATE.mkdir(parents=True, exist_ok=True)
SERVERS = ensure_servers()
MARIADB_NAME = os.environ.get("JQ_BENCH_PEERS_DATABASE", "jobqueue_peers")

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_jobqueue",
    "bench",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(STATE / "ours.sqlite3"),
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    },
    "mariadb": {
        "ENGINE": "django.db.backends.mysql",
        "HOST": SERVERS["MYSQL_HOST"],
        "PORT": SERVERS["MYSQL_PORT"],
        "USER": SERVERS["MYSQL_USER"],
        "PASSWORD": SERVERS["MYSQL_PASSWORD"],
        "NAME": MARIADB_NAME,
        "OPTIONS": {"charset": "utf8mb4"},
    },
}
_DB = "django_jobqueue.transports.database.DatabaseTransport"
JOBQUEUE = {
    "CONNECTIONS": {
        "redis": {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
                  "OPTIONS": {"URL": SERVERS["REDIS_URL"]}},
        "mariadb": {"TRANSPORT": _DB, "OPTIONS": {"DATABASE": "mariadb"}},
        "sqlite": {"TRANSPORT": _DB, "OPTIONS": {"DATABASE": "default"}},
    },
    "DEFAULT_CONNECTION": "redis",
    "FAILED_DATABASE": "mariadb",
    "REDIS_PREFIX": "jqbench",
}
# Every system logs a failure with its traceback by default; ours too (to the run's log).
LOGGING = {"version": 1, "disable_existing_loggers": False}
