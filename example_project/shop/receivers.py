"""The shop's ``job_failed`` and ``job_cancelled`` receivers, connected in
``ShopConfig.ready()`` so that every process (the worker and its work horses included) has
them."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def on_job_failed(sender: Any, *, job_id: str, failed_job: dict[str, Any], **kwargs: Any) -> None:
    """Every job that failed for good, after its row is stored and ``failed()`` ran.

    ``failed_job["new_fingerprint"]`` tells the first failure of its kind from the rest
    (NEW_FINGERPRINT_HANDLER is the once-only way to act on that)."""
    logger.info(
        "job_failed: job=%s id=%s store=%s failed_id=%s attempts=%s new_kind=%s",
        getattr(sender, "name", sender),
        job_id,
        failed_job["store"],
        failed_job["id"],
        failed_job["attempts"],
        failed_job["new_fingerprint"],
    )


def on_job_cancelled(sender: Any, *, job_id: str, running: bool, **kwargs: Any) -> None:
    """Every cancelled job, once its record is kept (a cancelled job did not fail: it gets no
    ``job_failed``). ``running``: it was stopped while it ran, rather than taken out of its
    queue before it started. Sent where the cancel took effect: in the work horse for a job
    a worker held, in the process that cancelled it for a waiting one."""
    logger.info(
        "job_cancelled: job=%s id=%s running=%s",
        getattr(sender, "name", sender),
        job_id,
        running,
    )
