"""Signals sent by workers, always with ``send_robust`` so a bad receiver never stops a worker.

``sender`` is the job class (``Job`` itself when the payload names no registered class).
"""

from __future__ import annotations

from django.dispatch import Signal

job_failed = Signal()
"""A job failed for good, after its failure was recorded and ``failed()`` ran.

kwargs: ``job`` (the instance, or ``None`` if it could not be rebuilt), ``job_id``,
``exception``, ``failed_job`` (a dict: ``store`` (the label of the store that took it:
``"database"`` or ``"redis"`` with the default store), ``id``, ``uuid``, ``queue``,
``connection``, ``exception_class``, ``attempts``, ``fingerprint`` and ``new_fingerprint``,
True for the first failure of its kind).
"""

job_retrying = Signal()
"""An attempt failed and the job will run again.

kwargs: ``job``, ``job_id``, ``exception``, ``attempt`` (the attempt that failed), ``delay``.
"""

job_succeeded = Signal()
"""``handle()`` returned. kwargs: ``job``, ``job_id``, ``attempt``, ``result``."""

job_cancelled = Signal()
"""A job was cancelled: removed from its queue before it ran, or stopped while it ran (its
record is kept, under ``JobCancelled``). Sent where the cancel took effect: by the process
that cancelled a waiting job, by a work horse for a running one.

kwargs: ``job`` (the instance, or ``None`` if it could not be rebuilt), ``job_id``,
``queue``, ``connection``, ``running`` (True: it was stopped while it ran).
"""
