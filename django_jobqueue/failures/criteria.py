"""The filter vocabulary of failed jobs, once: as a query on the table, or as a test of a
Redis-stored record.

Criteria (each optional, ``None`` means "any"): ``queue``, ``connection``, ``job_class``,
``exception_class``, ``fingerprint`` (exact matches), ``since`` (failed at or after),
``before`` (failed before), ``outcome`` (``"failed"``, ``"cancelled"`` or ``"expired"``:
see :func:`~.record.outcome_of`), ``batch`` (a batch's id: its children's records),
``chain_held`` (True: chain steps, whose records hold the steps after them) and, for the
table only, ``ids`` (primary keys).

A ``fingerprint`` may also be a prefix of at least :data:`MIN_FINGERPRINT_PREFIX` hex digits,
as the commands and the admin show them (12): each store resolves it to the one full
fingerprint that starts with it (:func:`with_full_fingerprint`), like git resolves a short
commit id. A prefix that fits none or several raises :class:`FingerprintLookupError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db.models import Q

from .. import payload as payload_codec
from ..exceptions import JobQueueError
from .fingerprint import fill_fingerprint
from .record import FailureRecord, classes_of

EXACT = ("queue", "connection", "job_class", "exception_class", "fingerprint")
_KNOWN = {*EXACT, "since", "before", "ids", "outcome", "batch", "chain_held"}

#: The shortest fingerprint prefix accepted: shorter ones would match many kinds at once.
MIN_FINGERPRINT_PREFIX = 4
FINGERPRINT_LENGTH = 40
#: Candidates named when a prefix is ambiguous.
SHOWN_CANDIDATES = 10
_HEX = re.compile(r"^[0-9a-f]+$")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def is_job_id(text: str) -> bool:
    """Whether ``text`` has the form of a job id (32 lower-case hex digits)."""
    return bool(_JOB_ID.match(text))


class FingerprintLookupError(JobQueueError, ValueError):
    """A fingerprint prefix that is malformed, or that matches no stored fingerprint or
    several (``candidates``: up to :data:`SHOWN_CANDIDATES` of them, sorted)."""

    def __init__(self, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


def fingerprint_prefix(text: str) -> str:
    """``text`` as a fingerprint or fingerprint prefix (lower case), or
    :class:`FingerprintLookupError` if it cannot be one."""
    value = str(text).strip().lower()
    if not _HEX.match(value) or not MIN_FINGERPRINT_PREFIX <= len(value) <= FINGERPRINT_LENGTH:
        raise FingerprintLookupError(
            f"{text!r} is not a fingerprint: give its {FINGERPRINT_LENGTH} hex digits or the "
            f"first {MIN_FINGERPRINT_PREFIX} or more")
    return value


def resolve_fingerprint(text: str, candidates: Callable[[str, int], list[str]]) -> str:
    """The full fingerprint that ``text`` (a fingerprint or a prefix) names.

    ``candidates(prefix, limit)`` returns up to ``limit`` distinct stored fingerprints that
    start with ``prefix``, sorted. A full fingerprint is taken as it is, without a lookup.
    """
    prefix = fingerprint_prefix(text)
    if len(prefix) == FINGERPRINT_LENGTH:
        return prefix
    found = candidates(prefix, SHOWN_CANDIDATES + 1)
    if len(found) == 1:
        return found[0]
    if not found:
        raise FingerprintLookupError(f"no failed job has a fingerprint starting with {prefix}")
    more = " (and more)" if len(found) > SHOWN_CANDIDATES else ""
    raise FingerprintLookupError(
        f"fingerprint prefix {prefix} is ambiguous: "
        f"{', '.join(found[:SHOWN_CANDIDATES])}{more} start with it; give more digits",
        found[:SHOWN_CANDIDATES])


def with_full_fingerprint(
    criteria: dict[str, Any], candidates: Callable[[str, int], list[str]]
) -> dict[str, Any]:
    """``criteria`` with a ``fingerprint`` prefix replaced by the full fingerprint."""
    if criteria.get("fingerprint") is None:
        return criteria
    return {**criteria, "fingerprint": resolve_fingerprint(criteria["fingerprint"], candidates)}


def _checked(criteria: dict[str, Any]) -> dict[str, Any]:
    unknown = set(criteria) - _KNOWN
    if unknown:
        raise TypeError(f"unknown failed-job criteria: {', '.join(sorted(unknown))}")
    if criteria.get("outcome") is not None:
        classes_of(criteria["outcome"])  # ValueError for an outcome that is not one
    return {name: value for name, value in criteria.items() if value is not None}


def as_q(**criteria: Any) -> Q:
    """The criteria as a filter on ``FailedJob`` (each served by a ``(field, failed_at)``
    index, or the ``failed_at`` one)."""
    given = _checked(criteria)
    q = Q(**{name: given[name] for name in EXACT if name in given})
    if "since" in given:
        q &= Q(failed_at__gte=given["since"])
    if "before" in given:
        q &= Q(failed_at__lt=given["before"])
    if "ids" in given:
        q &= Q(pk__in=list(given["ids"]))
    if "outcome" in given:
        # A cancelled or expired record is found by the (exception_class, failed_at) index;
        # "failed" is every other class, so it narrows whatever else selects the rows.
        classes = Q(exception_class__in=classes_of(given["outcome"]))
        q &= ~classes if given["outcome"] == "failed" else classes
    if given.get("chain_held"):
        q &= Q(payload__contains='"chain":')
    if "batch" in given:
        # No index: the children of one batch are found by their payload's mark (a
        # batch's page, its actions), narrowed by whatever else selects the rows.
        q &= Q(payload__contains=batch_fragment(given["batch"]))
    return q


def batch_fragment(batch_id: str) -> str:
    """The text a batch child's payload holds: its mark, as the payload encoder wrote it."""
    if not is_job_id(str(batch_id)):
        raise ValueError(f"{batch_id!r} is not a batch id (32 hex digits)")
    return payload_codec.dumps({"batch": {"id": str(batch_id)}})[1:-2]


def matches(record: FailureRecord, **criteria: Any) -> bool:
    """Whether a Redis-stored record matches (records have no ``ids``: never with them)."""
    given = _checked(criteria)
    if "ids" in given:
        raise TypeError("Redis-stored failed jobs have no ids: select them by job id")
    fill_fingerprint(record)
    if any(getattr(record, name) != given[name] for name in EXACT if name in given):
        return False
    if given.get("outcome", record.outcome) != record.outcome:
        return False
    if "batch" in given and batch_fragment(given["batch"]) not in record.payload:
        return False
    if given.get("chain_held") and '"chain":' not in record.payload:
        return False
    return (given.get("since") is None or record.failed_at >= given["since"]) and (
        given.get("before") is None or record.failed_at < given["before"])
