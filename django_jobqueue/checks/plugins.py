"""Checks of what the settings point at: connections, the failed-job store and the dotted
paths of handlers (imported here, so a typo fails ``check``, not the first failed job)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.utils.module_loading import import_string

from ..conf import jobqueue_settings
from ..exceptions import ConfigurationError
from .values import error

# Settings holding handlers: the id of their check (the fingerprint one kept its own).
HANDLER_SETTINGS = {
    "EXCEPTION_HANDLERS": "E016",
    "WORK_HORSE_KILLED_HANDLER": "E016",
    "NEW_FINGERPRINT_HANDLER": "E012",
}


def check_connections(refused: set[str]) -> list[checks.CheckMessage]:
    from ..transports import _build

    if "CONNECTIONS" in refused:
        return []
    s = jobqueue_settings
    errors: list[checks.CheckMessage] = []
    if "DEFAULT_CONNECTION" not in refused and s.DEFAULT_CONNECTION not in s.CONNECTIONS:
        errors.append(error(
            f"JOBQUEUE['DEFAULT_CONNECTION'] is {s.DEFAULT_CONNECTION!r}, which is not in"
            " JOBQUEUE['CONNECTIONS'].", "E007",
        ))
    for name in s.CONNECTIONS:
        try:
            transport = _build(name)
        except ConfigurationError as exc:
            errors.append(error(str(exc), "E008"))
            continue
        errors += transport.check()
    return errors


def check_failed_store(refused: set[str]) -> list[checks.CheckMessage]:
    """The store ``FAILED_STORE`` names can be built and says it can work (E009-E011);
    a 0.1 string is a warning (W002) that names what to write instead."""
    from ..failures.stores import LEGACY, build, store_config

    if refused & {"FAILED_STORE", "FAILED_DATABASE", "FAILED_REDIS", "CONNECTIONS"}:
        return []
    value = jobqueue_settings.FAILED_STORE
    messages: list[checks.CheckMessage] = []
    if isinstance(value, str) and value in LEGACY:
        messages.append(checks.Warning(
            f"JOBQUEUE['FAILED_STORE'] = {value!r} is the 0.1 form of this setting.",
            hint=f"Write {LEGACY[value]!r}: the same store, named by dotted path like a"
                 " connection's TRANSPORT.",
            id="django_jobqueue.W002"))
    try:
        store = build(store_config())
    except ConfigurationError as exc:
        return [*messages, error(str(exc), "E009")]
    return [*messages, *store.check()]


def check_handlers(refused: set[str]) -> list[checks.CheckMessage]:
    """Every dotted path among the handler settings imports, and names a callable."""
    errors: list[checks.CheckMessage] = []
    for name, code in HANDLER_SETTINGS.items():
        if name in refused:
            continue
        value = getattr(jobqueue_settings, name)
        paths = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, path in paths:
            if not isinstance(path, str):
                continue  # None, or a callable given as such
            where = f"JOBQUEUE[{name!r}]" + ("" if index is None else f"[{index}]")
            problem = _import_problem(path)
            if problem:
                errors.append(error(f"{where} {path!r} {problem}.", code))
    return errors


def _import_problem(path: str) -> str | None:
    try:
        target: Any = import_string(path)
    except ImportError as exc:
        return f"cannot be imported: {exc}"
    return None if callable(target) else "is not callable"
