"""Our side of the peer bench: django-jobqueue on the Redis, MariaDB and SQLite transports
(``bench/settings_ours.py``), driven by ``bench/driver.py`` from ``.venv``."""

from __future__ import annotations

import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_ours"

import django

django.setup()

from django.db import connections  # noqa: E402

from bench.jobs import BenchFail, BenchNoop, BenchRetry  # noqa: E402
from django_jobqueue import dispatch_many  # noqa: E402
from django_jobqueue.transports import get_transport  # noqa: E402

VARIANTS = ("redis", "mariadb", "sqlite")
BULK = True
CHUNK = 1000  # jobs per dispatch_many call, for the bulk enqueue and the fill
KINDS = {"noop": BenchNoop, "fail": BenchFail, "retry": BenchRetry}


def prepare() -> None:
    import MySQLdb

    from bench import settings_ours as s

    server = s.SERVERS
    conn = MySQLdb.connect(host=server["MYSQL_HOST"], port=int(server["MYSQL_PORT"]),
                           user=server["MYSQL_USER"], password=server["MYSQL_PASSWORD"])
    try:
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{s.MARIADB_NAME}`"
                              " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    from django.core.management import call_command

    for alias in ("default", "mariadb"):
        call_command("migrate", database=alias, verbosity=0)


def reset() -> None:
    for name in VARIANTS:
        get_transport(name).clear("default")
    with connections["mariadb"].cursor() as cursor:
        cursor.execute("DELETE FROM queue_failed_jobs")


def enqueue(n: int, bulk: bool, variant: str) -> None:
    if bulk:
        for start in range(0, n, CHUNK):
            dispatch_many([BenchNoop() for _ in range(min(CHUNK, n - start))],
                          connection=variant)
    else:
        for _ in range(n):
            BenchNoop().dispatch(connection=variant)


def fill(kind: str, n: int, variant: str) -> None:
    job = KINDS[kind]
    for start in range(0, n, CHUNK):
        dispatch_many([job() for _ in range(min(CHUNK, n - start))], connection=variant)


def workers(variant: str, procs: int) -> list[list[str]]:
    return [[sys.executable, "-m", "django", "runworker", "--connection", variant,
             "--concurrency", str(procs)]]


def failed_count(variant: str) -> int:
    with connections["mariadb"].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM queue_failed_jobs")
        return cursor.fetchone()[0]
