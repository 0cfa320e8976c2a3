"""Settings of the django-jobqueue example project.

By default SQLite holds everything: no server, nothing to install. Two environment variables
move it onto servers, each on its own:

- ``JOBQUEUE_EXAMPLE_REDIS_URL=redis://127.0.0.1:6379/0``: queued jobs in Redis (through a
  django-redis cache alias, ``pip install "django-jobqueue[redis]"``), which is also the
  fallback of the failed-job table.
- ``JOBQUEUE_EXAMPLE_MYSQL=host:port:user:password:database``: the database (and so the
  failed-job table, and the queue unless Redis holds it) on MariaDB or MySQL
  (``pip install "django-jobqueue[mysql]"``).

``JOBQUEUE_EXAMPLE_METRICS_PORT=9808`` makes ``runworker`` serve Prometheus metrics there.

Run ``python example_project/manage.py demo`` from the repository root (or ``./scripts/demo``).
"""

import importlib.util
import logging
import os
import traceback
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-jobqueue-example-only-not-a-secret"  # a demo: never deploy this
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The admin's failed-at range filter (pip install -e ".[admin]"); without it the admin
    # falls back to Django's own date filter.
    *(["rangefilter"] if importlib.util.find_spec("rangefilter") else []),
    "django_jobqueue",
    # Django 5.2 has no django.tasks; the backport (pip install "django-jobqueue[tasks]")
    # brings it, and its app its system checks. Without it the demo skips its tasks.
    *(["django_tasks"] if django.VERSION < (6, 0) and importlib.util.find_spec("django_tasks")
      else []),
    "shop",  # its jobs.py is discovered by django_jobqueue at startup
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "demo_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite holds both the queued jobs (table queue_jobs) and the failed ones (queue_failed_jobs).
# A worker and its work horses write to it from several processes, so: wait up to 30 s for
# the write lock instead of failing at once, take it at the start of each transaction
# (IMMEDIATE, so two writers never deadlock upgrading a read lock), and use WAL so readers
# never block the writer.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        },
    }
}
MYSQL = os.environ.get("JOBQUEUE_EXAMPLE_MYSQL", "")
if MYSQL:
    # host:port:user:password:database; the password may itself hold colons.
    _host, _port, _user, *_password, _name = MYSQL.split(":")
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.mysql",
        "HOST": _host,
        "PORT": _port,
        "USER": _user,
        "PASSWORD": ":".join(_password),
        "NAME": _name,
        # utf8mb4: job payloads and exception messages are any Unicode.
        "OPTIONS": {"charset": "utf8mb4"},
    }

REDIS_URL = os.environ.get("JOBQUEUE_EXAMPLE_REDIS_URL", "")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    # The transport reuses the project's django-redis configuration by alias.
    CACHES["jobqueue"] = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
STATIC_URL = "static/"

# django-jobqueue: one connection, "default": the database transport on the "default"
# database, or Redis. Failed jobs go to queue_failed_jobs on the "default" database either
# way. Keys left out keep their defaults; see docs/settings.md for every key.
_TRANSPORT = (
    {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
     "OPTIONS": {"ALIAS": "jobqueue"}}
    if REDIS_URL
    else {"TRANSPORT": "django_jobqueue.transports.database.DatabaseTransport",
          "OPTIONS": {"DATABASE": "default"}}
)
JOBQUEUE = {
    "CONNECTIONS": {"default": _TRANSPORT},
    # Where a failure goes when queue_failed_jobs cannot be written (the worker moves it
    # back later). Without Redis there is none: the failure waits in its queue instead.
    "FAILED_REDIS": {"ALIAS": "jobqueue"} if REDIS_URL else {},
    # Keys of this project's own, so the demo never touches another app's on a shared Redis.
    "REDIS_PREFIX": "jobqueue-example",
    # Every failed attempt goes through these in order (shop/handlers.py): a Sentry report
    # when sentry_sdk is installed and initialised, then one short log line, which returns
    # False and so ends the chain before the built-in handler that logs the whole traceback
    # (it would come last; DEFAULT_EXCEPTION_HANDLER = False drops it altogether).
    "EXCEPTION_HANDLERS": [
        "django_jobqueue.contrib.sentry.capture",  # does nothing without sentry_sdk
        "shop.handlers.log_attempt",
    ],
    # Prometheus metrics of the worker (docs/observability.md; the "metrics" extra):
    # JOBQUEUE_EXAMPLE_METRICS_PORT=9808 python example_project/manage.py runworker
    "METRICS_PORT": int(os.environ["JOBQUEUE_EXAMPLE_METRICS_PORT"])
    if os.environ.get("JOBQUEUE_EXAMPLE_METRICS_PORT") else None,
    # Called in the worker when a work horse dies running a job (OOM killer, kill -9).
    "WORK_HORSE_KILLED_HANDLER": "shop.handlers.horse_killed",
    # Called once per new kind of failure, across all workers (docs/grouping.md).
    "NEW_FINGERPRINT_HANDLER": "shop.handlers.new_kind_of_failure",
    # Periodic jobs, fired by the workers themselves (docs/periodic-jobs.md): the "Failed
    # Jobs" guide's "cleanup failed jobs daily at 2 AM", with no system cron. It deletes
    # failed jobs older than FAILED_RETENTION_DAYS (30). shop.jobs.ReleaseExpiredCarts
    # declares its own schedule on its class.
    "SCHEDULE": {
        "prune-failed-jobs": {"JOB": "django_jobqueue.PruneFailedJobs", "CRON": "0 2 * * *"},
    },
}

# Django's Tasks framework, run by django-jobqueue's worker (docs/tasks.md): on Django 6
# always, on 5.2 when the django-tasks backport is installed.
TASKS_AVAILABLE = django.VERSION >= (6, 0) or importlib.util.find_spec("django_tasks") is not None
if TASKS_AVAILABLE:
    TASKS = {
        "default": {
            "BACKEND": "django_jobqueue.tasks.JobQueueBackend",
            "QUEUES": ["default", "emails"],
            "OPTIONS": {"CONNECTION": "default", "MAX_TRIES": 1},
        }
    }


class ShortTracebackFormatter(logging.Formatter):
    """Show a logged exception as its last line only ("ValueError: Invalid data format").

    The full traceback of a job that failed for good is stored in the ``exception`` column
    of ``queue_failed_jobs``; in the demo's console one line per failed attempt is easier to
    follow.
    """

    def formatException(self, ei):
        return "    " + "".join(traceback.format_exception_only(ei[0], ei[1])).strip()


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "readable": {
            "()": ShortTracebackFormatter,
            "format": "%(asctime)s %(levelname)-7s %(name)-22s %(message)s",
            "datefmt": "%H:%M:%S",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "readable"},
    },
    "loggers": {
        # Worker start/stop, failed attempts, permanent failures, abandoned jobs.
        "django_jobqueue": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # What the example's jobs say about themselves.
        "shop": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # The Tasks framework's own lines (a task started, finished): 6.x and the backport.
        "django.tasks": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django_tasks": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
