"""Settings for django-tasks-db (the ORM backend of django-tasks), on SQLite or MariaDB.

``BENCH_VARIANT`` picks the database: ``sqlite`` (with the options our docs give users,
the ones ours runs with: WAL, ``IMMEDIATE`` transactions, timeout 30) or ``mariadb``
(database ``bench_tasks_db`` on the bench's MariaDB). Django 5.2 with the ``django_tasks``
backport, which django-tasks-db requires before Django 6.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.peers.common import SERVERS

REPO = Path(__file__).resolve().parent.parent.parent
STATE = Path(os.environ.get("JQ_TEST_SERVER_DIR") or REPO / ".test-servers") / "bench"
VARIANT = os.environ.get("BENCH_VARIANT") or "sqlite"
MARIADB_NAME = "bench_tasks_db"

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django_tasks", "django_tasks_db"]
if VARIANT == "mariadb":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.mysql",
        "HOST": SERVERS.get("MYSQL_HOST", "127.0.0.1"),
        "PORT": SERVERS.get("MYSQL_PORT", os.environ.get("JQ_MYSQL_PORT", "13306")),
        "USER": SERVERS.get("MYSQL_USER", "jobqueue"),
        "PASSWORD": SERVERS.get("MYSQL_PASSWORD", "jobqueue"),
        "NAME": MARIADB_NAME,
        "OPTIONS": {"charset": "utf8mb4"},
    }}
else:
    STATE.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(STATE / "tasks_db.sqlite3"),
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        },
    }}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
LOGGING = {"version": 1, "disable_existing_loggers": False}
