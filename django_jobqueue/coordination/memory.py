"""Coordination in this process: the memory transport's counterpart, for tests and
:func:`django_jobqueue.testing.work`."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from .admission import Holders, decide
from .base import (
    Admission,
    Advance,
    Coordination,
    Guard,
    Lock,
    Permit,
    Permits,
    Taken,
    stored_name,
)
from .memory_tallies import MemoryTallies, MemoryTally

_states: dict[str, _State] = {}
_states_lock = threading.Lock()


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        # (scope, name) -> (value, expires at on the monotonic clock, or None: durable)
        self.values: dict[tuple[str, str], tuple[str, float | None]] = {}
        # (scope, name) -> {holder: expires at on the monotonic clock}
        self.permits: dict[tuple[str, str], dict[str, float]] = {}
        # (scope, name) -> the tally
        self.tallies: dict[tuple[str, str], MemoryTally] = {}

    def live(self, key: tuple[str, str]) -> str | None:
        found = self.values.get(key)
        if found is None:
            return None
        value, expires = found
        if expires is not None and expires <= time.monotonic():
            del self.values[key]
            return None
        return value

    def permit_holders(self, key: tuple[str, str]) -> dict[str, float]:
        """The live holders of the permits ``key`` (the expired ones forgotten)."""
        now = time.monotonic()
        holders = {holder: expires for holder, expires in self.permits.get(key, {}).items()
                   if expires > now}
        if holders:
            self.permits[key] = holders
        else:
            self.permits.pop(key, None)
        return holders

    def holder(self, key: tuple[str, str]) -> str | None:
        """The live lock's holder (a durable value is no lock)."""
        value = self.live(key)
        return value if value is not None and self.values[key][1] is not None else None


class MemoryCoordination(Coordination):
    """Values in a dict shared by every instance of one connection name."""

    def __init__(self, connection: str) -> None:
        with _states_lock:
            self._state = _states.setdefault(connection, _State())
        super().__init__(connection, MemoryPermits(self._state),
                         MemoryTallies(self._state.lock, self._state.tallies))

    @property
    def lock(self) -> threading.RLock:
        """Held around a guarded push, so the take and the push are one step."""
        return self._state.lock

    def take(self, guard: Guard) -> Taken:
        return self.take_all([guard])

    def take_all(self, guards: Sequence[Guard]) -> Taken:
        """Grant every guard or none (a guarded push holds :attr:`lock` around
        :meth:`refusal`, the push, and this)."""
        with self._state.lock:
            refused = self.refusal(guards)
            if refused is not None:
                return refused
            for guard in guards:
                self._apply(guard)
        return Taken(True, _granted_value(guards[0]))

    def refusal(self, guards: Sequence[Guard]) -> Taken | None:
        """The answer of the first guard that would be refused now; None if none would."""
        with self._state.lock:
            for index, guard in enumerate(guards):
                current = self._state.live((guard.scope, stored_name(guard.name)))
                if not _allows(guard, current):
                    return Taken(False, current, index)
        return None

    def _apply(self, guard: Guard) -> None:
        key = (guard.scope, stored_name(guard.name))
        if isinstance(guard, Lock):
            self._state.values[key] = (guard.holder, time.monotonic() + guard.ttl)
        else:
            self._state.values[key] = (guard.new, None)

    def release(self, scope: str, name: str, holder: str) -> bool:
        key = (scope, stored_name(name))
        with self._state.lock:
            if self._state.holder(key) != holder:
                return False
            del self._state.values[key]
            return True

    def renew(self, scope: str, name: str, holder: str, ttl: float) -> bool:
        key = (scope, stored_name(name))
        with self._state.lock:
            if self._state.holder(key) != holder:
                return False
            self._state.values[key] = (holder, time.monotonic() + ttl)
            return True

    def read(self, scope: str, names: Sequence[str]) -> dict[str, str]:
        with self._state.lock:
            found = {name: self._state.live((scope, stored_name(name))) for name in names}
        return {name: value for name, value in found.items() if value is not None}

    def write(self, scope: str, name: str, value: str | None, ttl: float | None = None) -> None:
        key = (scope, stored_name(name))
        with self._state.lock:
            if value is None:
                self._state.values.pop(key, None)
            else:
                expires = None if ttl is None else time.monotonic() + ttl
                self._state.values[key] = (value, expires)

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._state.lock:
            self._state.values.clear()
            self._state.permits.clear()
            self._state.tallies.clear()


class MemoryPermits(Permits):
    """Permits in the shared state of a :class:`MemoryCoordination`, under its lock."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def admit(self, scope: str, groups: Sequence[Sequence[Permit]],
              releasing: Sequence[tuple[str, str]] = ()) -> list[Admission]:
        names = {permit.name for group in groups for permit in group}
        with self.state.lock:
            self.give_back(scope, releasing)
            now = time.monotonic()
            live: Holders = {}
            for name in names:
                holders = self.state.permit_holders((scope, stored_name(name)))
                live[name] = {holder: expires - now for holder, expires in holders.items()}
            answers, grants = decide(groups, live)
            for (name, holder), ttl in grants.items():
                key = (scope, stored_name(name))
                self.state.permits.setdefault(key, {})[holder] = now + ttl
        return answers

    def give_back(self, scope: str, permits: Sequence[tuple[str, str]]) -> None:
        with self.state.lock:
            for name, holder in permits:
                self.state.permits.get((scope, stored_name(name)), {}).pop(holder, None)

    def extend(self, scope: str, permits: Sequence[tuple[str, str]],
               ttl: float) -> list[tuple[str, str]]:
        lost = []
        with self.state.lock:
            for name, holder in permits:
                key = (scope, stored_name(name))
                if holder in self.state.permit_holders(key):
                    self.state.permits[key][holder] = time.monotonic() + ttl
                else:
                    lost.append((name, holder))
        return lost

    def holders(self, scope: str, names: Sequence[str]) -> dict[str, int]:
        with self.state.lock:
            return {name: len(self.state.permit_holders((scope, stored_name(name))))
                    for name in names}


def _allows(guard: Guard, current: str | None) -> bool:
    if isinstance(guard, Lock):
        return current in (None, guard.holder)
    assert isinstance(guard, Advance)
    return current == guard.expected


def _granted_value(guard: Guard) -> str:
    return guard.holder if isinstance(guard, Lock) else guard.new
