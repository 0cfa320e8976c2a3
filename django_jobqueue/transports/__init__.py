"""Transports, chosen by dotted path per connection in ``JOBQUEUE["CONNECTIONS"]``."""

from __future__ import annotations

import os
import threading

from django.utils.module_loading import import_string

from ..conf import jobqueue_settings
from ..exceptions import ConfigurationError
from .base import (
    JOB_STATES,
    CurrentJob,
    DelayedJob,
    FoundJob,
    PushItem,
    QueueSize,
    Reserved,
    Transport,
    WorkerInfo,
)

__all__ = [
    "JOB_STATES", "CurrentJob", "DelayedJob", "FoundJob", "PushItem", "QueueSize", "Reserved",
    "Transport", "WorkerInfo", "get_transport", "reset",
]

_lock = threading.Lock()
_cache: dict[tuple[int, str], Transport] = {}


def get_transport(connection: str | None = None) -> Transport:
    """The transport of ``connection`` (default connection when ``None``), one per process."""
    name = connection or jobqueue_settings.DEFAULT_CONNECTION
    key = (os.getpid(), name)
    transport = _cache.get(key)
    if transport is None:
        with _lock:
            transport = _cache.get(key)
            if transport is None:
                transport = _build(name)
                _cache[key] = transport
    return transport


def _build(name: str) -> Transport:
    config = jobqueue_settings.connection(name)
    path = config.get("TRANSPORT")
    if not path:
        raise ConfigurationError(f"jobqueue connection {name!r} has no TRANSPORT")
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(
            f"jobqueue connection {name!r}: cannot import TRANSPORT {path!r}: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Transport)):
        raise ConfigurationError(f"jobqueue connection {name!r}: {path} is not a Transport")
    return cls(name, dict(config.get("OPTIONS") or {}))


def reset() -> None:
    """Forget cached transports (after settings change, in tests)."""
    with _lock:
        for transport in _cache.values():
            transport.close()
        _cache.clear()
