"""The ``JOBQUEUE`` setting: every default in one place, read on access.

Values are looked up each time an attribute is read, so ``override_settings(JOBQUEUE=...)``
works in tests and nothing is frozen at import time.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

DATABASE_TRANSPORT = "django_jobqueue.transports.database.DatabaseTransport"
REDIS_TRANSPORT = "django_jobqueue.transports.redis.RedisTransport"
MEMORY_TRANSPORT = "django_jobqueue.transports.memory.MemoryTransport"

DEFAULTS: dict[str, Any] = {
    # name -> {"TRANSPORT": dotted path, "OPTIONS": {...}}
    "CONNECTIONS": {"default": {"TRANSPORT": DATABASE_TRANSPORT, "OPTIONS": {}}},
    "DEFAULT_CONNECTION": "default",
    "DEFAULT_QUEUE": "default",
    # Job defaults, used where a Job class sets none.
    "DEFAULT_MAX_TRIES": 1,
    "DEFAULT_RETRY_AFTER": 0,
    "DEFAULT_TIMEOUT": 60,
    # Push after the surrounding transaction commits (the database transport on the same
    # database inserts inside the transaction instead, which gives the same visibility).
    "DISPATCH_AFTER_COMMIT": True,
    "MAX_PAYLOAD_BYTES": 1024 * 1024,
    # Deepest nesting of lists and dicts in job arguments (a scalar argument is depth 0).
    "MAX_PAYLOAD_DEPTH": 32,
    # Failed-job store and its Redis fallback.
    "FAILED_STORE": "database",  # "database" or "redis"
    "FAILED_DATABASE": "default",
    # After the table fails to answer, send failures to the fallback for this many seconds
    # before trying it again (0: try it for every failure).
    "FAILED_DATABASE_RETRY_INTERVAL": 5.0,
    "FAILED_REDIS": {},  # {"ALIAS": django-redis alias} or {"URL": "redis://..."}; {} = none
    "REDIS_PREFIX": "jobqueue",
    "MAX_EXCEPTION_CHARS": 64 * 1024,
    "MAX_ERRORS_KEPT": 25,
    # Dotted path of a callable(record) called once when a failure fingerprint is new.
    "NEW_FINGERPRINT_HANDLER": None,
    # Admin and ``failed_jobs show``: days the "Purge old" action offers by default, and
    # the payload keys whose values are masked (a regex, searched case-insensitively).
    "FAILED_RETENTION_DAYS": 30,
    "SENSITIVE_KEYS": r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|AUTH",
    # Worker.
    "LEASE": 30.0,
    "HEARTBEAT": 5.0,
    "MAINTENANCE_INTERVAL": 5.0,
    "TIMEOUT_GRACE": 5.0,
    "SHUTDOWN_TIMEOUT": 30.0,
    "SLEEP": 1.0,
    # Jobs a worker reserves ahead of its horses (None: 32 per horse; 0: none), and how
    # long they may wait for a free horse before they are handed back to other workers.
    "PREFETCH": None,
    "PREFETCH_HOLD": 1.0,
    "HORSE_MAX_JOBS": 10_000,
    "HORSE_MAX_MEMORY_MB": 512,
    "HORSE_MEMORY_LIMIT_MB": None,
    "EXCEPTION_HANDLERS": [],
    "DEFAULT_EXCEPTION_HANDLER": True,
    "WORK_HORSE_KILLED_HANDLER": None,
    # Prometheus metrics (the "metrics" extra): the port and address on which runworker
    # serves /metrics (None: no server and nothing counted).
    "METRICS_PORT": None,
    "METRICS_ADDR": "127.0.0.1",
}


class JobQueueSettings:
    """Attribute access to ``settings.JOBQUEUE`` merged over :data:`DEFAULTS`."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown JOBQUEUE setting: {name!r}")
        user = getattr(django_settings, "JOBQUEUE", None) or {}
        return user.get(name, DEFAULTS[name])

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
