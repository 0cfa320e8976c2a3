"""The shop's Django Tasks (docs/tasks.md), run by django-jobqueue's worker like its jobs.

``django.tasks`` on Django 6; on 5.2 the ``django-tasks`` backport
(``pip install "django-jobqueue[tasks]"``). Without either, this module defines nothing
and the demo says it skips its tasks (``settings.TASKS_AVAILABLE``).
"""

from __future__ import annotations

from django.conf import settings

if settings.TASKS_AVAILABLE:
    import django

    from django_jobqueue.tasks import task_options

    if django.VERSION >= (6, 0):
        from django.tasks import task
    else:
        from django_tasks import task

    @task(queue_name="emails")
    def send_newsletter(issue: int, subscribers: int) -> dict:
        """Succeeds; its JSON return value is readable from any process."""
        return {"issue": issue, "sent": subscribers}

    @task
    @task_options(max_tries=2, retry_after=0.2)  # portable: other backends ignore it
    def sync_loyalty_points(customer_id: int) -> None:
        """Fails twice, then its result turns FAILED and it is a queue_failed_jobs row
        filed under this function's path."""
        raise ConnectionError(f"loyalty service down (customer {customer_id})")
