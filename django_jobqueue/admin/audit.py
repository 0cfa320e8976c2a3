"""Admin log entries for what the failed-job admin and the Schedules page did.

Bulk actions write one summary entry each (the rows they touched are gone, and a purge of
100,000 rows should not write 100,000 log rows); a single retry writes one for its row, and
a schedule button one for its entry.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest

from ..models import FailedJob

OBJECT_REPR_LIMIT = 200


def log_summary(request: HttpRequest, flag: int, message: str, obj: Any = None) -> None:
    """One ``LogEntry`` by the request's user: about ``obj`` (a failed job, a schedule entry)
    when given, else about the set of failed jobs the message describes."""
    LogEntry.objects.create(
        user_id=request.user.pk,
        content_type=ContentType.objects.get_for_model(FailedJob if obj is None else type(obj)),
        object_id=str(obj.pk) if obj is not None else None,
        object_repr=(str(obj) if obj is not None else message)[:OBJECT_REPR_LIMIT],
        action_flag=flag,
        change_message=message,
    )
