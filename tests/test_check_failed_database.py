"""W001: a failed-job database that does not answer is a warning, only when Django's checks
are run for databases (``check --database``, ``migrate``), and bounded in time."""

from __future__ import annotations

import threading
import time

import pytest
from django.core import checks
from django.db import connections

from django_jobqueue.checks import check_databases
from django_jobqueue.checks.reachability import check_failed_database
from tests.support.settings_overrides import jobqueue


def test_it_is_a_database_tagged_check():
    assert check_databases in checks.registry.registry.get_checks()
    assert checks.Tags.database in check_databases.tags


def test_an_unreachable_failed_database_is_a_warning():
    with jobqueue(FAILED_DATABASE="broken"):
        [warning] = check_databases(databases=["broken"])
    assert (warning.id, warning.level) == ("django_jobqueue.W001", checks.WARNING)
    assert "The failed-job table's database 'broken' cannot be reached" in warning.msg


def test_nothing_is_touched_unless_databases_are_asked_for():
    with jobqueue(FAILED_DATABASE="broken"):
        assert check_databases(databases=None) == []
        assert check_databases(databases=["default"]) == []


@pytest.mark.django_db(databases=["default", "postgres"])
def test_a_reachable_one_passes():
    with jobqueue(FAILED_DATABASE="postgres"):
        assert check_databases(databases=["postgres"]) == []


def test_a_server_that_never_answers_costs_the_timeout_not_more(monkeypatch):
    release = threading.Event()
    wrapper = type(connections["broken"])
    monkeypatch.setattr(wrapper, "ensure_connection", lambda self: release.wait(30))
    try:
        with jobqueue(FAILED_DATABASE="broken"):
            started = time.monotonic()
            [warning] = check_failed_database(["broken"], timeout=0.2)
        assert time.monotonic() - started < 5
        assert "no answer within 0.2s" in warning.msg
    finally:
        release.set()
