"""System checks: configuration mistakes are errors at ``check`` and at startup, not at the
first job. Every id is listed in docs/settings.md ("System checks")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core import checks

from ..conf import jobqueue_settings
from .flow import check_flow_control
from .plugins import check_connections, check_failed_store, check_handlers
from .reachability import check_failed_database
from .schedule import check_schedule
from .unique import check_unique_jobs
from .values import check_keys, check_shapes, check_timing, error


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The JOBQUEUE setting is coherent and every connection can work."""
    given = jobqueue_settings.given()
    if not isinstance(given, dict):
        return [error(f"JOBQUEUE must be a dict, not {type(given).__name__}.", "E015")]
    errors = check_keys(given)
    shape_errors, refused = check_shapes(given)
    errors += shape_errors
    errors += check_timing(refused)
    errors += check_connections(refused)
    errors += check_failed_store(refused)
    errors += check_handlers(refused)
    errors += check_schedule(refused)
    errors += check_unique_jobs()
    errors += check_flow_control()
    return errors


# Tagged "database": Django runs it only for the databases it is asked about (``check
# --database``, ``migrate``), never on a plain ``check`` or at ``runworker``'s start.
@checks.register(checks.Tags.database)
def check_databases(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """The failed-job database answers (W001)."""
    return check_failed_database(databases)
