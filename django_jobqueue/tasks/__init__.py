"""Django's Tasks framework on django-jobqueue: ``TASKS = {"default": {"BACKEND":
"django_jobqueue.tasks.JobQueueBackend", ...}}``. See docs/tasks.md.

This package is the only part of django-jobqueue that imports the Tasks framework
(``django.tasks`` on Django 6, the ``django-tasks`` backport on 5.2).
"""

from __future__ import annotations

from .backend import JobQueueBackend
from .job import RunTask, UnknownTask, UnrunnableTask
from .policy import JobQueueTask, task_options

__all__ = [
    "JobQueueBackend", "JobQueueTask", "RunTask", "UnknownTask", "UnrunnableTask", "task_options",
]
