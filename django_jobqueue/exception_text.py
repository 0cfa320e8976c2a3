"""Exceptions as text: class path, message and traceback, capped in size.

A stored failure, a payload's ``errors`` list and a log line all keep an exception this way,
never the object: a stored class path is never imported to rebuild it (see
:mod:`django_jobqueue.exceptions`).
"""

from __future__ import annotations

import datetime as dt
import traceback as tb_module
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .conf import jobqueue_settings

_MESSAGE_CAP = 2000


def class_path(cls: type) -> str:
    """``module.QualName`` of a class; builtins stay bare (``ValueError``)."""
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def safe_message(exc: BaseException) -> str:
    """``str(exc)``, even when ``__str__`` raises, capped to the text limit."""
    try:
        text = str(exc)
    except Exception as err:  # a broken __str__ must not break failure handling
        text = f"<unprintable {type(exc).__name__}: str() raised {type(err).__name__}>"
    return cap(text)


def cap(text: str, limit: int | None = None) -> str:
    """Cut ``text`` to ``limit`` characters (``MAX_EXCEPTION_CHARS``), saying so."""
    limit = limit or jobqueue_settings.MAX_EXCEPTION_CHARS
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} characters cut]"


def exception_text(
    exc: BaseException,
    tb: TracebackType | None = None,
    message: str | None = None,
    describe: Callable[[BaseException], str] = safe_message,
) -> str:
    """``Class: message`` then the traceback: the layout of the ``exception`` column.

    Causes (``raise ... from``) and contexts follow, so ``raise DontRetry(...) from err``
    keeps ``err`` in the stored text. ``describe`` renders each exception's message.
    """
    head = f"{class_path(type(exc))}: {message if message is not None else describe(exc)}"
    parts = [head + _frames(tb or exc.__traceback__)]
    seen = {id(exc)}
    link = _next_in_chain(exc)
    while link is not None and id(link[1]) not in seen and len(seen) < 10:
        label, earlier = link
        seen.add(id(earlier))
        parts.append(f"{label}\n{class_path(type(earlier))}: {describe(earlier)}"
                     + _frames(earlier.__traceback__))
        link = _next_in_chain(earlier)
    return cap("\n\n".join(parts))


def _frames(tb: TracebackType | None) -> str:
    if tb is None:
        return ""
    return "\n\nTraceback (most recent call last):\n" + "".join(tb_module.format_tb(tb))


def _next_in_chain(exc: BaseException) -> tuple[str, BaseException] | None:
    if exc.__cause__ is not None:
        return "Caused by:", exc.__cause__
    if exc.__context__ is not None and not exc.__suppress_context__:
        return "While handling:", exc.__context__
    return None


def error_entry(
    exc: BaseException, attempt: int, worker: str, message: str | None = None
) -> dict[str, Any]:
    """One attempt's error, as kept in the payload's ``errors`` list."""
    return {
        "attempt": attempt,
        "exception_class": class_path(type(exc)),
        "message": (message if message is not None else safe_message(exc))[:_MESSAGE_CAP],
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "worker": worker,
    }
