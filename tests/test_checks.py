"""System checks turn configuration mistakes into startup errors."""

from __future__ import annotations

import pytest
from django.db import connections

from django_jobqueue.checks import check_settings
from django_jobqueue.transports import get_transport
from tests.conftest import jobqueue


def ids(**overrides):
    with jobqueue(**overrides):
        return {message.id for message in check_settings()}


def test_test_settings_are_clean():
    assert ids() == set()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"LEASE": 0}, "django_jobqueue.E001"),
        ({"HEARTBEAT": 20, "LEASE": 30}, "django_jobqueue.E002"),
        ({"DEFAULT_MAX_TRIES": 0}, "django_jobqueue.E003"),
        ({"DEFAULT_CONNECTION": "nope"}, "django_jobqueue.E007"),
        ({"CONNECTIONS": {"default": {"TRANSPORT": "no.such.Transport"}}}, "django_jobqueue.E008"),
        ({"CONNECTIONS": {"default": {"TRANSPORT": "django_jobqueue.transports.database."
                                                   "DatabaseTransport",
                                      "OPTIONS": {"DATABASE": "missing"}}}},
         "django_jobqueue.E004"),
        ({"CONNECTIONS": {"default": {"TRANSPORT": "django_jobqueue.transports.redis."
                                                   "RedisTransport",
                                      "OPTIONS": {"ALIAS": "not-a-cache"}}}},
         "django_jobqueue.E006"),
        ({"FAILED_STORE": "s3"}, "django_jobqueue.E009"),
        ({"FAILED_DATABASE": "missing"}, "django_jobqueue.E010"),
        ({"FAILED_STORE": "redis", "FAILED_REDIS": {},
          "CONNECTIONS": {"default": {"TRANSPORT": "django_jobqueue.transports.memory."
                                                   "MemoryTransport"}}},
         "django_jobqueue.E011"),
    ],
)
def test_mistakes_are_errors(overrides, expected):
    assert expected in ids(**overrides)


SKIP_LOCKED_SERVERS = pytest.mark.parametrize("alias", ["mysql", "postgres"],
                                              ids=["mariadb", "postgresql"])


@pytest.mark.django_db(databases=["default", "mysql", "postgres"])
@SKIP_LOCKED_SERVERS
def test_database_servers_with_skip_locked_pass(alias):
    # Connected first: an unreachable server is not reported, so the check would pass anyway.
    connections[alias].ensure_connection()
    assert connections[alias].features.has_select_for_update_skip_locked
    assert get_transport(alias).check() == []


@pytest.mark.django_db(databases=["default", "mysql", "postgres"])
@SKIP_LOCKED_SERVERS
def test_database_without_skip_locked_is_an_error(alias, monkeypatch):
    # On the instance: MySQL's value is a cached_property, which shadows the class once read.
    monkeypatch.setattr(connections[alias].features, "has_select_for_update_skip_locked", False)
    [error] = get_transport(alias).check()
    assert error.id == "django_jobqueue.E005" and f"database {alias!r}" in error.msg
    assert "django_jobqueue.E005" in ids()


def test_bad_redis_url_is_a_check_error_not_a_crash():
    found = ids(CONNECTIONS={"default": {
        "TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
        "OPTIONS": {"URL": "bogus://x"}}})
    assert "django_jobqueue.E006" in found
