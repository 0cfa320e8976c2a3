"""What the commands share: argument types, filters, progress, safe output.

Argument types raise ``argparse.ArgumentTypeError``, which Django turns into a
``CommandError`` (``call_command``) or a usage message with exit code 2 (the shell), before
anything is read or changed. Checks that involve several arguments use :func:`usage_error`,
which keeps that exit code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import getpass
import json
import math
import re
from collections.abc import Callable
from typing import Any, TextIO

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from ..exceptions import ConfigurationError, JobQueueError
from ..failures.base import FailedJobStore
from ..failures.criteria import FingerprintLookupError, fingerprint_prefix, is_job_id
from ..failures.record import OUTCOMES
from ..transports import Transport, get_transport

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
FILTERS = ("queue", "connection", "job_class", "exception_class", "fingerprint", "since",
           "until", "outcome", "batch", "chain_held")


def plural(n: int, noun: str) -> str:
    """``1 failed job``, ``2 failed jobs``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def store_errors(handle: Callable[..., None]) -> Callable[..., None]:
    """Decorate ``Command.handle``: a store that does not answer (or is not configured) is a
    one-line ``CommandError`` (exit code 1), not a traceback; a fingerprint prefix that
    matches no stored fingerprint, or several, is a usage error (exit code 2)."""

    @functools.wraps(handle)
    def wrapper(*args: Any, **options: Any) -> None:
        try:
            handle(*args, **options)
        except FingerprintLookupError as exc:  # a bad argument, found out by reading
            raise usage_error(str(exc)) from exc
        except (JobQueueError, DatabaseError) as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc

    return wrapper


def usage_error(message: str) -> CommandError:
    """A ``CommandError`` for arguments that do not make sense together (exit code 2)."""
    return CommandError(message, returncode=2)


def duration(text: str) -> dt.timedelta:
    """``30s``, ``30m``, ``2h``, ``7d``, ``1w`` as a timedelta (argparse type)."""
    match = _SPAN.match(text)
    if not match or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number and a unit, e.g. 30m, 2h, 7d")
    try:
        span = dt.timedelta(**{_UNITS[match[2]]: float(match[1])})
        timezone.now() - span  # a span reaching before year 1 is no use either
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} is too long a time") from None
    return span


def moment(text: str) -> dt.datetime:
    """An ISO date or datetime (naive ones are in the current time zone), or a duration
    meaning "that long ago" (``2h``, ``30m``, ``7d``) (argparse type)."""
    if _SPAN.match(text):
        return timezone.now() - duration(text)
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO datetime (2025-01-31T14:00) nor a time ago (2h, 30m,"
            " 7d)") from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def fingerprint(text: str) -> str:
    """A fingerprint (40 hex digits) or a prefix of at least 4, as shown (argparse type)."""
    try:
        return fingerprint_prefix(text)
    except FingerprintLookupError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def job_id(text: str) -> str:
    """A job id: 32 hex digits, or a UUID written with dashes (argparse type)."""
    return _hex_id(text, "job id")


def batch_id(text: str) -> str:
    """A batch id: 32 hex digits, as ``batch(...).dispatch().id`` (argparse type)."""
    return _hex_id(text, "batch id")


def _hex_id(text: str, what: str) -> str:
    value = text.strip().replace("-", "").lower()
    if not is_job_id(value):
        raise argparse.ArgumentTypeError(f"{one_line(text)!r} is not a {what} (32 hex digits)")
    return value


def operator() -> str:
    """Who runs the command, for the records and logs of what it changes
    (``command:<user>``)."""
    try:
        return f"command:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in this environment
        return "command"


def positive_int(text: str) -> int:
    """An integer of at least 1 (argparse type)."""
    return _bounded(text, int, 1)


def count(text: str) -> int:
    """An integer of at least 0 (argparse type)."""
    return _bounded(text, int, 0)


