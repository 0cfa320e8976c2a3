"""Settings for our side of the peer bench (``bench/ours.py`` and the workers it starts).

Production defaults everywhere (``JOBQUEUE`` sets only connections and the failed store),
on the servers of ``tests.support.servers``:

- ``redis``: the Redis transport;
- ``redis-cluster``: the Redis transport on the bench's Redis Cluster
  (``tests.support.servers.cluster``, started by ``bench/run.py`` when it is measured);
- ``mariadb``: the database transport on MariaDB database ``jobqueue_peers`` (its own, so
  neither the test suite nor ``bench/admin_at_scale.py``'s million rows are touched);
  ``bench/run.py`` starts that MariaDB durable, as MariaDB ships (``JQ_MYSQL_DURABLE``);
- ``postgresql``: the database transport on PostgreSQL database ``jobqueue_peers``
  (LISTEN/NOTIFY wake-ups, as shipped);
- ``sqlite``: the database transport on a SQLite file with exactly the options
  docs/transports.md tells users to set (WAL, ``IMMEDIATE`` transactions, timeout 30).

Failures go to ``queue_failed_jobs`` on that MariaDB database (``FAILED_DATABASE``), whatever
the transport: the failure path is measured with the Redis transport.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.servers import cluster, ensure_servers

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("JQ_TEST_SERVER_DIR") or REPO / ".test-servers") / "bench"
STATE.mkdir(parents=True, exist_ok=True)
SERVERS = ensure_servers()
MARIADB_NAME = os.environ.get("JQ_BENCH_PEERS_DATABASE", "jobqueue_peers")
PG_NAME = MARIADB_NAME  # the same name on each server

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
            "init_command": "PRAGMA journal_mode=WAL;",
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
# PostgreSQL and the Cluster only in the processes that measure them (the driver's dispatch
# loops run without a variant): a project has the databases it uses, and a worker with a
# PostgreSQL entry imports its driver, which its memory figure would count.
VARIANT = os.environ.get("BENCH_VARIANT", "")
if VARIANT in ("", "postgresql"):
    DATABASES["postgresql"] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": SERVERS["PG_HOST"],
        "PORT": SERVERS["PG_PORT"],
        "USER": SERVERS["PG_USER"],
        "PASSWORD": SERVERS["PG_PASSWORD"],
        "NAME": PG_NAME,
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
if "postgresql" in DATABASES:
    JOBQUEUE["CONNECTIONS"]["postgresql"] = {"TRANSPORT": _DB,
                                             "OPTIONS": {"DATABASE": "postgresql"}}
if VARIANT == "redis-cluster":
    JOBQUEUE["CONNECTIONS"]["redis-cluster"] = {
        "TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
        "OPTIONS": {"URL": cluster.url(), "CLUSTER": True}}
# The scheduler's cost (docs/performance.md): BENCH_SCHEDULE=N gives the measured connection
# N entries due every second, each queueing a no-op on a queue the drain does not serve (so
# the drain counts only its own jobs); BENCH_SCHEDULE=off runs the worker with
# --no-scheduler (bench/ours.py). Neither set: as shipped, the scheduler on and no entries.
SCHEDULED = os.environ.get("BENCH_SCHEDULE", "")
if SCHEDULED.isdigit() and VARIANT:
    JOBQUEUE["SCHEDULE"] = {
        f"bench-{n}": {"JOB": "bench.jobs.BenchNoop", "EVERY": 1, "CONNECTION": VARIANT,
                       "QUEUE": "bench-schedule"}
        for n in range(int(SCHEDULED))
    }
# Every system logs a failure with its traceback by default; ours too (to the run's log).
LOGGING = {"version": 1, "disable_existing_loggers": False}
