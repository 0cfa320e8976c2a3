"""System checks of the schedule: a declaration that cannot fire is an error at start-up."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_jobqueue import Job
from django_jobqueue.checks import check_settings
from tests.support.registry import own_registry  # noqa: F401 -- a fixture
from tests.support.settings_overrides import jobqueue

GOOD = {"JOB": "tests.jobs.Record", "CRON": "0 2 * * *", "ARGS": [1]}


def errors(**entries):
    with jobqueue(SCHEDULE=entries):
        return check_settings()


def only(**entries):
    """The one error ``entries`` cause: ``(id, message, hint)``."""
    [error] = errors(**entries)
    return error.id, error.msg, error.hint


def test_a_valid_schedule_passes():
    assert errors(nightly=GOOD, tick={"JOB": "tests.jobs.Record", "EVERY": 5, "ARGS": [1],
                                      "MISSED": "skip", "CATCH_UP_LIMIT": 3,
                                      "QUEUE": "low", "CONNECTION": "memory",
                                      "ENABLED": False}) == []


def test_invalid_cron_says_what_the_library_says():
    code, msg, hint = only(nightly={**GOOD, "CRON": "0 25 * * *"})
    assert code == "django_jobqueue.E017"
    assert msg == ("JOBQUEUE['SCHEDULE']['nightly']['CRON'] is not a valid cron expression: "
                   "Bad hour in '0 25 * * *'.")
    assert "0 2 * * *" in hint


@pytest.mark.parametrize("cron", ["@reboot", "0 2 * *", "0 0 2 * * *", 5, None])
def test_other_cron_mistakes(cron):
    assert only(nightly={**GOOD, "CRON": cron})[0] == "django_jobqueue.E017"


def test_both_or_neither_of_cron_and_every():
    code, msg, _ = only(x={**GOOD, "EVERY": 60})
    assert code == "django_jobqueue.E018" and "both 'CRON' and 'EVERY'" in msg
    neither = {k: v for k, v in GOOD.items() if k != "CRON"}
    code, msg, _ = only(x=neither)
    assert code == "django_jobqueue.E018" and "neither 'CRON' nor 'EVERY'" in msg
    every_with_zone = {**neither, "EVERY": 60, "TIME_ZONE": "UTC"}
    assert only(x=every_with_zone)[0] == "django_jobqueue.E018"


@pytest.mark.parametrize("every", [0, 0.5, -5, "60", True, None, dt.timedelta(0)])
def test_bad_interval(every):
    spec = {"JOB": "tests.jobs.Record", "EVERY": every, "ARGS": [1]}
    code, msg, _ = only(x=spec)
    assert code == "django_jobqueue.E019" and "at least 1" in msg


def test_unknown_job_with_a_guess():
    code, msg, hint = only(x={**GOOD, "JOB": "tests.jobs.Recrod"})
    assert code == "django_jobqueue.E020"
    assert "'tests.jobs.Recrod', which is not a registered job class" in msg
    assert hint == "Did you mean 'tests.jobs.Record'?"


def test_unknown_job_far_from_any_says_how_to_register():
    code, _, hint = only(x={**GOOD, "JOB": "os.system"})
    assert code == "django_jobqueue.E020" and "jobs module" in hint


def test_a_job_class_is_never_imported_from_a_dotted_path():
    # Importable, but not a registered Job: refused, and nothing is imported.
    assert only(x={**GOOD, "JOB": "django_jobqueue.jobs.Job"})[0] == "django_jobqueue.E020"


def test_unknown_time_zone_with_a_guess():
    code, msg, hint = only(x={**GOOD, "TIME_ZONE": "Europe/Pari"})
    assert code == "django_jobqueue.E021" and "not a time zone" in msg
    assert hint == "Did you mean 'Europe/Paris'?"
    assert only(x={**GOOD, "TIME_ZONE": "europe/paris"})[2] == "Did you mean 'Europe/Paris'?"
    assert only(x={**GOOD, "TIME_ZONE": "Mars/Olympus"})[0] == "django_jobqueue.E021"


def test_unknown_missed_policy_with_a_guess():
    code, msg, hint = only(x={**GOOD, "MISSED": "catchup"})
    assert code == "django_jobqueue.E022" and "'skip', 'once', 'catch_up'" in msg
    assert hint == "Did you mean 'catch_up'?"


@pytest.mark.parametrize("limit", [0, -1, 2.5, "10", True])
def test_bad_catch_up_limit(limit):
    assert only(x={**GOOD, "CATCH_UP_LIMIT": limit})[0] == "django_jobqueue.E023"


@pytest.mark.parametrize(("args", "kwargs", "says"), [
    ([], {}, "missing a required argument: 'value'"),
    ([1, 2, 3], {}, "too many positional arguments"),
    ([1], {"colour": "red"}, "unexpected keyword argument 'colour'"),
    ("1", {}, "ARGS must be a list"),
    ([{1, 2}], {}, "must fit in a payload"),
])
def test_arguments_that_do_not_fit_the_job(args, kwargs, says):
    code, msg, _ = only(x={**GOOD, "ARGS": args, "KWARGS": kwargs})
    assert code == "django_jobqueue.E024" and says in msg


@pytest.mark.parametrize(("key", "value"), [("QUEUE", ""), ("QUEUE", 3),
                                            ("CONNECTION", "memroy"), ("ENABLED", "yes")])
def test_bad_queue_connection_or_enabled(key, value):
    code, msg, hint = only(x={**GOOD, key: value})
    assert code == "django_jobqueue.E026" and key in msg
    if value == "memroy":
        assert hint == "Did you mean 'memory'?"


def test_unknown_key_in_an_entry_is_e014_with_a_guess():
    code, msg, hint = only(x={**GOOD, "CRONE": "x"})
    assert code == "django_jobqueue.E014"
    assert "JOBQUEUE['SCHEDULE']['x'] has an unknown key 'CRONE'" in msg
    assert hint == "Did you mean 'CRON'?"


@pytest.mark.parametrize("value", [["x"], "0 2 * * *", {"x": "0 2 * * *"}])
def test_schedule_of_the_wrong_shape_is_e015(value):
    with jobqueue(SCHEDULE=value):
        assert [e.id for e in check_settings()] == ["django_jobqueue.E015"]


def test_every_bad_entry_is_reported():
    found = errors(a={**GOOD, "CRON": "x"}, b={**GOOD, "MISSED": "never"}, c=GOOD)
    assert sorted(e.id for e in found) == ["django_jobqueue.E017", "django_jobqueue.E022"]


def test_manage_py_check_fails():
    # No database named: Django 6.1 would run the database checks of every alias, which
    # this test (and a worker at start) has no business connecting to.
    with jobqueue(SCHEDULE={"x": {**GOOD, "CRON": "0 2 * * * *"}}), \
            pytest.raises(SystemCheckError, match="E017"):
        call_command("check", databases=[])


# -- job class attributes ---------------------------------------------------------------------

def class_errors():
    return [(e.id, e.msg, e.hint) for e in check_settings()]


def scheduled_class(**attributes):
    """A job class ``shop.Odd`` with these class attributes, in the test's own registry."""
    return type("Odd", (Job,), {"name": "shop.Odd", "__module__": __name__, **attributes})


