"""Which task functions a worker may run, found by path without importing the path.

Django's own backends import ``task.module_path`` when they run a task; we never import a
name taken from a payload. A task is runnable here only if it is a ``Task`` object that this
process has already seen: created by ``@task`` with our ``task_class``, enqueued through our
backend, or the attribute of an already-imported module (every installed app's ``tasks``
module is imported at startup, and once more on the first miss). Anything else is unknown.
"""

from __future__ import annotations

import sys

from django.utils.module_loading import autodiscover_modules

from .compat import Task

_known: dict[str, Task] = {}
_discovered = False


def remember(task: Task) -> None:
    """Record ``task`` under its path; the first definition wins (``.using()`` copies
    share its function, so they add nothing)."""
    _known.setdefault(task.module_path, task)


def find(path: str) -> Task | None:
    """The task registered as ``path``, or ``None``. Imports nothing but the installed
    apps' ``tasks`` modules, once."""
    task = _lookup(path)
    if task is None and not _discovered:
        autodiscover()
        task = _lookup(path)
    return task


def autodiscover() -> None:
    """Import every installed app's ``tasks`` module (their ``@task`` objects register)."""
    global _discovered
    _discovered = True
    autodiscover_modules("tasks")


def _lookup(path: str) -> Task | None:
    task = _known.get(path)
    if task is not None:
        return task
    module_name, _, attribute = path.rpartition(".")
    module = sys.modules.get(module_name)  # already imported, or not at all
    candidate = getattr(module, attribute, None) if module is not None else None
    if isinstance(candidate, Task) and candidate.module_path == path:
        remember(candidate)
        return candidate
    return None
