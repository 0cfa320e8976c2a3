"""Tallies in this process, for the memory transport's coordination: each tally a dict of
its members' states and the counts kept beside it, changed under the connection's lock."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .base import stored_name
from .tallies import ENDS, PENDING, Tallies, Tally, after_end, after_reopen

Key = tuple[str, str]


@dataclass
class MemoryTally:
    """One tally: each member's state, how many are in each, and when it expires (the
    monotonic clock)."""

    expires: float
    states: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def move(self, member: str, state: str) -> None:
        self.counts[self.states[member]] -= 1
        self.counts[state] += 1
        self.states[member] = state

    def as_tally(self, name: str) -> Tally:
        return Tally(name, len(self.states), **{end: self.counts[end] for end in ENDS})


class MemoryTallies(Tallies):
    """The tallies in ``tallies`` (shared by every coordination of one connection name),
    each call one step under ``lock``."""

    def __init__(self, lock: threading.RLock, tallies: dict[Key, MemoryTally]) -> None:
        self.lock = lock
        self.tallies = tallies

    def add(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        with self.lock:
            tally = self._live(scope, name)
            if tally is None:
                tally = self.tallies[_key(scope, name)] = MemoryTally(0.0)
            for member in map(stored_name, members):
                if member not in tally.states:
                    tally.states[member] = PENDING
                    tally.counts[PENDING] += 1
            tally.expires = time.monotonic() + ttl
            return tally.as_tally(name)

    def count(self, scope: str, name: str, ends: Sequence[tuple[str, str]],
              ttl: float) -> Tally:
        with self.lock:
            tally = self._live(scope, name)
            if tally is None:
                return Tally(name)
            for member, outcome in ends:
                state = tally.states.get(stored_name(member))
                if state is not None:
                    tally.move(stored_name(member), after_end(state, outcome))
            tally.expires = time.monotonic() + ttl
            return tally.as_tally(name)

    def reopen(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        with self.lock:
            tally = self._live(scope, name)
            if tally is None:
                return Tally(name)
            for member in map(stored_name, members):
                if member in tally.states:
                    tally.move(member, after_reopen(tally.states[member]))
            tally.expires = time.monotonic() + ttl
            return tally.as_tally(name)

    def read(self, scope: str, names: Sequence[str]) -> dict[str, Tally]:
        with self.lock:
            found = {name: self._live(scope, name) for name in names}
            return {name: Tally(name) if tally is None else tally.as_tally(name)
                    for name, tally in found.items()}

    def members(self, scope: str, name: str, state: str | None = None, after: str = "",
                limit: int = 1000) -> list[tuple[str, str]]:
        with self.lock:
            tally = self._live(scope, name)
            chosen = [] if tally is None else [
                (member, now) for member, now in tally.states.items()
                if member > after and (state is None or now == state)]
        # Sorted outside the lock: a listing is no reason to hold up the other calls.
        return sorted(chosen)[:limit]

    def forget(self, scope: str, name: str) -> None:
        with self.lock:
            self.tallies.pop(_key(scope, name), None)

    def _live(self, scope: str, name: str) -> MemoryTally | None:
        """The tally, unless it expired (then it is forgotten)."""
        key = _key(scope, name)
        tally = self.tallies.get(key)
        if tally is not None and tally.expires <= time.monotonic():
            del self.tallies[key]
            return None
        return tally


def _key(scope: str, name: str) -> Key:
    return (scope, stored_name(name))
