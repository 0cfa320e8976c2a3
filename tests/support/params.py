"""Parameter lists for ``pytest.mark.parametrize``: each transport, each database store, and
the servers real-worker tests run on, each with the test databases it needs."""

from __future__ import annotations

import pytest

_SQLITE_DB = pytest.mark.django_db(transaction=True, databases=["default"])
_MARIADB_DB = pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
_POSTGRES_DB = pytest.mark.django_db(transaction=True, databases=["default", "postgres"])

# One parameter per transport (a connection name; see the ``connection_name`` fixture).
TRANSPORT_PARAMS = [
    pytest.param("memory", id="memory"),
    pytest.param("default", id="sqlite", marks=_SQLITE_DB),
    pytest.param("mysql", id="mariadb", marks=_MARIADB_DB),
    pytest.param("postgres", id="postgresql", marks=_POSTGRES_DB),
    pytest.param("redis", id="redis"),
    pytest.param("redis-cluster", id="redis-cluster"),
]

# One parameter per database failed-job store (an alias; see the ``store`` fixture).
STORES = [
    pytest.param("default", id="sqlite", marks=_SQLITE_DB),
    pytest.param("mysql", id="mariadb", marks=_MARIADB_DB),
    pytest.param("postgres", id="postgresql", marks=_POSTGRES_DB),
]

# Real-worker tests that need one SQL server and Redis.
MARIADB_AND_REDIS = [pytest.param("mysql", id="mariadb"), pytest.param("redis", id="redis")]
