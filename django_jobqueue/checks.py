"""System checks: configuration mistakes are errors at startup, not at the first job."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import connections

from .conf import jobqueue_settings
from .exceptions import ConfigurationError

_NUMBERS = ("LEASE", "HEARTBEAT", "MAINTENANCE_INTERVAL", "DEFAULT_TIMEOUT", "TIMEOUT_GRACE")


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The JOBQUEUE setting is coherent and every connection can work."""
    errors: list[checks.CheckMessage] = []
    errors += _check_numbers()
    errors += _check_connections()
    errors += _check_failed_store()
    errors += _check_fingerprint_handler()
    return errors


def _error(message: str, code: int, hint: str | None = None) -> checks.Error:
    return checks.Error(message, hint=hint, id=f"django_jobqueue.E{code:03d}")


def _check_numbers() -> list[checks.CheckMessage]:
    s = jobqueue_settings
    for name in _NUMBERS:
        value = getattr(s, name)
        if not isinstance(value, (int, float)) or value <= 0:
            return [_error(f"JOBQUEUE[{name!r}] must be a positive number, not {value!r}.", 1)]
    errors: list[checks.CheckMessage] = []
    if s.HEARTBEAT * 2 > s.LEASE:
        # Leases are renewed by heartbeats while a job runs, so the job timeout may exceed
        # the lease; what must hold is that one late heartbeat does not lose the lease.
        errors.append(_error(
            f"JOBQUEUE['HEARTBEAT'] ({s.HEARTBEAT}s) must be at most half of JOBQUEUE['LEASE']"
            f" ({s.LEASE}s), or a slow heartbeat lets another worker take a running job.",
            2,
        ))
    if not isinstance(s.DEFAULT_MAX_TRIES, int) or s.DEFAULT_MAX_TRIES < 1:
        errors.append(_error("JOBQUEUE['DEFAULT_MAX_TRIES'] must be an integer >= 1.", 3))
    return errors


def _check_connections() -> list[checks.CheckMessage]:
    from .transports import _build

    s = jobqueue_settings
    errors: list[checks.CheckMessage] = []
    if s.DEFAULT_CONNECTION not in s.CONNECTIONS:
        errors.append(_error(
            f"JOBQUEUE['DEFAULT_CONNECTION'] is {s.DEFAULT_CONNECTION!r}, which is not in"
            " JOBQUEUE['CONNECTIONS'].", 7,
        ))
    for name in s.CONNECTIONS:
        try:
            transport = _build(name)
        except ConfigurationError as exc:
            errors.append(_error(str(exc), 8))
            continue
        errors += transport.check()
    return errors


def _check_failed_store() -> list[checks.CheckMessage]:
    s = jobqueue_settings
    if s.FAILED_STORE not in {"database", "redis"}:
        return [_error(f"JOBQUEUE['FAILED_STORE'] must be 'database' or 'redis', not"
                       f" {s.FAILED_STORE!r}.", 9)]
    if s.FAILED_STORE == "database" and s.FAILED_DATABASE not in connections:
        return [_error(f"JOBQUEUE['FAILED_DATABASE'] {s.FAILED_DATABASE!r} is not in"
                       " DATABASES.", 10)]
    if s.FAILED_STORE == "redis":
        from .failures.service import redis_store

        try:
            if redis_store() is None:
                return [_error("FAILED_STORE is 'redis' but no Redis is configured: set"
                               " JOBQUEUE['FAILED_REDIS'] = {'ALIAS': ...} or {'URL': ...}.", 11)]
        except ConfigurationError as exc:
            return [_error(str(exc), 11)]
    return []


def _check_fingerprint_handler() -> list[checks.CheckMessage]:
    from django.utils.module_loading import import_string

    path = jobqueue_settings.NEW_FINGERPRINT_HANDLER
    if path is None:
        return []
    if not isinstance(path, str):
        return [_error("JOBQUEUE['NEW_FINGERPRINT_HANDLER'] must be a dotted path or None,"
                       f" not {path!r}.", 12)]
    try:
        function = import_string(path)
    except ImportError as exc:
        return [_error(f"JOBQUEUE['NEW_FINGERPRINT_HANDLER'] {path!r} cannot be imported:"
                       f" {exc}", 12)]
    if not callable(function):
        return [_error(f"JOBQUEUE['NEW_FINGERPRINT_HANDLER'] {path!r} is not callable.", 12)]
    return []
