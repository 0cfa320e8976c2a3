"""Settings of the chaos suite's worker subprocesses: the test settings, plus

- the ``tests.chaos`` app, so its ``jobs`` module is autodiscovered;
- an audit hook recording every import, when ``JQ_CHAOS_AUDIT`` names a file;
- ``chaosdb``, a dedicated MariaDB a scenario stops, starts or cuts connections of, when
  ``JQ_CHAOS_MYSQL_PORT`` is set (see ``tests.support.servers.chaos``);
- a session ``wait_timeout`` of ``JQ_CHAOS_WAIT_TIMEOUT`` seconds on the ``mysql`` database,
  whose idle workers then look for new jobs every 3 s (scenario 5).
"""

from __future__ import annotations

import os

from tests.chaos import audit

if os.environ.get("JQ_CHAOS_AUDIT"):
    audit.install(os.environ["JQ_CHAOS_AUDIT"])

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, JOBQUEUE

INSTALLED_APPS = [*INSTALLED_APPS, "tests.chaos"]

if os.environ.get("JQ_CHAOS_MYSQL_PORT"):
    DATABASES = {
        **DATABASES,
        "chaosdb": {
            "ENGINE": "django.db.backends.mysql",
            "HOST": "127.0.0.1",
            "PORT": os.environ["JQ_CHAOS_MYSQL_PORT"],
            "USER": "jobqueue",
            "PASSWORD": "jobqueue",
            "NAME": "chaos",
            "OPTIONS": {"charset": "utf8mb4", "connect_timeout": 2},
            "TEST": {"MIGRATE": False},
        },
    }

if os.environ.get("JQ_CHAOS_WAIT_TIMEOUT"):
    # Scenario 5: the worker's MariaDB sessions time out when idle longer than this.
    _mysql = dict(DATABASES["mysql"])
    _mysql["OPTIONS"] = {**_mysql.get("OPTIONS", {}), "init_command":
                         f"SET SESSION wait_timeout = {int(os.environ['JQ_CHAOS_WAIT_TIMEOUT'])}"}
    DATABASES = {**DATABASES, "mysql": _mysql}
    # ...and its idle workers look for jobs no more often than they poll (--sleep 3), or
    # their 20 ms probes would keep every session alive.
    _connections = dict(JOBQUEUE["CONNECTIONS"])
    _connections["mysql"] = {**_connections["mysql"], "OPTIONS": {
        **_connections["mysql"]["OPTIONS"], "IDLE_POLL": 3.0}}
    JOBQUEUE = {**JOBQUEUE, "CONNECTIONS": _connections}

if os.environ.get("JQ_CHAOS_LOG_TS"):
    # Scenario 15 times each fire from its log line (``ts=``, milliseconds, UTC).
    from tests.settings import LOGGING

    LOGGING = {**LOGGING,
               "formatters": {"kv": {"()": "django_jobqueue.logutil.KeyValueFormatter"}},
               "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "kv"}}}
