"""The failed-job store this process uses, built once from ``JOBQUEUE["FAILED_STORE"]``.

``FAILED_STORE`` is ``{"STORE": dotted path, "OPTIONS": {...}}``, like a connection's
``TRANSPORT``. The default is the table with the Redis fallback (when the project has a
Redis). The strings of 0.1, ``"database"`` (that same default) and ``"redis"`` (the Redis
store alone), are still accepted; the system checks warn about them (W002).
"""

from __future__ import annotations

import difflib
import os
import threading
from typing import Any

from django.utils.module_loading import import_string

from ..conf import DATABASE_STORE, FALLBACK_STORE, REDIS_STORE, jobqueue_settings
from ..exceptions import ConfigurationError
from .base import FailedJobStore

BUILT_IN = (DATABASE_STORE, REDIS_STORE, FALLBACK_STORE)

#: What the strings of 0.1 meant, as ``FAILED_STORE`` values of today.
LEGACY = {
    "database": {"STORE": FALLBACK_STORE, "OPTIONS": {}},
    "redis": {"STORE": REDIS_STORE, "OPTIONS": {}},
}

_lock = threading.Lock()
_cache: dict[int, FailedJobStore] = {}


def configured_store() -> FailedJobStore:
    """The store of ``FAILED_STORE``, one per process (a store holds clients and the
    fallback's outage window, which a forked process must not share)."""
    pid = os.getpid()
    store = _cache.get(pid)
    if store is None:
        with _lock:
            store = _cache.get(pid)
            if store is None:
                store = _cache[pid] = build(store_config())
    return store


def store_config() -> dict[str, Any]:
    """``FAILED_STORE`` as ``{"STORE": ..., "OPTIONS": ...}`` (a 0.1 string translated)."""
    value = jobqueue_settings.FAILED_STORE
    if isinstance(value, str):
        try:
            return LEGACY[value]
        except KeyError:
            raise ConfigurationError(
                f"JOBQUEUE['FAILED_STORE'] {value!r} is not a store: give"
                " {'STORE': dotted path, 'OPTIONS': {...}}") from None
    return value


def build(config: dict[str, Any], where: str = "FAILED_STORE") -> FailedJobStore:
    """The store that ``config`` (``{"STORE": dotted path, "OPTIONS": {...}}``) names."""
    path = config.get("STORE") if isinstance(config, dict) else None
    if not isinstance(path, str) or not path:
        raise ConfigurationError(f"{where} needs a 'STORE' (a dotted path), not {config!r}")
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"{where}: cannot import STORE {path!r}: {exc}."
                                 + _guess(path, BUILT_IN)) from exc
    if not (isinstance(cls, type) and issubclass(cls, FailedJobStore)):
        raise ConfigurationError(f"{where}: {path!r} is not a FailedJobStore.")
    options = dict(config.get("OPTIONS") or {})
    accepted = cls.options_accepted
    unknown = sorted(set(options) - set(accepted)) if accepted is not None else []
    if unknown:
        raise ConfigurationError(f"{where}: {cls.__name__} has no option {unknown[0]!r} (it"
                                 f" takes {', '.join(accepted or ()) or 'none'})."
                                 + _guess(unknown[0], accepted or ()))
    return cls(options)


def _guess(word: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def reset() -> None:
    """Forget the built store, remembered outages and known fingerprints (after a settings
    change, in tests)."""
    from .first_seen import forget_known

    with _lock:
        for store in _cache.values():
            store.close()
        _cache.clear()
    forget_known()
