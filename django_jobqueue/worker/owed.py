"""Outcomes a supervisor owes its store: retries to release and failures to record.

An attempt's outcome waits here, oldest first, until the store takes it. A store that is down
makes outcomes wait (their jobs' leases are renewed meanwhile); nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..transports import Reserved


@dataclass
class Owed:
    """An attempt's outcome the store has not taken yet: a retry to release, or a failure
    to record (then its ``failed()`` hook runs in ``horse_pid``, which holds the exception)."""

    job: Reserved
    result: dict[str, Any]
    horse_pid: int
    due: float = 0.0
    # Once recorded, a failure is only removed and hooked on a later try, never recorded
    # again; one whose batch failed is tried alone next, so a bad record holds no other.
    info: dict[str, Any] | None = None
    alone: bool = False


class Outcomes:
    """Retries and failures waiting for the store, oldest first. A store that is down
    makes them wait (their leases are renewed meanwhile), never drops them."""

    def __init__(self) -> None:
        self.items: list[Owed] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: Owed) -> None:
        self.items.append(item)

    def take_due(self, now: float) -> list[Owed]:
        due = [item for item in self.items if item.due <= now]
        if due:
            self.items = [item for item in self.items if item.due > now]
        return due

    def next_due(self) -> float | None:
        return min((item.due for item in self.items), default=None)

    def jobs(self) -> list[Reserved]:
        return [item.job for item in self.items]
