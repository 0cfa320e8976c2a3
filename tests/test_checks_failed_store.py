"""System checks of ``FAILED_STORE``: the store is built at ``check``, so a typo in its
dotted path or options, or a store that cannot work, is an error at startup."""

from __future__ import annotations

import pytest

from django_jobqueue.checks import check_settings
from django_jobqueue.conf import DATABASE_STORE, FALLBACK_STORE, REDIS_STORE
from tests.support.settings_overrides import jobqueue


def messages(value):
    with jobqueue(FAILED_STORE=value):
        return [(message.id, message.msg + " " + (message.hint or ""))
                for message in check_settings()]


def test_the_default_and_each_store_by_dotted_path_are_clean():
    for value in ({"STORE": FALLBACK_STORE, "OPTIONS": {}},
                  {"STORE": DATABASE_STORE, "OPTIONS": {"DATABASE": "default"}},
                  {"STORE": REDIS_STORE},
                  {"STORE": FALLBACK_STORE, "OPTIONS": {"SECONDARY": None,
                                                        "RETRY_INTERVAL": 1}}):
        assert messages(value) == [], value


@pytest.mark.parametrize(("legacy", "meant"), [("database", FALLBACK_STORE),
                                                ("redis", REDIS_STORE)])
def test_the_strings_of_0_1_still_work_with_a_warning_naming_what_to_write(legacy, meant):
    [(code, text)] = messages(legacy)
    assert code == "django_jobqueue.W002" and meant in text


@pytest.mark.parametrize(("value", "expected"), [
    ({"STORE": "django_jobqueue.failures.composite.FallbackStor"},
     "Did you mean 'django_jobqueue.failures.composite.FallbackStore'?"),
    ({"STORE": FALLBACK_STORE, "OPTIONS": {"PRIMAY": {"STORE": DATABASE_STORE}}},
     "has no option 'PRIMAY' (it takes PRIMARY, SECONDARY, RETRY_INTERVAL). Did you mean"
     " 'PRIMARY'?"),
    ({"STORE": "django_jobqueue.transports.redis.RedisTransport"}, "is not a FailedJobStore"),
    ({"STORE": FALLBACK_STORE, "OPTIONS": {"SECONDARY": {"OPTIONS": {}}}}, "needs a 'STORE'"),
])
def test_a_store_that_cannot_be_built_is_E009_with_a_guess(value, expected):
    [(code, text)] = messages(value)
    assert code == "django_jobqueue.E009" and expected in text


def test_a_shape_that_is_neither_form_is_E009():
    [(code, text)] = messages("s3")
    assert code == "django_jobqueue.E009" and "'database' or 'redis', or a dict" in text


def test_what_a_store_needs_is_checked_by_the_store():
    [(code, text)] = messages({"STORE": DATABASE_STORE, "OPTIONS": {"DATABASE": "nope"}})
    assert code == "django_jobqueue.E010" and "OPTIONS['DATABASE'] 'nope'" in text
    [(code, text)] = messages({"STORE": REDIS_STORE, "OPTIONS": {"ALIAS": "not-a-cache"}})
    assert code == "django_jobqueue.E011" and "not-a-cache" in text


def test_a_mistyped_string_gets_a_guess():
    with jobqueue(FAILED_STORE="databse"):
        [message] = check_settings()
    assert message.id == "django_jobqueue.E009" and message.hint == "Did you mean 'database'?"
