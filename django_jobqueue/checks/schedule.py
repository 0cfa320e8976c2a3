"""Checks of the schedule (E017-E026): every ``SCHEDULE`` entry and every job class's
``schedule`` can fire, so that a typo is an error at start-up and never a crash at 2 AM."""

from __future__ import annotations

from django.core import checks

from ..schedule import load
from .values import error


def check_schedule(refused: set[str]) -> list[checks.CheckMessage]:
    """One error for each entry that cannot work (the entry is left out of the schedule)."""
    if refused & {"SCHEDULE", "CONNECTIONS"}:
        return []  # E015 says what is wrong with their shape
    return [error(p.message, p.code, p.hint) for p in load().problems]
