"""A batch for the admin's pages: its progress as the bar's segments, and how to link to
it. Shared by the batch page (:mod:`.batch_page`) and a failed job's Workflow section
(:mod:`.workflow`)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.http import urlencode

from ..workflows.status import BatchStatus
from ..workflows.text import counts_text
from .dates import when

BATCH = "admin:django_jobqueue_failedjob_batch"
FIND = "admin:django_jobqueue_failedjob_find_batch"
#: The segments of a batch's bar, in order: each count's name and what it says.
SEGMENTS = (("succeeded", "succeeded"), ("failed", "failed for good"),
            ("cancelled", "cancelled or expired"), ("pending", "not ended yet"))


def batch_url(batch_id: str) -> str:
    return reverse(BATCH, args=[batch_id])


def children_url(batch_id: str) -> str:
    """The changelist of the batch's failed-job records (its failed and cancelled jobs)."""
    base = reverse("admin:django_jobqueue_failedjob_changelist")
    return f"{base}?{urlencode({'batch': batch_id})}"


def progress(status: BatchStatus) -> dict[str, Any]:
    """The bar of ``progress_bar.html``: one segment per count that is not 0, its width
    the count's share of the batch (a percent), and the counts as one line of text."""
    total = status.total or 1
    segments = [{"kind": kind, "count": getattr(status, kind), "meaning": meaning,
                 "percent": round(100.0 * getattr(status, kind) / total, 1)}
                for kind, meaning in SEGMENTS]
    return {"segments": [one for one in segments if one["count"]], "all": segments,
            "text": counts_text(status), "percent": round(status.percent),
            "created": when(status.created_at), "status": status}
