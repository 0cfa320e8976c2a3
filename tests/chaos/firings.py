"""Scenario 15's count of schedule fires, from two records that do not share a failure.

- The **ledger**: each fired job, just before it runs, appends ``slot`` (its id, entry and
  slot, read by the horse from the payload: :mod:`tests.chaos.slots`), then ``start`` and
  ``finish`` from ``handle()``. A fired job that is not lost runs, so it shows here, whoever
  fired it and whether that worker lived.
- The workers' **log lines** ``event=schedule_fired entry=… id=… slot=…``, written by the
  worker that won the slot right after the push committed (with ``ts=``: when it fired). A
  worker SIGKILLed between the commit and the line leaves a fire without its line.

A fire is a job id; the fires of a slot are the distinct ids that either record gives it.
A slot fired twice is two ids for one slot, seen unless *both* of its second job's traces
are missing (never logged *and* lost, which ``Chaos.tally`` reports as lost). A fire's slot
is taken from its own payload, so a job cannot be counted for a slot it was not fired for;
the two records must agree on every id they share.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_FIRED = re.compile(r"^ts=(?P<ts>\S+) .*?event=schedule_fired entry=(?P<entry>\S+) .*?"
                    r"id=(?P<id>\S+) slot=(?P<slot>\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Logged:
    """One ``schedule_fired`` line: when (epoch seconds), which entry, job id and slot."""

    at: float
    entry: str
    id: str
    slot: float


def logged_fires(text: str) -> list[Logged]:
    """The ``schedule_fired`` lines of worker logs written with ``JQ_CHAOS_LOG_TS``."""
    found = []
    for match in _FIRED.finditer(text):
        at = dt.datetime.fromisoformat(match["ts"]).timestamp()
        slot = dt.datetime.strptime(match["slot"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.UTC).timestamp()
        found.append(Logged(at, match["entry"], match["id"], slot))
    return found


def count(entry: str, interval: float, events: Iterable[dict[str, Any]],
          logged: Iterable[Logged]) -> dict[str, Any]:
    """The figures of one entry whose slots are every ``interval`` seconds."""
    events = list(events)
    ids_of: dict[float, set[str]] = defaultdict(set)
    slot_of: dict[str, float] = {}
    for e in events:
        if e["event"] == "slot" and e["entry"] == entry:
            ids_of[float(e["slot"])].add(e["id"])
            slot_of[e["id"]] = float(e["slot"])
    lines = [line for line in logged if line.entry == entry]
    disagree = [line.id for line in lines if line.id in slot_of
                and slot_of[line.id] != line.slot]
    for line in lines:
        ids_of[line.slot].add(line.id)
    ids = sorted({i for group in ids_of.values() for i in group})
    starts: dict[str, list[float]] = defaultdict(list)
    done = set()
    for e in events:
        if e["event"] == "start" and e["id"] in ids:
            starts[e["id"]].append(e["t"])
        elif e["event"] == "finish" and e["id"] in ids and e["ok"]:
            done.add(e["id"])
    slots = sorted(ids_of)
    first, last = (slots[0], slots[-1]) if slots else (None, None)
    expected = ([] if first is None or last is None
                else [first + k * interval for k in range(round((last - first) / interval) + 1)])
    missing = [s for s in expected if s not in ids_of]
    twice = {s: sorted(group) for s, group in ids_of.items() if len(group) > 1}
    logged_ids = {line.id for line in lines}
    return {
        "fires": len(ids),
        "slots": len(slots),
        "first_slot": first,
        "last_slot": last,
        "window": len(expected),
        "duplicates": len(twice),
        "duplicate_slots": {f"{s:.0f}": g for s, g in list(twice.items())[:5]},
        "missing": len(missing),
        "missing_slots": [f"{s:.0f}" for s in missing[:10]],
        "ran": sum(1 for i in ids if starts[i]),
        "done": len(done & set(ids)),
        "runs": sum(len(starts[i]) for i in ids),
        "ran_more_than_once": sum(1 for i in ids if len(starts[i]) > 1),
        "never_ran": sorted(i for i in ids if not starts[i])[:5],
        "logged": len(logged_ids),
        "fired_without_log_line": len(set(ids) - logged_ids),
        "log_ledger_disagree": disagree[:5],
        "median_fire_delay": (round(statistics.median(line.at - line.slot for line in lines), 3)
                              if lines else None),
        "max_fire_delay": _max([line.at - line.slot for line in lines]),
        "max_start_delay": _max([min(starts[i]) - slot_of[i] for i in ids
                                 if starts[i] and i in slot_of]),
    }


def _max(values: list[float]) -> float | None:
    return round(max(values), 3) if values else None
