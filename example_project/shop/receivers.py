"""The shop's ``job_failed`` receiver, connected in ``ShopConfig.ready()`` so that every
process (the worker and its work horses included) has it."""

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
