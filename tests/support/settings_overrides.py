"""Settings a test changes for a while: a few ``JOBQUEUE`` keys, short leases for real
workers, and a MariaDB that is down."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connections
from django.test import override_settings

# JOBQUEUE keys for real-worker tests whose leases expire in seconds.
FAST_LEASE = {"LEASE": 2.0, "HEARTBEAT": 0.5, "MAINTENANCE_INTERVAL": 0.5}


def jobqueue(**overrides: Any) -> override_settings:
    """``override_settings`` for a few JOBQUEUE keys, keeping the rest."""
    return override_settings(JOBQUEUE={**settings.JOBQUEUE, **overrides})


@contextlib.contextmanager
def mysql_down() -> Iterator[None]:
    """Point the real ``mysql`` alias at a closed port: every query fails to connect."""
    conn = connections["mysql"]
    saved = conn.settings_dict["PORT"]
    conn.close()
    conn.settings_dict["PORT"] = "9"
    try:
        with jobqueue(FAILED_DATABASE="mysql"):
            yield
    finally:
        conn.close()
        conn.settings_dict["PORT"] = saved
