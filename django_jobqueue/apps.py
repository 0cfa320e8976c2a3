"""App configuration: discover ``jobs`` (and, with our Tasks backend, ``tasks``) modules,
register checks, watch settings."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import autodiscover_modules


class JobQueueConfig(AppConfig):
    name = "django_jobqueue"
    verbose_name = "Job queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import builtin_jobs, checks  # noqa: F401 -- register built-in jobs and checks

        # Every installed app's jobs module registers its Job subclasses.
        autodiscover_modules("jobs")
        if uses_tasks_backend():
            # Only then is the Tasks framework imported: projects without it need nothing.
            from .tasks import known, receivers

            receivers.connect()
            known.autodiscover()
        setting_changed.connect(_reset_on_settings_change, dispatch_uid="django_jobqueue.reset")


def uses_tasks_backend() -> bool:
    """True if a ``TASKS`` backend is ours (read as text: nothing is imported)."""
    backends = getattr(settings, "TASKS", None) or {}
    return any(
        str(config.get("BACKEND", "")).startswith("django_jobqueue.tasks")
        for config in backends.values()
    )


def _reset_on_settings_change(*, setting: str, **kwargs: object) -> None:
    if setting in {"JOBQUEUE", "CACHES", "DATABASES"}:
        from . import failures
        from .transports import reset

        reset()
        failures.reset()
