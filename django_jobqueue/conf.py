"""The ``JOBQUEUE`` setting: every default and its shape in one place, read on access.

Values are looked up each time an attribute is read, so ``override_settings(JOBQUEUE=...)``
works in tests and nothing is frozen at import time.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

from .shapes import (
    CheckedElsewhere,
    Choice,
    Either,
    Flag,
    Handler,
    Handlers,
    NamedTables,
    Number,
    RetryAfter,
    Setting,
    Table,
    Text,
)

DATABASE_TRANSPORT = "django_jobqueue.transports.database.DatabaseTransport"
REDIS_TRANSPORT = "django_jobqueue.transports.redis.RedisTransport"
MEMORY_TRANSPORT = "django_jobqueue.transports.memory.MemoryTransport"
DATABASE_STORE = "django_jobqueue.failures.database.DatabaseStore"
REDIS_STORE = "django_jobqueue.failures.redis.RedisStore"
FALLBACK_STORE = "django_jobqueue.failures.composite.FallbackStore"

_POSITIVE = Number(above=0)
_POSITIVE_INT = Number(integer=True, at_least=1)
_NOT_NEGATIVE = Number(at_least=0)
_CONNECTION = Table(
    {"TRANSPORT": Handler(objects=False), "OPTIONS": Table({})}, required=("TRANSPORT",)
)
_STORE = Table({"STORE": Handler(objects=False), "OPTIONS": Table({})}, required=("STORE",))
# A SCHEDULE entry's keys: their values are checked by django_jobqueue.checks.schedule
# (E017-E026), which knows cron, time zones and the job registry; unknown keys are E014.
SCHEDULE_KEYS = ("JOB", "CRON", "EVERY", "ARGS", "KWARGS", "QUEUE", "CONNECTION", "TIME_ZONE",
                 "ENABLED", "MISSED", "CATCH_UP_LIMIT")
_SCHEDULE_ENTRY = Table({key: CheckedElsewhere() for key in SCHEDULE_KEYS})
_REDIS = Table({"ALIAS": Text(empty=False), "URL": Text(empty=False), "PREFIX": Text(),
                "CLUSTER": Flag()})

# Each key's default and what it may hold, in one place: DEFAULTS is read from here, so a new
# setting cannot be added without its shape (the system checks validate every key by it).
SETTINGS: dict[str, Setting] = {
    # name -> {"TRANSPORT": dotted path, "OPTIONS": {...}}
    "CONNECTIONS": Setting(
        {"default": {"TRANSPORT": DATABASE_TRANSPORT, "OPTIONS": {}}}, NamedTables(_CONNECTION)
    ),
    "DEFAULT_CONNECTION": Setting("default", Text(empty=False)),
    "DEFAULT_QUEUE": Setting("default", Text(empty=False)),
    # Job defaults, used where a Job class sets none.
    "DEFAULT_MAX_TRIES": Setting(1, _POSITIVE_INT, check_id="E003"),
    "DEFAULT_RETRY_AFTER": Setting(0, RetryAfter()),
    "DEFAULT_TIMEOUT": Setting(60, _POSITIVE, check_id="E001"),
    # Push after the surrounding transaction commits (the database transport on the same
    # database inserts inside the transaction instead, which gives the same visibility).
    "DISPATCH_AFTER_COMMIT": Setting(True, Flag()),
    "MAX_PAYLOAD_BYTES": Setting(1024 * 1024, _POSITIVE_INT),
    # Deepest nesting of lists and dicts in job arguments (a scalar argument is depth 0).
    "MAX_PAYLOAD_DEPTH": Setting(32, _POSITIVE_INT),
    # Where failed jobs are kept: {"STORE": dotted path, "OPTIONS": {...}}; by default the
    # table on FAILED_DATABASE, falling back to FAILED_REDIS (or the first Redis connection)
    # while it is down. The 0.1 strings "database" and "redis" still work (warning W002).
    "FAILED_STORE": Setting(
        {"STORE": FALLBACK_STORE, "OPTIONS": {}},
        Either(Choice(("database", "redis")), _STORE), check_id="E009",
    ),
    "FAILED_DATABASE": Setting("default", Text(empty=False)),
    # After the table fails to answer, send failures to the fallback for this many seconds
    # before trying it again (0: try it for every failure).
    "FAILED_DATABASE_RETRY_INTERVAL": Setting(5.0, _NOT_NEGATIVE),
    # {"ALIAS": django-redis alias} or {"URL": "redis://..."}; {} = none
    "FAILED_REDIS": Setting({}, _REDIS),
    "REDIS_PREFIX": Setting("jobqueue", Text(empty=False)),
    "MAX_EXCEPTION_CHARS": Setting(64 * 1024, _POSITIVE_INT),
    "MAX_ERRORS_KEPT": Setting(25, Number(integer=True, at_least=0)),
    # Dotted path of a callable(record) called once when a failure fingerprint is new.
    "NEW_FINGERPRINT_HANDLER": Setting(
        None, Handler(nullable=True, objects=False), check_id="E012"
    ),
    # Admin and ``failed_jobs show``: days the "Purge old" action offers by default, and
    # the payload keys whose values are masked (a regex, searched case-insensitively).
    "FAILED_RETENTION_DAYS": Setting(30, _POSITIVE_INT),
    "SENSITIVE_KEYS": Setting(r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|AUTH", Text(regex=True)),
    # Worker.
    "LEASE": Setting(30.0, _POSITIVE, check_id="E001"),
    "HEARTBEAT": Setting(5.0, _POSITIVE, check_id="E001"),
    "MAINTENANCE_INTERVAL": Setting(5.0, _POSITIVE, check_id="E001"),
    "TIMEOUT_GRACE": Setting(5.0, _POSITIVE, check_id="E001"),
    # Flow control: seconds a cancelled running job may take to stop before its horse is
    # killed, and how long a job's status record (progress, success) is kept.
    "CANCEL_GRACE": Setting(10.0, _POSITIVE, check_id="E001"),
    "STATUS_TTL": Setting(86400.0, _POSITIVE, check_id="E001"),
    # Workflows: seconds a batch's count and a chain's markers are kept after their last
    # change (a batch still running then is forgotten: keep it longer than your longest).
    "WORKFLOW_TTL": Setting(7 * 86400.0, _POSITIVE, check_id="E001"),
    "SHUTDOWN_TIMEOUT": Setting(30.0, _NOT_NEGATIVE),
    "SLEEP": Setting(1.0, _NOT_NEGATIVE),
    # Jobs a worker reserves ahead of its horses (None: 32 per horse; 0: none), and how
    # long they may wait for a free horse before they are handed back to other workers.
    "PREFETCH": Setting(None, Number(integer=True, at_least=0, nullable=True)),
    "PREFETCH_HOLD": Setting(1.0, _NOT_NEGATIVE),
    "HORSE_MAX_JOBS": Setting(10_000, _POSITIVE_INT),
    "HORSE_MAX_MEMORY_MB": Setting(512, _POSITIVE),
    "HORSE_MEMORY_LIMIT_MB": Setting(None, Number(above=0, nullable=True)),
    "EXCEPTION_HANDLERS": Setting([], Handlers()),
    "DEFAULT_EXCEPTION_HANDLER": Setting(True, Flag()),
    "WORK_HORSE_KILLED_HANDLER": Setting(None, Handler(nullable=True)),
    # Periodic jobs, fired by the workers: name -> {"JOB": registered job class, "CRON":
    # "0 2 * * *" or "EVERY": seconds, "ARGS", "KWARGS", "QUEUE", "CONNECTION", "TIME_ZONE",
    # "ENABLED", "MISSED", "CATCH_UP_LIMIT"} (see django_jobqueue.schedule).
    "SCHEDULE": Setting({}, NamedTables(_SCHEDULE_ENTRY, empty=True)),
    # Prometheus metrics (the "metrics" extra): the port and address on which runworker
    # serves /metrics (None: no server and nothing counted).
    "METRICS_PORT": Setting(None, Number(integer=True, at_least=0, at_most=65535,
                                         nullable=True)),
    "METRICS_ADDR": Setting("127.0.0.1", Text(empty=False)),
}

DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}


class JobQueueSettings:
    """Attribute access to ``settings.JOBQUEUE`` merged over :data:`DEFAULTS`."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown JOBQUEUE setting: {name!r}")
        return self.given().get(name, DEFAULTS[name])

    def read(self, *names: str) -> tuple[Any, ...]:
        """Several settings at one look at ``settings.JOBQUEUE``, in the order named (for
        the dispatch path: each attribute read looks again)."""
        given = self.given()
        return tuple([given.get(name, DEFAULTS[name]) for name in names])

    def given(self) -> Any:
        """``settings.JOBQUEUE`` as the project wrote it (``{}`` when unset); the system
        checks make sure it is a dict of known keys."""
        return getattr(django_settings, "JOBQUEUE", None) or {}

    def connection(self, name: str | None) -> dict[str, Any]:
        """The configuration of connection ``name`` (the default one when ``None``)."""
        name = name or self.DEFAULT_CONNECTION
        try:
            return self.CONNECTIONS[name]
        except KeyError:
            from .exceptions import ConfigurationError

            known = ", ".join(sorted(self.CONNECTIONS)) or "none"
            raise ConfigurationError(
                f"Unknown jobqueue connection {name!r} (configured: {known})."
            ) from None


jobqueue_settings = JobQueueSettings()
