"""Log lines in a stable ``key=value`` form that user data cannot forge or garble.

Every line this package logs is an *event*: ``event=job_failed job=shop.Charge id=… attempts=3``.
The event name and the keys are part of the public contract (docs/observability.md lists
them); values are escaped and quoted so that a line always splits the same way. The event and
its fields also ride on the record (``record.jobqueue_event``, ``record.jobqueue_fields``) for
JSON formatters and error reporters.

Job payloads and exception messages are user data: a message carrying ``\\r\\n`` could fake a
log line, one carrying ANSI escapes could rewrite an operator's terminal. Everything of theirs
that reaches a log line goes through :func:`printable` (one line) or :func:`printable_block`
(a traceback: its own newlines kept, everything else escaped).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from .exception_text import exception_text, safe_message

# C0 controls, DEL and C1 controls (ESC starts ANSI sequences; U+009B is a one-byte CSI),
# the Unicode line and paragraph separators some log viewers break lines on, and the
# zero-width and bidirectional controls that make a line read other than it is.
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029,
             *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF]
_ONE_LINE = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _CONTROLS}
_BLOCK = {**_ONE_LINE, ord("\n"): "\n"}

LOG_VALUE_CHARS = 500


def printable(value: Any, limit: int = LOG_VALUE_CHARS) -> str:
    """``value`` as one log-safe line: control characters escaped, cut to ``limit``."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}...[{len(text) - limit} more]"
    return text.translate(_ONE_LINE)


def printable_block(text: str) -> str:
    """A multi-line text (a traceback) with its newlines kept and other controls escaped."""
    return text.translate(_BLOCK)


def exception_for_log(exc: BaseException, tb: TracebackType | None = None) -> str:
    """An exception and its traceback for a log line: each message on one escaped line."""
    text = exception_text(exc, tb, describe=lambda error: printable(safe_message(error)))
    return printable_block(text)


# Values left unquoted: nothing a key=value parser could split on or misread.
_BARE = re.compile(r"[^\s\"=\\]+")


def log_value(value: Any) -> str:
    """One field's value: escaped, cut, and quoted unless it is a single bare word."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple, set, frozenset)):
        value = ",".join(str(item) for item in value)
    text = printable(value)
    if _BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Event:
    """An event's fields (and traceback), formatted only when a handler formats the record:
    a filtered-out level costs a comparison, not the escaping. ``str()`` gives the whole
    line, ``event=…`` included; in a record the name is in the template instead (below)."""

    __slots__ = ("fields", "name", "traceback")

    def __init__(self, name: str, fields: dict[str, Any], traceback: str | None) -> None:
        self.name, self.fields, self.traceback = name, fields, traceback

    def tail(self) -> str:
        """`` key=value …`` (leading space), then the traceback on the lines below."""
        line = "".join(f" {key}={log_value(value)}" for key, value in self.fields.items())
        # A traceback goes below its line, escaped like every other user text.
        return f"{line}\n{self.traceback}" if self.traceback else line

    def __str__(self) -> str:
        return f"event={self.name}{self.tail()}"

    __repr__ = __str__


class _Tail:
    """The record's argument: ``Event.tail()`` when the message is formatted."""

    __slots__ = ("event",)

    def __init__(self, event: Event) -> None:
        self.event = event

    def __str__(self) -> str:
        return self.event.tail()

    __repr__ = __str__


def log_event(
    logger: logging.Logger,
    level: int,
    event: str,
    /,
    traceback: str | None = None,
    **fields: Any,
) -> None:
    """Log ``event`` with ``fields`` as one ``key=value`` line (``traceback``, from
    :func:`exception_for_log`, on the lines below)."""
    if logger.isEnabledFor(level):
        # The event's name is in the template: error reporters that group records by their
        # template (Sentry's logging integration) then group by event, not all under "%s".
        logger.log(level, f"event={event}%s", _Tail(Event(event, fields, traceback)),
                   extra={"jobqueue_event": event, "jobqueue_fields": fields})


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=… logger=… pid=…`` then the message: what ``runworker`` prints when the
    project configured no logging of its own."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        head = (f"ts={stamp} level={record.levelname.lower()} logger={record.name}"
                f" pid={record.process}")
        text = f"{head} {record.getMessage()}"
        if record.exc_info:  # someone else's logger.exception(): escape its traceback too
            text = f"{text}\n{printable_block(self.formatException(record.exc_info))}"
        return text
