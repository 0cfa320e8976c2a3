"""What the store keeps about each schedule entry, through the coordination primitives.

Four durable values per entry, in the scope of the queue its jobs go to:

- ``schedule:<name>:cursor``: the last slot fired or skipped. Workers move it only by
  compare-and-set, in the same atomic step as the push of the slot's job: of all the
  workers that see a slot due, one moves the cursor and queues the job. A fired slot's
  cursor also names its job (JSON: slot, job id, when, by whom), so a fire is one write;
  a skipped one is the slot alone (epoch seconds).
- ``schedule:<name>:enabled``: ``"1"`` or ``"0"`` when an operator enabled or disabled the
  entry (``manage.py schedule``, the admin), overriding the declaration's ``ENABLED``.
- ``schedule:<name>:last``: the last job an operator ran by hand (JSON, as the cursor's).
- ``schedule:<name>:outcome``: how the last fired job that ended ended (JSON).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..coordination import Coordination
from ..logutil import log_event
from ..payload import json_object

logger = logging.getLogger(__name__)


def cursor_name(entry: str) -> str:
    return f"schedule:{entry}:cursor"


def enabled_name(entry: str) -> str:
    return f"schedule:{entry}:enabled"


def last_name(entry: str) -> str:
    return f"schedule:{entry}:last"


def outcome_name(entry: str) -> str:
    return f"schedule:{entry}:outcome"


def slot_text(slot: float) -> str:
    """A slot passed over, as the cursor stores it (compared as text, as it was read):
    exactly, since a slot read back a hair early would be due again (``EVERY: 1.1``)."""
    return repr(float(slot))


def fired_text(run: LastRun) -> str:
    """A fired slot as the cursor stores it: the slot and its job."""
    return json.dumps({"slot": run.slot, "job": run.job_id, "fired_at": run.fired_at,
                       "by": run.by}, separators=(",", ":"))


@dataclass(frozen=True)
class LastRun:
    """A job the scheduler fired: for which slot (None: run by hand), its id, when."""

    slot: float | None
    job_id: str
    fired_at: float
    by: str


@dataclass(frozen=True)
class LastOutcome:
    """How a fired job ended: ``succeeded`` or ``failed`` (for good), and when."""

    job_id: str
    outcome: str
    at: float


@dataclass(frozen=True)
class EntryState:
    """An entry's values as read from the store in one call."""

    cursor_text: str | None = None
    enabled_override: bool | None = None
    run_by_hand: LastRun | None = None
    outcome: LastOutcome | None = None

    @property
    def cursor(self) -> float | None:
        return parse_slot(self.cursor_text)

    @property
    def last(self) -> LastRun | None:
        """The last job queued for the entry: the cursor's, or one run by hand since."""
        fired = _last_run(self.cursor_text)
        runs = [run for run in (fired, self.run_by_hand) if run is not None]
        return max(runs, key=lambda run: run.fired_at) if runs else None

    def enabled(self, declared: bool) -> bool:
        """Enabled by an operator's override, else as declared."""
        return declared if self.enabled_override is None else self.enabled_override


def read(co: Coordination, scope: str, entry: str) -> EntryState:
    """The entry's values, one round trip; unreadable ones count as absent."""
    return read_many(co, scope, [entry])[entry]


def read_many(co: Coordination, scope: str, entries: list[str],
              firing: bool = False) -> dict[str, EntryState]:
    """The values of several entries of one scope, in one round trip (``firing``: only
    what the scheduler needs, the cursor and the operator's flag)."""
    names = {entry: (cursor_name(entry), enabled_name(entry)) if firing else
             (cursor_name(entry), enabled_name(entry), last_name(entry), outcome_name(entry))
             for entry in entries}
    found = co.read(scope, [name for group in names.values() for name in group])
    return {entry: _state(*(found.get(name) for name in group))
            for entry, group in names.items()}


def _state(cursor: str | None, flag: str | None, last: str | None = None,
           outcome: str | None = None) -> EntryState:
    # The cursor as stored, readable or not: a compare-and-set from it replaces it.
    return EntryState(
        cursor_text=cursor,
        enabled_override=None if flag not in ("0", "1") else flag == "1",
        run_by_hand=_last_run(last),
        outcome=_outcome(outcome),
    )


def write_last(co: Coordination, scope: str, entry: str, run: LastRun) -> None:
    """Remember a job run by hand (a fired one is named by the cursor itself)."""
    co.write(scope, last_name(entry), fired_text(run))


def record_outcome(body: Any, job_id: str, outcome: str) -> None:
    """Remember how a fired job ended (its payload names the entry). A store that does not
    answer loses only this line of ``manage.py schedule``, never the job's outcome."""
    marker = body.get("schedule") if isinstance(body, dict) else None
    if not isinstance(marker, dict) or not isinstance(marker.get("entry"), str):
        return
    from ..transports import get_transport

    value = json.dumps({"job": job_id, "outcome": outcome, "at": time.time()})
    try:
        co = get_transport(body.get("connection")).coordination
        co.write(str(body.get("queue")), outcome_name(marker["entry"]), value)
    except Exception as exc:
        log_event(logger, logging.WARNING, "schedule_outcome_not_kept", entry=marker["entry"],
                  id=job_id, error=exc)


def parse_slot(text: str | None) -> float | None:
    """The slot of a stored cursor, plain or naming its job (None when absent or
    unreadable)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    data = json_object(text)
    slot = data.get("slot") if data is not None else None
    return float(slot) if isinstance(slot, (int, float)) else None


def _last_run(text: str | None) -> LastRun | None:
    data = json_object(text)
    if data is None or "job" not in data:
        return None
    slot = data.get("slot")
    return LastRun(float(slot) if _is_number(slot) else None, str(data.get("job", "")),
                   _number(data.get("fired_at")), str(data.get("by", "")))


def _outcome(text: str | None) -> LastOutcome | None:
    data = json_object(text)
    if data is None:
        return None
    return LastOutcome(str(data.get("job", "")), str(data.get("outcome", "")),
                       _number(data.get("at")))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> float:
    """A stored time, 0 when it is not a number (a value written by hand, say)."""
    return float(value) if _is_number(value) else 0.0
