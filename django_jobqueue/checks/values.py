"""Checks of the ``JOBQUEUE`` values themselves: known keys, the shape each key declares in
:data:`django_jobqueue.conf.SETTINGS`, and the rules between keys."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from django.core import checks

from ..conf import SETTINGS, jobqueue_settings
from ..shapes import sub_tables


def error(message: str, code: str, hint: str | None = None) -> checks.Error:
    return checks.Error(message, hint=hint, id=f"django_jobqueue.{code}")


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """``"Did you mean 'X'?"`` for a near miss of ``known``, else ``None``."""
    close = difflib.get_close_matches(word.upper(), list(known), n=1, cutoff=0.6)
    return f"Did you mean {close[0]!r}?" if close else None


def _hint(word: Any, known: Iterable[str]) -> str:
    known = sorted(known)
    guess = did_you_mean(word, known) if isinstance(word, str) else None
    # A near miss is the likely story; the whole list only helps when nothing is close.
    return guess or f"Known keys: {', '.join(known)}."


def check_keys(given: Mapping[Any, Any]) -> list[checks.CheckMessage]:
    """E013 for a key of JOBQUEUE that no setting has; E014 for one inside a dict setting
    whose keys are known (a CONNECTIONS entry, FAILED_REDIS). Unknown keys would be
    ignored silently: a typo would leave the default in force."""
    errors: list[checks.CheckMessage] = [
        error(f"JOBQUEUE has an unknown key {key!r}: it is ignored.", "E013",
              hint=_hint(key, SETTINGS))
        for key in given if key not in SETTINGS
    ]
    for name, setting in SETTINGS.items():
        if name not in given:
            continue
        for where, entry, table in sub_tables(setting, given[name]):
            errors += [
                error(f"JOBQUEUE[{name!r}]{where} has an unknown key {key!r}: it is ignored.",
                      "E014", hint=_hint(key, table.keys))
                for key in entry if key not in table.keys
            ]
    return errors


def check_shapes(given: Mapping[Any, Any]) -> tuple[list[checks.CheckMessage], set[str]]:
    """An error for each value that its setting's shape refuses, and the names refused (the
    other checks skip those: their value would only make them crash)."""
    errors: list[checks.CheckMessage] = []
    refused: set[str] = set()
    for name, setting in SETTINGS.items():
        if name not in given:
            continue
        problem = setting.shape.problem(given[name])
        if problem is not None:
            errors.append(error(problem.describe(name), setting.check_id, problem.hint))
            refused.add(name)
    return errors, refused


def check_timing(refused: set[str]) -> list[checks.CheckMessage]:
    s = jobqueue_settings
    if refused & {"HEARTBEAT", "LEASE"} or s.HEARTBEAT * 2 <= s.LEASE:
        return []
    # Leases are renewed by heartbeats while a job runs, so the job timeout may exceed
    # the lease; what must hold is that one late heartbeat does not lose the lease.
    return [error(
        f"JOBQUEUE['HEARTBEAT'] ({s.HEARTBEAT}s) must be at most half of JOBQUEUE['LEASE']"
        f" ({s.LEASE}s), or a slow heartbeat lets another worker take a running job.",
        "E002",
    )]
