"""Concurrency and rate limits: what a job class declares, what its payload carries, and
the permits a worker takes before it starts the job.

A class declares ``concurrency_limit`` (at most so many of its jobs run at once, across
every worker and host) and ``rate_limit`` (``"100/m"``: at most so many start in any
minute), each per key (``concurrency_key()``, ``rate_key()``; default: the class). The keys
are job code, so they are computed at dispatch and travel in the payload
(``"limits": {"concurrency": key, "rate": key}``); the numbers are read from the class when
the job starts, so a deploy that changes a limit applies to jobs already queued.

A worker starts a limited job only once the store grants its permits
(:meth:`~django_jobqueue.coordination.Coordination.admit`): a concurrency permit held while
the job runs (renewed with its lease, given back when it ends, expiring with a dead
worker's lease), and a rate permit held for the rate's period and never given back, so no
window of that length sees more starts than the limit, by the store's clock.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..shapes import is_number

if TYPE_CHECKING:
    from ..jobs import Job

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
          "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    """At most ``count`` starts in any ``period`` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s"


def parse_rate(text: Any) -> Rate:
    """``"100/m"``, ``"5/s"``, ``"1000/h"``, ``"10/5m"`` (per five minutes) or ``"1/day"``
    as a :class:`Rate`; :class:`ConfigurationError` for anything else."""
    match = _RATE.match(text.lower()) if isinstance(text, str) else None
    unit = _unit(match.group(3)) if match else None
    if match is None or unit is None:
        raise ConfigurationError(
            f"a rate limit is written like '100/m' (a count, '/', then s, m, h or d,"
            f" optionally after a number: '10/5m'), not {text!r}")
    count, times = int(match.group(1)), float(match.group(2) or 1)
    if count < 1 or times <= 0:
        raise ConfigurationError(f"a rate limit needs a count and a period above 0: {text!r}")
    return Rate(count, times * unit)


def _unit(word: str) -> float | None:
    """Seconds in a unit: ``s``, ``sec``, ``second`` or ``seconds`` (a plural is only
    the singular's ``s``: ``ms`` is no unit, not minutes)."""
    if word in _UNITS:
        return _UNITS[word]
    singular = word.removesuffix("s")
    return _UNITS.get(singular) if len(singular) > 1 else None


def suggest_rate(text: Any) -> str | None:
    """``"Did you mean '100/min'?"`` for a rate whose unit is a near miss, else None."""
    if not isinstance(text, str) or "/" not in text:
        return None
    count, _, period = text.partition("/")
    unit = period.strip().lstrip("0123456789.").lower()
    close = difflib.get_close_matches(unit, list(_UNITS), n=1, cutoff=0.5)
    if not close or not count.strip().isdigit():
        return None
    number = period.strip()[: len(period.strip()) - len(unit)]
    return f"Did you mean '{count.strip()}/{number}{close[0]}'?"


def keys_for(job: Job) -> dict[str, str] | None:
    """The limit keys a dispatch of ``job`` carries in its payload (None: no limit)."""
    cls = type(job)
    keys = {}
    if cls.concurrency_limit is not None:
        keys["concurrency"] = str(job.concurrency_key())
    if cls.rate_limit is not None:
        keys["rate"] = str(job.rate_key())
    return keys or None


def expiry_of(job: Job, delay: float, expires_at: Any, now: float) -> float | None:
    """When a dispatch of ``job`` expires (epoch seconds): ``expires_at`` if given (an aware
    ``datetime`` or epoch seconds), else the class's ``expires_after`` counted from when
    the job is due; None: never."""
    if expires_at is not None:
        if isinstance(expires_at, dt.datetime):
            if expires_at.tzinfo is None:
                raise ConfigurationError("expires_at must be an aware datetime")
            return expires_at.timestamp()
        if is_number(expires_at):
            return float(expires_at)
        raise ConfigurationError(f"expires_at must be a datetime or epoch seconds, not"
                                 f" {expires_at!r}")
    after = type(job).expires_after
    if after is None:
        return None
    seconds = after.total_seconds() if isinstance(after, dt.timedelta) else float(after)
    return now + max(delay, 0.0) + seconds


def expired(document: Any, now: float) -> bool:
    """True when a payload's ``expires_at`` has passed: the job must not start."""
    expires = document.get("expires_at") if isinstance(document, dict) else None
    return is_number(expires) and expires <= now


def expiry_message(document: dict[str, Any], now: float) -> str:
    """What an expired job's record says."""
    expires = float(document["expires_at"])
    when = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    ran = "it did not run again" if document.get("errors") else "it never ran"
    return f"expired: not started by {when} UTC ({now - expires:.1f}s late); {ran}"


def concurrency_name(key: str) -> str:
    return f"concurrency:{key}"


def rate_name(key: str) -> str:
    return f"rate:{key}"
