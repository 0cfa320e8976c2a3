"""What a failure is, as stored: the one record type every failed-job store keeps.

Exceptions are kept as text only (see :mod:`django_jobqueue.exception_text`), never rebuilt
by importing a stored name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils import timezone

from ..exception_text import class_path
from ..exceptions import JobCancelled, JobExpired

#: What a record tells of its job, by its exception class: records are kept for jobs that
#: did not fail too (cancelled by an operator, expired before they started), under one of
#: these classes; every other class is a failure. See :func:`outcome_of`.
NOT_FAILURES = {class_path(JobCancelled): "cancelled", class_path(JobExpired): "expired"}
#: Every outcome a record can tell.
OUTCOMES = ("failed", "cancelled", "expired")


def outcome_of(exception_class: str) -> str:
    """``"cancelled"``, ``"expired"`` or ``"failed"``: how the job of a record with
    ``exception_class`` ended."""
    return NOT_FAILURES.get(exception_class, "failed")


def classes_of(outcome: str) -> list[str]:
    """The exception classes of the records of ``outcome`` other than ``"failed"`` (for
    ``"failed"``: the classes that are *not* failures); ``ValueError`` for an outcome that
    is not one of :data:`OUTCOMES`."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    return [cls for cls, told in NOT_FAILURES.items() if told == outcome or outcome == "failed"]


def storable(text: str) -> str:
    """``text`` with lone surrogates (from bytes decoded with ``surrogateescape``, or a
    ``"\\udcff"`` JSON escape) written as ``\\udcff``: they cannot be encoded, so no
    database, Redis or hash would take the text."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


_TEXT_FIELDS = ("uuid", "connection", "queue", "payload", "exception", "exception_class",
                "message", "job_class", "worker")


@dataclass
class FailureRecord:
    """A permanent failure, ready to store."""

    uuid: str
    connection: str
    queue: str
    payload: str
    exception: str
    exception_class: str
    message: str
    job_class: str
    attempts: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    failed_at: dt.datetime = field(default_factory=timezone.now)
    worker: str = ""
    exit_code: int | None = None
    term_signal: int | None = None
    max_rss_kb: int | None = None
    #: See :mod:`django_jobqueue.failures.fingerprint`; set when the failure is recorded.
    fingerprint: str = ""
    #: Where a record read back from a store is kept: that store's id for it (the table's
    #: row id, else the job id) and the store's label. Not stored themselves.
    ref: int | str | None = field(default=None, compare=False)
    store: str = field(default="", compare=False)

    def make_storable(self) -> FailureRecord:
        """Make every text field encodable (see :func:`storable`); returns the record."""
        for name in _TEXT_FIELDS:
            setattr(self, name, storable(str(getattr(self, name))))
        self.errors = [
            {key: storable(value) if isinstance(value, str) else value
             for key, value in entry.items()} if isinstance(entry, dict) else entry
            for entry in self.errors
        ]
        return self

    @property
    def outcome(self) -> str:
        """How its job ended: ``"failed"``, or ``"cancelled"`` / ``"expired"`` (a record
        kept for a job that did not fail; see :data:`NOT_FAILURES`)."""
        return outcome_of(self.exception_class)

    @property
    def id(self) -> int | str:
        """How commands and the admin name this record: its ref, else its job id."""
        return self.ref if self.ref is not None else self.uuid

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["ref"], data["store"]
        data["failed_at"] = self.failed_at.isoformat()
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> FailureRecord:
        data = dict(data)
        data["failed_at"] = dt.datetime.fromisoformat(data["failed_at"])
        known = set(cls.__dataclass_fields__) - {"ref", "store"}
        return cls(**{k: v for k, v in data.items() if k in known})
