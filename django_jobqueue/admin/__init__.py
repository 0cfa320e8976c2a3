"""The Django admin for failed jobs: changelist, actions, detail page, failure overview,
fingerprint groups and queue sizes; and the Schedules page. Everything that changes data
calls a service (:mod:`django_jobqueue.failures`, :mod:`django_jobqueue.schedule.service`);
nothing here writes failed-job rows or schedule state itself."""

from __future__ import annotations

from django.contrib import admin

from ..models import FailedJob, Schedule
from .changelist import FailedJobAdmin
from .schedules import ScheduleAdmin

__all__ = ["FailedJobAdmin", "ScheduleAdmin"]

admin.site.register(FailedJob, FailedJobAdmin)
admin.site.register(Schedule, ScheduleAdmin)
