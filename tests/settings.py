"""Settings for the test suite: SQLite (default), a real MariaDB, PostgreSQL and Redis.

The servers are started by ``tests.support.servers`` on 127.0.0.1 when this module is imported
(once; worker subprocesses reuse them through the ``JQ_TEST_SERVERS`` environment variable).
Worker subprocesses set ``JQ_TESTING_DB=1`` to use the test databases pytest-django created,
and ``JQ_SETTINGS_JSON`` to receive a test's JOBQUEUE overrides.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import django

from tests.support.servers import cluster, ensure_servers

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("JQ_TEST_SERVER_DIR") or BASE_DIR / ".test-servers")
STATE_DIR.mkdir(parents=True, exist_ok=True)
SERVERS = ensure_servers()
REDIS_URL = SERVERS["REDIS_URL"]
REDIS_CLUSTER_URL = cluster.url()
_USE_TEST_DB = os.environ.get("JQ_TESTING_DB") == "1"

SECRET_KEY = "tests-only-not-secret"
# Django's advice for test suites: the default hasher costs most of a second per test user.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",  # the admin's CSS and JS for the browser test
    "rangefilter",
    "django_jobqueue",
    "tests",
]
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")  # the backport's checks and signals

_SQLITE_TEST = str(STATE_DIR / "test_default.sqlite3")
_MYSQL_TEST = "test_jobqueue"
_PG_TEST = "test_jobqueue"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _SQLITE_TEST if _USE_TEST_DB else str(STATE_DIR / "default.sqlite3"),
        "TEST": {"NAME": _SQLITE_TEST},
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    },
    "mysql": {
        "ENGINE": "django.db.backends.mysql",
        "HOST": SERVERS["MYSQL_HOST"],
        "PORT": SERVERS["MYSQL_PORT"],
        "USER": SERVERS["MYSQL_USER"],
        "PASSWORD": SERVERS["MYSQL_PASSWORD"],
        "NAME": _MYSQL_TEST if _USE_TEST_DB else "jobqueue",
        "TEST": {"NAME": _MYSQL_TEST, "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        "OPTIONS": {"charset": "utf8mb4"},
    },
    "postgres": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": SERVERS["PG_HOST"],
        "PORT": SERVERS["PG_PORT"],
        "USER": SERVERS["PG_USER"],
        "PASSWORD": SERVERS["PG_PASSWORD"],
        "NAME": _PG_TEST if _USE_TEST_DB else "jobqueue",
        "TEST": {"NAME": _PG_TEST},
    },
    # A database that is down: for failed-store fallback tests.
    "broken": {
        "ENGINE": "django.db.backends.mysql",
        "HOST": "127.0.0.1",
        "PORT": "9",
        "USER": "nobody",
        "NAME": "nothing",
        "OPTIONS": {"connect_timeout": 1},
        "TEST": {"MIGRATE": False},
    },
}

DATABASE_ROUTERS = ["tests.routers.NoMigrationsOnBroken"]

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    },
}

_DB = "django_jobqueue.transports.database.DatabaseTransport"
JOBQUEUE: dict = {
    "CONNECTIONS": {
        "default": {"TRANSPORT": _DB, "OPTIONS": {"DATABASE": "default"}},
        "mysql": {"TRANSPORT": _DB, "OPTIONS": {"DATABASE": "mysql"}},
        "postgres": {"TRANSPORT": _DB, "OPTIONS": {"DATABASE": "postgres"}},
        "redis": {
            "TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
            "OPTIONS": {"ALIAS": "redis"},
        },
        "redis-url": {
            "TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
            "OPTIONS": {"URL": REDIS_URL},
        },
        "memory": {"TRANSPORT": "django_jobqueue.transports.memory.MemoryTransport"},
        # Started only by tests that ask for the ``redis_cluster`` fixture.
        "redis-cluster": {
            "TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
            "OPTIONS": {"URL": REDIS_CLUSTER_URL, "CLUSTER": True},
        },
    },
    "FAILED_REDIS": {"URL": REDIS_URL},
    "REDIS_PREFIX": "jqtest",
    "LEASE": 30.0,
    "HEARTBEAT": 1.0,
    "MAINTENANCE_INTERVAL": 1.0,
    "TIMEOUT_GRACE": 1.0,
    "SLEEP": 0.2,
}
JOBQUEUE.update(json.loads(os.environ.get("JQ_SETTINGS_JSON") or "{}"))

_TASKS_BACKEND = "django_jobqueue.tasks.JobQueueBackend"
_TASK_QUEUES = ["default", "high", "low"]
TASKS = {
    "default": {"BACKEND": _TASKS_BACKEND, "QUEUES": _TASK_QUEUES,
                "OPTIONS": {"CONNECTION": "memory"}},
    "database": {"BACKEND": _TASKS_BACKEND, "QUEUES": _TASK_QUEUES,
                 "OPTIONS": {"CONNECTION": "default"}},
    "redis": {"BACKEND": _TASKS_BACKEND, "QUEUES": _TASK_QUEUES,
              "OPTIONS": {"CONNECTION": "redis"}},
    "mysql": {"BACKEND": _TASKS_BACKEND, "QUEUES": _TASK_QUEUES,
              "OPTIONS": {"CONNECTION": "mysql", "RESULTS_DATABASE": "mysql"}},
    "postgres": {"BACKEND": _TASKS_BACKEND, "QUEUES": _TASK_QUEUES,
                 "OPTIONS": {"CONNECTION": "postgres", "RESULTS_DATABASE": "postgres"}},
    # Queues of its own: tasks defined for "default" are enqueued here with .using().
    "other": {"BACKEND": _TASKS_BACKEND, "QUEUES": ["other_q"],
              "OPTIONS": {"CONNECTION": "redis"}},
    "immediate": {
        "BACKEND": ("django.tasks" if django.VERSION >= (6, 0) else "django_tasks")
        + ".backends.immediate.ImmediateBackend",
        "QUEUES": _TASK_QUEUES,
    },
}

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
STATIC_URL = "static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_jobqueue": {"handlers": ["console"], "level": "INFO"}},
}
