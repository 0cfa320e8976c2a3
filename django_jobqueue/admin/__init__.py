"""The Django admin for failed jobs: changelist, actions, detail page, failure overview,
fingerprint groups and queue sizes. Everything that changes data calls the failures service
(:mod:`django_jobqueue.failures`); nothing here writes failed-job rows itself."""

from __future__ import annotations

from django.contrib import admin

from ..models import FailedJob
from .changelist import FailedJobAdmin

__all__ = ["FailedJobAdmin"]

admin.site.register(FailedJob, FailedJobAdmin)
