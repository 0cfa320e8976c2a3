"""The Django admin for failed jobs: changelist, actions, detail page, failure overview,
fingerprint groups and queue sizes (with Pause / Resume), each queue's jobs and a job's
page (with Cancel); and the Schedules page. Everything that changes data calls a service
(:mod:`django_jobqueue.failures`, :mod:`django_jobqueue.schedule.service`,
:mod:`django_jobqueue.flow.pause`, :mod:`django_jobqueue.flow.cancel`); nothing here writes
failed-job rows, schedule state, pauses or cancel requests itself."""

from __future__ import annotations

from django.contrib import admin

from ..models import FailedJob, Schedule
from .changelist import FailedJobAdmin
from .schedules import ScheduleAdmin

__all__ = ["FailedJobAdmin", "ScheduleAdmin"]

admin.site.register(FailedJob, FailedJobAdmin)
admin.site.register(Schedule, ScheduleAdmin)
