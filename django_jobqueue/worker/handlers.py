"""Exception handlers, as RQ has them: a chain of ``(job, exc_type, exc_value, traceback)``.

Each handler runs in order; returning ``False`` stops the chain, ``None`` or ``True`` falls
through to the next. A handler that raises is logged and the chain goes on. Retry and failure
bookkeeping happen whatever the handlers return.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from django.utils.module_loading import import_string

from ..conf import jobqueue_settings
from ..exceptions import ConfigurationError
from ..logutil import exception_for_log, log_event

logger = logging.getLogger("django_jobqueue.worker")

ExceptionHandler = Callable[[Any, type[BaseException], BaseException, TracebackType | None], Any]
WorkHorseKilledHandler = Callable[[Any, int, int, Any], Any]


def log_exception(
    job: Any, exc_type: type[BaseException], exc_value: BaseException, tb: TracebackType | None
) -> None:
    """The default handler: one log line with the traceback (control characters escaped)."""
    log_event(
        logger, logging.ERROR, "job_raised",
        # The class's registered name: a job's own ``self.name`` (an argument) is user data.
        job=getattr(type(job), "name", type(job).__name__) if job is not None else None,
        id=getattr(job, "job_id", None),
        attempt=getattr(job, "attempt", None),
        error=exc_type.__name__,
        traceback=exception_for_log(exc_value, tb),
    )


def _name_of(handler: Callable[..., Any]) -> str:
    """A handler's dotted name for a log line (a repr could carry anything)."""
    module = getattr(handler, "__module__", None) or "?"
    return f"{module}.{getattr(handler, '__qualname__', type(handler).__qualname__)}"


def load_handler(path: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import a handler by dotted path (from settings or the command line, never a payload);
    settings may also give the callable itself."""
    if callable(path):
        return path
    try:
        handler = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import handler {path!r}: {exc}") from exc
    if not callable(handler):
        raise ConfigurationError(f"handler {path!r} is not callable")
    return handler


def build_chain(
    extra: Sequence[str] = (), disable_default: bool | None = None
) -> list[ExceptionHandler]:
    """Settings' ``EXCEPTION_HANDLERS``, then ``extra`` paths, then the default handler."""
    paths: list[str | Callable[..., Any]] = [*jobqueue_settings.EXCEPTION_HANDLERS, *extra]
    chain: list[ExceptionHandler] = [load_handler(path) for path in paths]
    if disable_default is None:
        disable_default = not jobqueue_settings.DEFAULT_EXCEPTION_HANDLER
    if not disable_default:
        chain.append(log_exception)
    return chain


def run_chain(
    chain: Sequence[ExceptionHandler],
    job: Any,
    exc: BaseException,
    tb: TracebackType | None,
) -> None:
    """Call handlers in order until one returns ``False``."""
    for handler in chain:
        try:
            if handler(job, type(exc), exc, tb) is False:
                return
        except Exception as error:
            log_event(logger, logging.ERROR, "exception_handler_raised",
                      handler=_name_of(handler), error=type(error).__name__,
                      traceback=exception_for_log(error))


def killed_handler(path: str | None = None) -> WorkHorseKilledHandler | None:
    """The work-horse-killed handler from ``path`` or the setting, if any."""
    path = path or jobqueue_settings.WORK_HORSE_KILLED_HANDLER
    return load_handler(path) if path else None