def positive_number(text: str) -> float:
    """A number above 0 (argparse type)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0")
    return value


def non_negative_number(text: str) -> float:
    """A number of at least 0 (argparse type)."""
    return _bounded(text, float, 0)


def _bounded(text: str, kind: type, minimum: float) -> Any:
    value = _number(text, kind)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of at least {minimum}")
    return value


def _number(text: str, kind: type) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value


def add_filters(parser: CommandParser, *names: str) -> None:
    """Add the filter options ``names`` (all of :data:`FILTERS` when none are given)."""
    helps = {
        "queue": ("Q", "Only failed jobs of queue Q."),
        "connection": ("NAME", "Only failed jobs queued on connection NAME."),
        "job_class": ("C", "Only jobs of this job class (registry name, e.g. shop.jobs.Send)."),
        "exception_class": ("C", "Only failures with this exception class path (e.g. "
                                 "ValueError, shop.jobs.CardDeclined)."),
        "fingerprint": ("F", "Only failures with this fingerprint: its 40 hex digits, or "
                             "an unambiguous prefix of 4 or more (as shown, 12)."),
        "since": ("T", "Only jobs that failed at or after T: an ISO datetime or a time ago "
                       "(2h, 30m, 7d)."),
        "until": ("T", "Only jobs that failed before T: an ISO datetime or a time ago."),
        "outcome": ("O", "Only records of jobs that failed (failed), or of those kept "
                         "without failing: cancelled, expired."),
        "batch": ("ID", "Only the children of batch ID (as batch_status shows it)."),
        "chain_held": ("", "Only chain steps whose records hold the steps after them "
                           "(retrying one resumes its chain)."),
    }
    for name in names or FILTERS:
        metavar, text = helps[name]
        if not metavar:  # a yes/no filter
            parser.add_argument(f"--{name.replace('_', '-')}", action="store_true",
                                default=None, help=text)
            continue
        kind = {"since": moment, "until": moment, "fingerprint": fingerprint,
                "batch": batch_id}.get(name, str)
        choices = {"outcome": OUTCOMES}.get(name)
        parser.add_argument(f"--{name.replace('_', '-')}", metavar=metavar, type=kind,
                            choices=choices, help=text)


def add_store_choice(parser: CommandParser) -> None:
    """``--store LABEL``: only the failed jobs kept in one part of the store."""
    parser.add_argument("--store", metavar="LABEL",
                        help="Only failed jobs kept in this part of the failed-job store "
                        "('database' or 'redis' with the default store; default: all).")
    # 0.1's flag for the Redis part, kept working for scripts that pass it.
    parser.add_argument("--fallback", action="store_true", help=argparse.SUPPRESS)


def chosen_store(options: dict[str, Any]) -> FailedJobStore:
    """The store ``--store`` names (``--fallback``: the Redis part), else the whole store."""
    from .. import failures

    label = options.get("store") or ("redis" if options.get("fallback") else None)
    if label is None:
        return failures.store()
    try:
        return failures.part(label)
    except ConfigurationError as exc:
        raise usage_error(str(exc)) from None


def add_queue_arguments(parser: CommandParser, what: str) -> None:
    """``QUEUE [QUEUE ...]`` and ``--connection NAME``, for a command that acts on queues of
    one connection; ``what``: the help of ``QUEUE``."""
    parser.add_argument("queues", nargs="+", metavar="QUEUE", type=_queue_name, help=what)
    parser.add_argument("--connection", metavar="NAME",
                        help="JOBQUEUE connection name (default: DEFAULT_CONNECTION).")


def _queue_name(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("a queue name cannot be empty")
    return text


def shared_transport(connection: str | None) -> Transport:
    """The transport of ``connection`` (default: DEFAULT_CONNECTION) for a command that
    changes what workers do: an unknown connection, or one whose jobs live in one process
    (no other process's workers could see the change), is a usage error."""
    try:
        transport = get_transport(connection)
    except ConfigurationError as exc:
        raise usage_error(str(exc)) from None
    if not transport.shareable_between_processes:
        raise usage_error(f"connection {transport.name!r} keeps jobs in one process only: "
                          "no worker of another process serves it")
    return transport


def criteria(options: dict[str, Any]) -> dict[str, Any]:
    """The service's filter keywords from parsed options (``--until`` is ``before``)."""
    found = {name: options.get(name) for name in FILTERS}
    found["before"] = found.pop("until")
    return {name: value for name, value in found.items() if value is not None}


class Progress:
    """A running count on a terminal (rewritten in place), or one line per step with
    ``-v 2``; silent otherwise, so cron mail holds only the summary.

    Each line says what was counted: ``verb`` and how many ``noun`` (plural), e.g. "deleted
    1,000 failed jobs so far"."""

    def __init__(self, out: Any, verbosity: int, verb: str, noun: str = "failed job") -> None:
        self.out, self.verb, self.noun = out, verb, noun
        self.tty = bool(out.isatty())
        self.enabled = self.tty or verbosity >= 2
        self.shown = False

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        line = f"{self.verb} {plural(done, self.noun)} so far"
        if self.tty:
            self.out.write(f"\r{line}", ending="")
            self.out.flush()
        else:
            self.out.write(line)
        self.shown = True

    def finish(self) -> None:
        """End the in-place line before the summary."""
        if self.tty and self.shown:
            self.out.write("")


def one_line(value: Any, width: int | None = None) -> str:
    """Stored text made safe for a terminal on one line: control characters (escape
    sequences, newlines) shown as ``\\xNN``, then cut to ``width``."""
    text = _CONTROL_OR_NEWLINE.sub(lambda m: f"\\x{ord(m[0]):02x}", str(value))
    if width is not None and len(text) > width:
        return text[: width - 1] + "…"
    return text


def block(value: Any) -> str:
    """Stored multi-line text made safe for a terminal (newlines and tabs kept)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", str(value))


def json_line(value: Any, out: TextIO | Any) -> None:
    """Write ``value`` as one line of JSON (datetimes as ISO text)."""
    out.write(json.dumps(value, default=_json_default, sort_keys=True))


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
