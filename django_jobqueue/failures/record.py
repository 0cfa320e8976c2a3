"""What a failure is, as stored: the record shared by the database store and the Redis fallback.

Exceptions are kept as text only (class path, message, traceback), capped in size, and never
rebuilt by importing a stored name.
"""

from __future__ import annotations

import datetime as dt
import traceback as tb_module
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

from django.utils import timezone

from ..conf import jobqueue_settings

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


def storable(text: str) -> str:
    """``text`` with lone surrogates (from bytes decoded with ``surrogateescape``, or a
    ``"\\udcff"`` JSON escape) written as ``\\udcff``: they cannot be encoded, so no
    database, Redis or hash would take the text."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


_TEXT_FIELDS = ("uuid", "connection", "queue", "payload", "exception", "exception_class",
                "message", "job_class", "worker")


@dataclass
class FailureRecord:
    """A permanent failure, ready to store."""

    uuid: str
    connection: str
    queue: str
    payload: str
    exception: str
    exception_class: str
    message: str
    job_class: str
    attempts: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    failed_at: dt.datetime = field(default_factory=timezone.now)
    worker: str = ""
    exit_code: int | None = None
    term_signal: int | None = None
    max_rss_kb: int | None = None
    #: See :mod:`django_jobqueue.failures.fingerprint`; set when the failure is recorded.
    fingerprint: str = ""

    def make_storable(self) -> FailureRecord:
        """Make every text field encodable (see :func:`storable`); returns the record."""
        for name in _TEXT_FIELDS:
            setattr(self, name, storable(str(getattr(self, name))))
        self.errors = [
            {key: storable(value) if isinstance(value, str) else value
             for key, value in entry.items()} if isinstance(entry, dict) else entry
            for entry in self.errors
        ]
        return self

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed_at"] = self.failed_at.isoformat()
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> FailureRecord:
        data = dict(data)
        data["failed_at"] = dt.datetime.fromisoformat(data["failed_at"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
