"""django-tasks-db's ``db_worker`` on SQLite and on MariaDB, jobs and adapter.

django-tasks has no retries, so the retry path is n/a. One ``db_worker`` runs one task at
a time: N processes are N ``db_worker`` commands.
"""

from __future__ import annotations

import os
import subprocess
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.peers.tasks_db_settings"

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django_tasks import task  # noqa: E402
from django_tasks_db.models import DBTaskResult  # noqa: E402

from bench import jobcount  # noqa: E402

VARIANTS = ("sqlite", "mariadb")
LATENCY_VARIANTS = VARIANTS
RETRY_VARIANTS = ()
BULK = False


@task()
def noop() -> None:
    jobcount.noop()


@task()
def fail() -> None:
    jobcount.fail()


@task()
def latency(sent: float) -> None:
    jobcount.stamp(sent)


_TASKS = {"noop": noop, "fail": fail}


def prepare() -> None:
    import MySQLdb

    from bench.peers import tasks_db_settings as s

    server = s.DATABASES["default"] if s.VARIANT == "mariadb" else None
    if server is None:
        from bench.peers.common import SERVERS

        server = {"HOST": SERVERS["MYSQL_HOST"], "PORT": SERVERS["MYSQL_PORT"],
                  "USER": SERVERS["MYSQL_USER"], "PASSWORD": SERVERS["MYSQL_PASSWORD"]}
    conn = MySQLdb.connect(host=server["HOST"], port=int(server["PORT"]), user=server["USER"],
                           password=server["PASSWORD"])
    try:
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{s.MARIADB_NAME}`"
                              " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    for name in VARIANTS:  # settings are per process: migrate each database in its own
        subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], check=True,
                       env={**os.environ, "BENCH_VARIANT": name})


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DBTaskResult._meta.db_table}")


def enqueue(n: int, bulk: bool, variant: str) -> None:
    for _ in range(n):
        noop.enqueue()


def enqueue_latency(sent: float, variant: str) -> None:
    latency.enqueue(sent)


def fill(kind: str, n: int, variant: str) -> None:
    # One transaction for the whole fill: queueing is not what is measured here.
    with transaction.atomic():
        for _ in range(n):
            _TASKS[kind].enqueue()


def workers(variant: str, procs: int) -> list[list[str]]:
    return [[sys.executable, "-m", "django", "db_worker"] for _ in range(procs)]


def failed_count(variant: str) -> int:
    return DBTaskResult.objects.failed().count()
