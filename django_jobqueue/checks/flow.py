"""Checks of flow-control options on job classes (E028-E030): a limit or an expiry that
cannot work is an error at start-up, not a job that never runs."""

from __future__ import annotations

import datetime as dt

from django.core import checks

from ..exceptions import ConfigurationError
from ..flow.limits import parse_rate, suggest_rate
from ..jobs import registered
from ..shapes import is_number
from .values import error

CONCURRENCY, RATE, EXPIRY = "E028", "E029", "E030"


def check_flow_control() -> list[checks.CheckMessage]:
    """One error per wrong option of each registered job class."""
    errors = []
    for name, cls in sorted(registered().items()):
        limit, rate, expiry = cls.concurrency_limit, cls.rate_limit, cls.expires_after
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                  or limit < 1):
            errors.append(error(f"{name}.concurrency_limit must be a whole number of jobs"
                                f" (1 or more), or None (no limit), not {limit!r}.",
                                CONCURRENCY))
        if rate is not None:
            try:
                parse_rate(rate)
            except ConfigurationError as exc:
                errors.append(error(f"{name}.rate_limit: {exc}.", RATE, suggest_rate(rate)
                                    or "For example '100/m', '5/s', '1000/h' or '10/5m'."))
        if expiry is not None and not _seconds(expiry):
            errors.append(error(f"{name}.expires_after must be a number of seconds above 0 or"
                                f" a timedelta, or None (never expires), not {expiry!r}.",
                                EXPIRY))
    return errors


def _seconds(value: object) -> bool:
    if isinstance(value, dt.timedelta):
        return value.total_seconds() > 0
    return is_number(value) and float(value) > 0  # type: ignore[arg-type]
