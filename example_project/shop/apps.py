"""A toy shop whose background jobs show every way a django-jobqueue job can end."""
from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop (django-jobqueue example)"

    def ready(self) -> None:
        from django_jobqueue.signals import job_cancelled, job_failed

        from . import receivers

        # A dispatch_uid: ready() may run twice in one process (tests, autoreload).
        job_failed.connect(receivers.on_job_failed, dispatch_uid="shop.on_job_failed")
        job_cancelled.connect(receivers.on_job_cancelled, dispatch_uid="shop.on_job_cancelled")
