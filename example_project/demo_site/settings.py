"""Settings of the django-jobqueue example project: SQLite, no server, nothing to install.

Run ``python example_project/manage.py demo`` from the repository root (or ``./scripts/demo``).
"""

import importlib.util
import logging
import traceback
from pathlib import Path

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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
STATIC_URL = "static/"

# django-jobqueue: everything at its default (one connection, "default", using the database
# transport on the "default" database; failed jobs in queue_failed_jobs), spelled out only
# where the example wants to point something out. See docs/settings.md for every key.
JOBQUEUE = {
    # Log every failed attempt (job, id, attempt, exception) through the logger
    # "django_jobqueue.worker" before the retry policy decides what happens next. True is
    # the default; False (or `runworker --disable-default-exception-handler`) leaves failure
    # reporting to your own EXCEPTION_HANDLERS.
    "DEFAULT_EXCEPTION_HANDLER": True,
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
    },
}
