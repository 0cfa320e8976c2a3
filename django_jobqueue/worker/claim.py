"""A reserved job as the supervisor knows it: its payload read once, at reservation.

The supervisor never runs job code, so the document it reads stays as the store gave it:
appending an attempt's error to it needs no second parse. Only the job's own code (its
``label()`` hook, the work-horse-killed handler) gets a decoded copy of its own, read
again, on the rare paths where the supervisor calls it (an attempt it ended itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .. import payload as payload_codec
from ..conf import jobqueue_settings
from ..exceptions import PayloadError
from ..jobs import Job, resolve
from ..transports import Reserved


# Not frozen, though nothing changes one: a claim is made for every job reserved, and a
# frozen dataclass's __init__ costs four times as much.
@dataclass(slots=True)
class Claim:
    """A reserved job (``reserved``, whose ``id``, ``queue`` and ``attempts`` it repeats)
    with what its payload says: the registered ``name`` (``?`` if unreadable), the
    attempt's ``timeout``, and the parsed ``document`` (plain JSON; None if the payload is
    not JSON); ``leased_at`` dates a prefetched job's lease."""

    reserved: Reserved
    id: str
    queue: str
    attempts: int
    name: str
    timeout: float
    document: Any
    # Monotonic time just before the call that reserved or last renewed it: a prefetched
    # job's short lease is known to be held until this plus ``PREFETCH_LEASE``.
    leased_at: float = 0.0
    lost: bool = False  # a renewal found its lease gone: never to be handed to a horse
    # A rate-limited job reserved ahead takes its permit when a horse takes it, not before:
    # a permit dates a start, so it must not be taken while the job waits.
    admit_at_start: bool = False

    @classmethod
    def of(cls, reserved: Reserved, default_timeout: float) -> Claim:
        """Read ``reserved``'s payload; ``default_timeout`` is for payloads without one."""
        try:
            document = json.loads(reserved.payload)
        except (ValueError, RecursionError):
            document = None
        name, timeout = "?", default_timeout
        if isinstance(document, dict):
            name = str(document.get("job") or "?")
            timeout = _timeout(document.get("timeout"), default_timeout)
        return cls(reserved, reserved.id, reserved.queue, reserved.attempts, name, timeout,
                   document)

    @property
    def payload(self) -> str:
        return self.reserved.payload

    def body(self) -> dict[str, Any] | None:
        """The document if it is a valid payload (as a horse would find it), else None."""
        if self.document is None:
            return None
        try:
            return payload_codec.checked(self.document, self.payload)
        except PayloadError:
            return None

    def job_class(self) -> type[Job] | None:
        """The registered class the payload names, if it is a valid payload naming one."""
        body = self.body()
        if body is None:
            return None
        try:
            return resolve(body["job"])
        except PayloadError:
            return None

    def decoded(self) -> dict[str, Any] | None:
        """A fresh decoded copy of the payload for job code (None if it is not valid)."""
        try:
            return payload_codec.loads(self.payload)
        except PayloadError:
            return None

    def with_error(self, entry: dict[str, Any]) -> str:
        """The payload with ``entry`` appended to its ``errors`` (the last
        ``MAX_ERRORS_KEPT``); an invalid payload is kept as it is."""
        body = self.body()
        if body is None:
            return self.payload
        errors = [*(body.get("errors") or []), entry]
        updated = {**body, "errors": errors[-jobqueue_settings.MAX_ERRORS_KEPT:]}
        return json.dumps(updated, separators=(",", ":"))

    def errors_with(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """The attempts' errors a failure record keeps: the payload's ``errors`` once
        ``entry`` is appended, or ``entry`` alone if the payload keeps none."""
        if self.body() is not None:
            errors = [*(self.document.get("errors") or []), entry]
            return errors[-jobqueue_settings.MAX_ERRORS_KEPT:]
        errors = self.document.get("errors") if isinstance(self.document, dict) else None
        return errors if isinstance(errors, list) and errors else [entry]


def _timeout(value: Any, default: float) -> float:
    try:
        timeout = float(value or default)
    except (TypeError, ValueError):
        return default
    return timeout if 0 < timeout < float("inf") else default


__all__ = ["Claim"]
