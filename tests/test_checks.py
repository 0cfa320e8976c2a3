"""System checks turn configuration mistakes into startup errors."""

from __future__ import annotations

import pytest

from django_jobqueue.checks import check_settings
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


@pytest.mark.django_db(databases=["default", "mysql"])
def test_database_without_skip_locked_is_an_error(monkeypatch):
    from django.db import connections

    features = connections["mysql"].features
    monkeypatch.setattr(type(features), "has_select_for_update_skip_locked", False)
    assert "django_jobqueue.E005" in ids()


def test_bad_redis_url_is_a_check_error_not_a_crash():
    found = ids(CONNECTIONS={"default": {
        "TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
        "OPTIONS": {"URL": "bogus://x"}}})
    assert "django_jobqueue.E006" in found
