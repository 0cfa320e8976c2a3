"""System checks turn configuration mistakes into startup errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks
from django.db import connections
from django.test import override_settings

from django_jobqueue import conf
from django_jobqueue.checks import check_settings
from django_jobqueue.retry import ExponentialBackoff
from django_jobqueue.transports import get_transport
from tests.support.settings_overrides import jobqueue

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "django_jobqueue.transports.database.DatabaseTransport"


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


def messages(**overrides):
    with jobqueue(**overrides):
        return check_settings()


def only(found, code):
    """The one message with id ``code`` (assert there is exactly one)."""
    [message] = [m for m in found if m.id == code]
    return message


# -- unknown keys -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typo", "meant"),
    [("CONECTION", "CONNECTIONS"), ("DEFAULT_MAX_TIRES", "DEFAULT_MAX_TRIES"),
     ("EXCEPTION_HANDLER", "EXCEPTION_HANDLERS")],
)
def test_unknown_keys_are_errors_with_a_did_you_mean(typo, meant):
    error = only(messages(**{typo: 1}), "django_jobqueue.E013")
    assert error.level == checks.ERROR
    assert repr(typo) in error.msg
    assert error.hint.startswith(f"Did you mean {meant!r}?")


def test_an_unknown_key_far_from_any_gets_no_guess():
    error = only(messages(ZZZ_NOTHING_LIKE_IT=1), "django_jobqueue.E013")
    assert "Did you mean" not in (error.hint or "")


def test_jobqueue_itself_must_be_a_dict():
    with override_settings(JOBQUEUE=["CONNECTIONS"]):
        [error] = check_settings()
    assert error.id == "django_jobqueue.E015" and "dict" in error.msg


@pytest.mark.parametrize(
    ("entry", "typo", "meant"),
    [({"TRANSPORTS": "x.Y", "OPTIONS": {}}, "TRANSPORTS", "TRANSPORT"),
     ({"TRANSPORT": DATABASE, "OPTION": {}}, "OPTION", "OPTIONS")],
)
def test_unknown_keys_in_a_connection_are_errors(entry, typo, meant):
    found = messages(CONNECTIONS={**settings.JOBQUEUE["CONNECTIONS"], "default": entry})
    error = only(found, "django_jobqueue.E014")
    assert "JOBQUEUE['CONNECTIONS']['default']" in error.msg and repr(typo) in error.msg
    assert error.hint.startswith(f"Did you mean {meant!r}?")


def test_unknown_keys_in_failed_redis_are_errors():
    error = only(messages(FAILED_REDIS={"URLS": "redis://x"}), "django_jobqueue.E014")
    assert "FAILED_REDIS" in error.msg and error.hint.startswith("Did you mean 'URL'?")


# -- value types --------------------------------------------------------------------------------

WRONG_VALUES = [
    ("EXCEPTION_HANDLERS", "tests.handlers.first"),
    ("EXCEPTION_HANDLERS", [42]),
    ("HORSE_MEMORY_LIMIT_MB", "200"),
    ("HORSE_MEMORY_LIMIT_MB", 0),
    ("HORSE_MAX_MEMORY_MB", None),
    ("HORSE_MAX_JOBS", 1.5),
    ("DISPATCH_AFTER_COMMIT", "no"),
    ("DEFAULT_EXCEPTION_HANDLER", 0),
    ("DEFAULT_QUEUE", ""),
    ("DEFAULT_CONNECTION", None),
    ("DEFAULT_RETRY_AFTER", "10"),
    ("DEFAULT_RETRY_AFTER", [1, "x"]),
    ("DEFAULT_RETRY_AFTER", -1),
    ("MAX_PAYLOAD_BYTES", "1MB"),
    ("MAX_PAYLOAD_DEPTH", 0),
    ("MAX_EXCEPTION_CHARS", True),
    ("MAX_ERRORS_KEPT", -1),
    ("FAILED_DATABASE", 1),
    ("FAILED_DATABASE_RETRY_INTERVAL", -5),
    ("FAILED_REDIS", "redis://localhost"),
    ("FAILED_REDIS", {"URL": 6379}),
    ("FAILED_RETENTION_DAYS", 0),
    ("REDIS_PREFIX", ""),
    ("SENSITIVE_KEYS", "TOKEN|("),
    ("SHUTDOWN_TIMEOUT", "30"),
    ("SLEEP", -1),
    ("PREFETCH", -1),
    ("PREFETCH_HOLD", "1"),
    ("WORK_HORSE_KILLED_HANDLER", 3),
    ("METRICS_PORT", 70000),
    ("METRICS_PORT", "9100"),
    ("METRICS_ADDR", None),
    ("CONNECTIONS", []),
    ("CONNECTIONS", {}),
    ("CONNECTIONS", {"default": "django_jobqueue.transports.database.DatabaseTransport"}),
    ("CONNECTIONS", {"default": {"TRANSPORT": DATABASE, "OPTIONS": "DATABASE=default"}}),
]


@pytest.mark.parametrize(("name", "value"), WRONG_VALUES)
def test_wrong_values_are_errors(name, value):
    found = messages(**{name: value})
    wrong = [m for m in found if m.level >= checks.ERROR and f"JOBQUEUE[{name!r}]" in m.msg]
    assert wrong, found


def test_the_memory_limit_message_says_what_is_expected():
    error = only(messages(HORSE_MEMORY_LIMIT_MB="200"), "django_jobqueue.E015")
    assert error.msg == ("JOBQUEUE['HORSE_MEMORY_LIMIT_MB'] must be a number > 0 or None,"
                         " not '200' (str).")


def test_every_setting_declares_its_shape():
    # A new setting cannot be added without one: the defaults are read from the declarations.
    assert set(conf.DEFAULTS) == set(conf.SETTINGS)
    for name, setting in conf.SETTINGS.items():
        assert setting.shape.problem(setting.default) is None, name


@pytest.mark.parametrize(
    ("name", "value"),
    [("EXCEPTION_HANDLERS", ("tests.handlers.first",)), ("EXCEPTION_HANDLERS", [print]),
     ("HORSE_MEMORY_LIMIT_MB", 200), ("HORSE_MEMORY_LIMIT_MB", 0.5), ("PREFETCH", 0),
     ("DEFAULT_RETRY_AFTER", [1, 2.5]), ("DEFAULT_RETRY_AFTER", ExponentialBackoff()),
     ("FAILED_REDIS", {"ALIAS": "redis", "PREFIX": "x"}), ("METRICS_PORT", 0)],
)
def test_right_values_pass(name, value):
    assert messages(**{name: value}) == []


# -- dotted paths --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "value", "code"),
    [("EXCEPTION_HANDLERS", ["tests.handlers.no_such_handler"], "E016"),
     ("EXCEPTION_HANDLERS", ["no_such_module.handler"], "E016"),
     ("WORK_HORSE_KILLED_HANDLER", "tests.handlers.nope", "E016"),
     ("WORK_HORSE_KILLED_HANDLER", "tests.settings.SECRET_KEY", "E016"),
     ("NEW_FINGERPRINT_HANDLER", "tests.handlers.nope", "E012")],
)
def test_dotted_paths_must_import_a_callable(name, value, code):
    error = only(messages(**{name: value}), f"django_jobqueue.{code}")
    assert f"JOBQUEUE[{name!r}]" in error.msg


def test_an_exception_handler_that_is_not_callable_is_named():
    error = only(messages(EXCEPTION_HANDLERS=["tests.handlers.first", "tests.settings.DEBUG"]),
                 "django_jobqueue.E016")
    assert "'tests.settings.DEBUG' is not callable" in error.msg


# -- the ids are documented ------------------------------------------------------------------------

def test_every_check_id_is_documented():
    source = "\n".join(p.read_text() for p in (ROOT / "django_jobqueue").rglob("*.py"))
    ids_in_code = set(re.findall(r"\b[EW]\d{3}\b", source)) | set(
        f"E{n:03d}" for n in map(int, re.findall(r"_error\([^)]*?,\s*(\d+)", source, re.S)))
    page = (ROOT / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"`django_jobqueue\.([EW]\d{3})`", page))
    assert ids_in_code and ids_in_code <= documented, sorted(ids_in_code - documented)
