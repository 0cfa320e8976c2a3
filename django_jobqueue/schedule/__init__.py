"""Periodic jobs: what fires when (the definitions side).

- :mod:`.timing`: :class:`Cron` and :class:`Every`, when an entry fires, in epoch seconds.
- :mod:`.missed`: :func:`decide`, which slots to fire now under an entry's missed-run policy.
- :mod:`.entries`: :class:`ScheduleEntry` and :func:`entries`, read from the ``SCHEDULE``
  setting and from job classes' ``schedule`` attributes.

The worker's scheduler step fires the entries; the system checks (E017-E026) refuse a
declaration that cannot work before any worker starts.
"""

from __future__ import annotations

from .entries import Loaded, ScheduleEntry, entries, load
from .missed import CATCH_UP, ONCE, POLICIES, SKIP, Due, decide
from .timing import Cron, Every, Timing

__all__ = [
    "CATCH_UP",
    "ONCE",
    "POLICIES",
    "SKIP",
    "Cron",
    "Due",
    "Every",
    "Loaded",
    "ScheduleEntry",
    "Timing",
    "decide",
    "entries",
    "load",
]
