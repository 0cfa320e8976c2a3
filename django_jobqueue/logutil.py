"""Log lines that user data cannot forge or garble.

Job payloads and exception messages are user data: a message carrying ``\\r\\n`` could fake a
log line, one carrying ANSI escapes could rewrite an operator's terminal. Everything of theirs
that reaches a log line goes through :func:`printable` (one line) or :func:`printable_block`
(a traceback: its own newlines kept, everything else escaped).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from .failures.record import exception_text, safe_message

# C0 controls, DEL and C1 controls (ESC starts ANSI sequences; U+009B is a one-byte CSI),
# plus the Unicode line and paragraph separators some log viewers break lines on.
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
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