@pytest.mark.usefixtures("own_registry")
@pytest.mark.parametrize(("attributes", "code", "where", "hint"), [
    ({"schedule": "0 2 * * * *"}, "E017", "shop.Odd.schedule is not a valid cron", None),
    ({"schedule": 60, "schedule_timezone": "UTC"}, "E018", "shop.Odd.schedule_timezone is set",
     None),
    ({"schedule": "0 2 * * *", "schedule_timezone": "America/New_Yrok"}, "E021",
     "shop.Odd.schedule_timezone", "Did you mean 'America/New_York'?"),
    ({"schedule": "0 2 * * *", "schedule_missed": "Skip"}, "E022", "shop.Odd.schedule_missed",
     "Did you mean 'skip'?"),
], ids=["cron", "zone-with-interval", "zone", "missed"])
def test_class_attribute_mistakes(attributes, code, where, hint):
    scheduled_class(**attributes)
    [(found, msg, said)] = class_errors()
    assert found == f"django_jobqueue.{code}" and where in msg
    if hint:
        assert said == hint


@pytest.mark.usefixtures("own_registry")
@pytest.mark.parametrize("value", [0, 0.2, [1], dt.timedelta(seconds=0.5), b"0 2 * * *"])
def test_class_with_a_bad_schedule_value(value):
    scheduled_class(schedule=value)
    [(code, msg, _)] = class_errors()
    assert code == "django_jobqueue.E019" and "shop.Odd.schedule" in msg


@pytest.mark.usefixtures("own_registry")
def test_class_that_needs_arguments():
    class SendReceipt(Job):
        name = "shop.SendReceipt"
        schedule = "0 2 * * *"

        def __init__(self, order_id):
            self.order_id = order_id

    [(code, msg, hint)] = class_errors()
    assert code == "django_jobqueue.E024" and "cannot be built without arguments" in msg
    assert "ARGS" in hint


@pytest.mark.usefixtures("own_registry")
def test_a_settings_entry_named_like_a_scheduled_class():
    class Nightly(Job):
        name = "shop.Nightly"
        schedule = "0 2 * * *"

    with jobqueue(SCHEDULE={"shop.Nightly": {"JOB": "shop.Nightly", "EVERY": 60}}):
        [(code, msg, _)] = class_errors()
    assert code == "django_jobqueue.E025" and "'shop.Nightly'" in msg


@pytest.mark.parametrize("name", ["", "  ", 7])
def test_entry_names_must_be_text(name):
    with jobqueue(SCHEDULE={name: GOOD}):
        assert [e.id for e in check_settings()] == ["django_jobqueue.E025"]


def test_an_entry_without_job():
    code, msg, _ = only(x={"CRON": "0 2 * * *"})
    assert code == "django_jobqueue.E020" and "has no 'JOB'" in msg


def test_arguments_the_constructor_refuses_are_found_by_building_the_job():
    code, msg, _ = only(prune={"JOB": "django_jobqueue.PruneFailedJobs", "CRON": "0 2 * * *",
                               "KWARGS": {"days": -1}})
    assert code == "django_jobqueue.E024"
    assert msg.startswith("JOBQUEUE['SCHEDULE']['prune']: django_jobqueue.PruneFailedJobs "
                          "cannot be built with its arguments: ValueError: days must be")


def test_every_mistake_of_an_entry_is_reported_at_once():
    found = errors(nightly={"JOB": "tests.jobs.Record", "ARGS": [1], "CRON": "0 25 * * *",
                            "MISSED": "catchup", "QUEUE": 7, "CATCH_UP_LIMIT": 0})
    assert sorted(error.id for error in found) == [
        "django_jobqueue.E017", "django_jobqueue.E022", "django_jobqueue.E023",
        "django_jobqueue.E026"]
