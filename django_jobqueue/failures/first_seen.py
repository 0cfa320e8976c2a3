"""First sightings of a fingerprint, and the ``NEW_FINGERPRINT_HANDLER`` call.

Race-free across workers and machines: a fingerprint is "new" for exactly the one process
whose insert of the unique ``queue_failed_fingerprints`` row succeeds (``get_or_create``:
a concurrent loser hits the unique constraint and reads the winner's row instead), or,
with the Redis store alone, whose ``SADD`` to the fingerprint set returns 1. Counting
rows of the failed table instead ("is this the first row with that fingerprint?") would
race (two workers both see one row, or both see two) and would fire again after a prune.

Only the primary store decides: a failure sent to the Redis fallback while the database is
down is claimed when the mover puts it in the table, so it is announced once, not twice.
The handler is called at most once per fingerprint (a crash between the claim and the call
loses that call); it runs in the process that records the failure (a worker's supervisor),
so it should be quick, e.g. dispatch a job that does the slow part.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.utils.module_loading import import_string

from ..conf import jobqueue_settings
from ..exceptions import TransportError
from ..logutil import exception_for_log, log_event
from .record import FailureRecord

logger = logging.getLogger(__name__)


# Fingerprints this process knows the table has, by database alias. A row, once there,
# stays (pruning failures keeps it), so a known fingerprint is never new again and the
# supervisor skips the lookup for every repeat of a failure it has seen. Bounded: cleared
# when full, which only costs lookups.
_known: dict[str, set[str]] = {}
_KNOWN_MAX = 10_000


def claim_in_database(alias: str, record: FailureRecord) -> bool:
    """True if ``record.fingerprint`` had never been seen by database ``alias``."""
    from ..models import FailureFingerprint

    known = _known.setdefault(alias, set())
    if record.fingerprint in known:
        return False
    _, created = FailureFingerprint.objects.using(alias).get_or_create(
        fingerprint=record.fingerprint,
        defaults={
            "exception_class": record.exception_class[:255],
            "first_seen_at": record.failed_at,
            "first_job_uuid": record.uuid,
        },
    )
    if len(known) >= _KNOWN_MAX:
        known.clear()
    known.add(record.fingerprint)
    return created


def forget_known() -> None:
    """Drop the cache of known fingerprints (tests that empty the table call this)."""
    _known.clear()


def announce(record: FailureRecord, claim: Callable[[FailureRecord], bool]) -> bool:
    """Claim ``record``'s fingerprint; if it is new, call the handler. Returns "new".

    Neither a failing claim nor a failing handler changes anything else: both are logged.
    """
    if not record.fingerprint:
        return False
    try:
        new = claim(record)
    except (DatabaseError, TransportError) as exc:
        log_event(logger, logging.WARNING, "fingerprint_claim_failed",
                  fingerprint=record.fingerprint, id=record.uuid, error=exc)
        return False
    if new:
        log_event(logger, logging.INFO, "new_fingerprint", fingerprint=record.fingerprint,
                  job=record.job_class, error=record.exception_class, id=record.uuid)
        _call_handler(record)
    return new


def handler() -> Callable[[FailureRecord], Any] | None:
    """The configured ``NEW_FINGERPRINT_HANDLER`` (imported on each call, so tests can
    override the setting); ``None`` when unset."""
    path = jobqueue_settings.NEW_FINGERPRINT_HANDLER
    return import_string(path) if path else None


def _call_handler(record: FailureRecord) -> None:
    try:
        function = handler()
        if function is not None:
            function(record)
    except Exception as error:
        log_event(logger, logging.ERROR, "fingerprint_handler_raised",
                  fingerprint=record.fingerprint, id=record.uuid, error=type(error).__name__,
                  traceback=exception_for_log(error))
