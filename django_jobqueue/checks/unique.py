"""Check of unique jobs (E027): every registered job class's ``unique_for`` and
``unique_until`` can work, so a typo is an error at start-up, not at the first dispatch."""

from __future__ import annotations

from django.core import checks

from ..jobs import registered
from ..schedule.fields import did_you_mean
from ..shapes import is_number
from ..unique import UNTIL
from .values import error

UNIQUE = "E027"


def check_unique_jobs() -> list[checks.CheckMessage]:
    """One error per job class whose unique options are wrong."""
    errors = []
    for name, cls in sorted(registered().items()):
        ttl, until = cls.unique_for, cls.unique_until
        if ttl is not None and (not is_number(ttl) or ttl <= 0):
            errors.append(error(f"{name}.unique_for must be a number of seconds above 0, or"
                                f" None (not unique), not {ttl!r}.", UNIQUE))
        if until not in UNTIL:
            errors.append(error(
                f"{name}.unique_until must be one of {', '.join(map(repr, UNTIL))},"
                f" not {until!r}.", UNIQUE, did_you_mean(until, UNTIL)))
    return errors
