"""The schedule as operators see it: ``manage.py schedule`` and the admin's Schedules page
call these, never the store.

An operator's enable or disable is kept in the store (:mod:`.state`) and overrides the
declaration's ``ENABLED`` until changed again; workers see it within
:data:`~.firing.FULL_PASS` seconds. Enabling moves the entry's cursor to its latest past
slot, so slots missed while it was disabled do not fire then (the missed-run policy is for
downtime, not for a decision to pause). "Run now" queues the entry's job at once, as a
dispatch would, without touching the entry's slots.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass

from ..coordination import Advance, Coordination
from ..dispatch import Dispatched, prepare, push_now
from ..exceptions import TransportError, UnknownScheduleEntry
from ..transports import get_transport
from . import state
from .entries import ScheduleEntry, entries
from .firing import placement


@dataclass(frozen=True)
class EntryStatus:
    """One entry, where its jobs go, whether it fires, and what the store says of it
    (``store_error`` when the store did not answer: the rest is then unknown)."""

    entry: ScheduleEntry
    connection: str
    queue: str
    enabled: bool
    #: An operator's enable or disable overrides the declaration's ``ENABLED``.
    overridden: bool
    last: state.LastRun | None
    outcome: state.LastOutcome | None
    #: When it fires next (epoch seconds); None when disabled.
    next_run: float | None
    store_error: str | None = None


def overview(now: float | None = None) -> list[EntryStatus]:
    """Every entry, sorted by name."""
    return [_status(entry, now) for entry in entries()]


def status(name: str, now: float | None = None) -> EntryStatus:
    """One entry; :class:`UnknownScheduleEntry` (with a suggestion) if none has ``name``."""
    return _status(_entry(name), now)


def enable(name: str, now: float | None = None) -> EntryStatus:
    """Fire ``name`` from its next slot on: slots missed while it was disabled are not
    fired. The cursor only moves forward, by compare-and-set, and only for an entry that
    was disabled (enabling an enabled entry changes nothing a worker did)."""
    entry = _entry(name)
    connection, queue = placement(entry)
    co = get_transport(connection).coordination
    now = time.time() if now is None else now
    if not state.read(co, queue, entry.name).enabled(entry.enabled):
        _move_cursor_to(co, queue, entry, now)
    co.write(queue, state.enabled_name(entry.name), "1")
    return status(name, now)


def _move_cursor_to(co: Coordination, queue: str, entry: ScheduleEntry, now: float) -> None:
    """Move the entry's cursor to its latest slot up to ``now``, unless it is there or
    past it (a worker fired it meanwhile, or this host's clock is behind theirs)."""
    latest = entry.timing.slots(0.0, now, 1)
    if not latest:
        return
    for _ in range(3):  # a worker moving it meanwhile: read again
        current = state.read(co, queue, entry.name).cursor_text
        if (state.parse_slot(current) or 0.0) >= latest[0]:
            return
        advance = Advance(queue, state.cursor_name(entry.name), current,
                          state.slot_text(latest[0]))
        if co.take(advance).granted:
            return


def disable(name: str) -> EntryStatus:
    """Stop firing ``name`` until it is enabled again."""
    entry = _entry(name)
    connection, queue = placement(entry)
    get_transport(connection).coordination.write(queue, state.enabled_name(entry.name), "0")
    return status(name)


def run_now(name: str) -> Dispatched:
    """Queue ``name``'s job at once (enabled or not; inside a transaction too, since the
    operator is told the outcome now): a unique job whose key is held is not queued
    (``duplicate``)."""
    entry = _entry(name)
    connection, queue = placement(entry)
    prepared = prepare(entry.new_job(), queue=queue, connection=connection,
                       extra={"schedule": {"entry": entry.name, "slot": None}})
    result = push_now(prepared)
    if not result.duplicate:
        state.write_last(get_transport(connection).coordination, queue, entry.name,
                         state.LastRun(None, result.id, time.time(), "run now"))
    return result


def _entry(name: str) -> ScheduleEntry:
    known = {entry.name: entry for entry in entries()}
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(sorted(known)) or "none"
    raise UnknownScheduleEntry(f"no schedule entry named {name!r}.{hint} (entries: {listed})")


def _status(entry: ScheduleEntry, now: float | None) -> EntryStatus:
    now = time.time() if now is None else now
    connection, queue = placement(entry)
    try:
        found = state.read(get_transport(connection).coordination, queue, entry.name)
    except TransportError as exc:
        return EntryStatus(entry, connection, queue, entry.enabled, False, None, None,
                           entry.timing.next_after(now) if entry.enabled else None, str(exc))
    enabled = found.enabled(entry.enabled)
    return EntryStatus(entry, connection, queue, enabled, found.enabled_override is not None,
                       found.last, found.outcome,
                       entry.timing.next_after(now) if enabled else None)
