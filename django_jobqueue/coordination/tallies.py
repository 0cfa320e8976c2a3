"""Tallies: the members of a workflow (a batch's jobs) and how each ended, counted once.

DESIGN.md asks for "decrement and tell me if I was last". A bare counter cannot be told
the same end twice, and a worker SIGKILLed between a job's end and its ack runs that end
again: it would count a job twice and the batch would end early (or, told nothing, never).
So a tally keeps each member by name, and an end moves a member from ``pending`` to its
outcome once; telling it again changes nothing and returns the same counts. The caller
reads ``complete`` from the answer: every caller that ends a member once the tally is
complete sees it, and the workflow's callbacks are pushed behind guards that grant once
(:class:`~django_jobqueue.coordination.Advance`), so whoever sees it, they fire once.

A member's states: ``pending`` (added, not ended), ``succeeded``, ``failed``,
``cancelled``. An end moves a ``pending`` member, and a ``failed`` one to ``succeeded`` (a
run of a job that had failed for good succeeded after all: an operator's retry); any other
end of a member that ended is a repeat and is ignored. :meth:`Tallies.reopen` moves failed
and cancelled members back to ``pending`` (an operator retries them). A tally lives
``ttl`` seconds (store clock) after the last call that changed or added to it; the store
deletes it then (:meth:`~django_jobqueue.coordination.Coordination.prune` where the store
does not expire keys itself).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
#: The outcomes an end can have.
ENDS = (SUCCEEDED, FAILED, CANCELLED)
#: Every state a member can be in.
STATES = (PENDING, *ENDS)
#: The states :meth:`Tallies.reopen` moves back to ``pending``.
REOPENED = (FAILED, CANCELLED)


@dataclass(frozen=True)
class Tally:
    """How the members of tally ``name`` stand. A tally that does not exist (never added
    to, or expired) reads as all zeros."""

    name: str
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def ended(self) -> int:
        return self.succeeded + self.failed + self.cancelled

    @property
    def pending(self) -> int:
        return self.total - self.ended

    @property
    def complete(self) -> bool:
        """Every member has ended (a tally with no members is not complete)."""
        return self.total > 0 and self.pending == 0

    @property
    def all_succeeded(self) -> bool:
        return self.total > 0 and self.succeeded == self.total


def check_ends(ends: Sequence[tuple[str, str]]) -> None:
    """Refuse an end whose outcome is not one of :data:`ENDS`."""
    for member, outcome in ends:
        if outcome not in ENDS:
            raise ValueError(f"member {member!r}: an end is one of {ENDS}, not {outcome!r}")


def after_end(state: str, outcome: str) -> str:
    """The state of a member in ``state`` once it is told ``outcome``: a pending member
    takes the outcome, a failed one may still succeed, any other end is a repeat."""
    if state == PENDING or (state == FAILED and outcome == SUCCEEDED):
        return outcome
    return state


def after_reopen(state: str) -> str:
    """The state of a member in ``state`` once :meth:`Tallies.reopen` moves it."""
    return PENDING if state in REOPENED else state


class Tallies(ABC):
    """The tallies of one store (the object its coordination holds as ``tallies``). Every
    call is one atomic step (one round trip where the store allows) and renews the
    tally's ``ttl``. Names live in a scope, as locks' do (one Redis Cluster slot)."""

    @abstractmethod
    def add(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        """Add ``members`` as ``pending`` (creating the tally); a member it has already,
        in any state, is left as it is. Returns the counts after."""

    @abstractmethod
    def count(self, scope: str, name: str, ends: Sequence[tuple[str, str]],
              ttl: float) -> Tally:
        """Record ``(member, outcome)`` ends, each moving its member as the module says
        (a repeat, or a member the tally does not have, changes nothing). Returns the
        counts after."""

    @abstractmethod
    def reopen(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        """Move those of ``members`` that failed or were cancelled back to ``pending``.
        Returns the counts after."""

    @abstractmethod
    def read(self, scope: str, names: Sequence[str]) -> dict[str, Tally]:
        """The counts of each of ``names`` (zeros for one that does not exist)."""

    @abstractmethod
    def members(self, scope: str, name: str, state: str | None = None, after: str = "",
                limit: int = 1000) -> list[tuple[str, str]]:
        """``(member, state)`` of tally ``name``, in member order, those after ``after``,
        at most ``limit``; only those in ``state`` when given (one of :data:`STATES`)."""

    @abstractmethod
    def forget(self, scope: str, name: str) -> None:
        """Delete tally ``name`` and its members."""


class CheckedTallies(Tallies):
    """A store's tallies behind the checks every store shares, made once here: a bad
    argument raises :class:`ValueError` in the caller before the store is asked, and a
    call with nothing to change only reads. Repeated members are passed on once."""

    def __init__(self, store: Tallies) -> None:
        self.store = store

    def add(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        _check_key(scope, name)
        _check_ttl(ttl)
        asked = _distinct_members(members)
        if not asked:
            return self._one(scope, name)
        return self.store.add(scope, name, asked, ttl)

    def count(self, scope: str, name: str, ends: Sequence[tuple[str, str]],
              ttl: float) -> Tally:
        _check_key(scope, name)
        _check_ttl(ttl)
        check_ends(ends)
        # A repeat of the same end in one call changes nothing; the order of different
        # ends of one member matters (failed, then succeeded) and is kept.
        asked = list(dict.fromkeys((member, outcome) for member, outcome in ends))
        _check_members([member for member, _ in asked])
        if not asked:
            return self._one(scope, name)
        return self.store.count(scope, name, asked, ttl)

    def reopen(self, scope: str, name: str, members: Sequence[str], ttl: float) -> Tally:
        _check_key(scope, name)
        _check_ttl(ttl)
        asked = _distinct_members(members)
        if not asked:
            return self._one(scope, name)
        return self.store.reopen(scope, name, asked, ttl)

    def read(self, scope: str, names: Sequence[str]) -> dict[str, Tally]:
        asked = list(dict.fromkeys(names))
        for name in asked:
            _check_key(scope, name)
        return self.store.read(scope, asked) if asked else {}

    def members(self, scope: str, name: str, state: str | None = None, after: str = "",
                limit: int = 1000) -> list[tuple[str, str]]:
        _check_key(scope, name)
        if state is not None and state not in STATES:
            raise ValueError(f"a member's state is one of {STATES}, not {state!r}")
        if not isinstance(after, str):
            raise ValueError(f"after is a member's name, not {after!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit is a whole number above 0, not {limit!r}")
        return self.store.members(scope, name, state, after, limit)

    def forget(self, scope: str, name: str) -> None:
        _check_key(scope, name)
        self.store.forget(scope, name)

    def _one(self, scope: str, name: str) -> Tally:
        return self.store.read(scope, [name])[name]


def _check_key(scope: str, name: str) -> None:
    for what, value in (("scope", scope), ("name", name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"a tally's {what} is a non-empty string, not {value!r}")


def _check_ttl(ttl: float) -> None:
    # bool is an int; NaN and infinity would never expire or compare.
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not (
            math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"a tally's ttl is a number of seconds above 0, not {ttl!r}")


def _distinct_members(members: Sequence[str]) -> list[str]:
    _check_members(members)
    return list(dict.fromkeys(members))


def _check_members(members: Sequence[str]) -> None:
    if isinstance(members, str):
        # A string is a sequence too: its letters would each become a member.
        raise ValueError(f"members is a sequence of names, not the string {members!r}")
    for member in members:
        if not isinstance(member, str) or not member:
            raise ValueError(f"a member is a non-empty string, not {member!r}")


__all__ = ["CANCELLED", "ENDS", "FAILED", "PENDING", "REOPENED", "STATES", "SUCCEEDED",
           "CheckedTallies", "Tallies", "Tally", "after_end", "after_reopen", "check_ends"]
