"""Schedule entries read from the SCHEDULE setting and from job classes' attributes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from django_jobqueue import Job
from django_jobqueue.builtin_jobs import PruneFailedJobs
from django_jobqueue.schedule import Cron, Due, Every, ScheduleEntry, entries, load
from django_jobqueue.schedule.fields import default_zone
from tests.jobs import Record
from tests.support.registry import own_registry  # noqa: F401 -- a fixture
from tests.support.settings_overrides import jobqueue

UTC = ZoneInfo("UTC")


def schedule(**named):
    return jobqueue(SCHEDULE=named)


def settings_entries():
    """The entries from SCHEDULE (job classes of the suite may declare others)."""
    return [e for e in entries() if e.source == "settings"]


def shop_entries():
    """The entries of the classes these tests define (all named ``shop.*``)."""
    return [e for e in entries() if e.name.startswith("shop.")]


def test_no_schedule_no_entries():
    assert settings_entries() == []
    assert load().problems == ()


def test_a_settings_entry_with_every_key():
    with schedule(report={
        "JOB": "tests.jobs.Record", "CRON": "30 6 * * 1-5", "ARGS": [7],
        "KWARGS": {"note": "daily"}, "QUEUE": "low", "CONNECTION": "memory",
        "TIME_ZONE": "Europe/Paris", "ENABLED": False, "MISSED": "catch_up",
        "CATCH_UP_LIMIT": 3,
    }):
        [entry] = settings_entries()
    assert entry == ScheduleEntry(
        name="report", job="tests.jobs.Record", timing=Cron("30 6 * * 1-5",
                                                            ZoneInfo("Europe/Paris")),
        args=(7,), kwargs={"note": "daily"}, queue="low", connection="memory",
        enabled=False, missed="catch_up", catch_up_limit=3, source="settings")


def test_settings_entry_defaults():
    with schedule(tick={"JOB": "tests.jobs.Record", "EVERY": 30, "ARGS": [1]}):
        [entry] = settings_entries()
    assert entry.timing == Every(30.0)
    assert (entry.queue, entry.connection, entry.enabled, entry.missed,
            entry.catch_up_limit, entry.kwargs) == (None, None, True, "once", 10, {})


def test_every_takes_a_timedelta():
    with schedule(tick={"JOB": "tests.jobs.Record", "EVERY": dt.timedelta(minutes=5),
                        "ARGS": [1]}):
        assert settings_entries()[0].timing == Every(300.0)


def test_cron_time_zone_defaults_to_django_time_zone():
    spec = {"JOB": "tests.jobs.Record", "CRON": "0 2 * * *", "ARGS": [1]}
    with schedule(nightly=spec), override_settings(TIME_ZONE="America/New_York"):
        assert settings_entries()[0].timing.tz == ZoneInfo("America/New_York")
    # Without USE_TZ Django still keeps local times in TIME_ZONE: so does the schedule.
    with schedule(nightly=spec), override_settings(TIME_ZONE="Asia/Tokyo", USE_TZ=False):
        assert settings_entries()[0].timing.tz == ZoneInfo("Asia/Tokyo")
    with override_settings(TIME_ZONE=None):
        assert default_zone() == "UTC"


def test_entries_are_sorted_by_name_and_follow_override_settings():
    spec = {"JOB": "tests.jobs.Record", "EVERY": 60, "ARGS": [1]}
    with schedule(zeta=spec, alpha=spec, mid=spec):
        assert [e.name for e in settings_entries()] == ["alpha", "mid", "zeta"]
        with schedule(other=spec):
            assert [e.name for e in settings_entries()] == ["other"]
        assert len(settings_entries()) == 3


def test_job_by_dotted_path_resolves_to_its_registry_name():
    with schedule(prune={"JOB": "django_jobqueue.builtin_jobs.PruneFailedJobs",
                         "CRON": "0 2 * * *"}):
        [entry] = settings_entries()
    assert entry.job == "django_jobqueue.PruneFailedJobs"


def test_invalid_entries_are_left_out_and_reported():
    good = {"JOB": "tests.jobs.Record", "EVERY": 60, "ARGS": [1]}
    with schedule(good=good, bad={**good, "EVERY": 0}):
        assert [e.name for e in settings_entries()] == ["good"]
        [problem] = load().problems
    assert problem.code == "E019" and "['bad']['EVERY']" in problem.message


def test_due_applies_the_entry_policy():
    entry = ScheduleEntry(name="x", job="tests.jobs.Record", timing=Every(60), args=(1,),
                          missed="catch_up", catch_up_limit=2)
    assert entry.due(0, 300) == Due((240, 300), 3, 300)
    assert dataclasses.replace(entry, missed="once").due(0, 300) == Due((300,), 4, 300)


def test_new_job_builds_the_registered_class_with_the_arguments():
    entry = ScheduleEntry(name="x", job="tests.jobs.Record", timing=Every(60), args=(5,),
                          kwargs={"note": "n"})
    job = entry.new_job()
    assert type(job) is Record and (job.value, job.note) == (5, "n")


def test_entries_are_frozen():
    entry = ScheduleEntry(name="x", job="tests.jobs.Record", timing=Every(60))
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "y"


# -- job classes ------------------------------------------------------------------------------

@pytest.mark.usefixtures("own_registry")
def test_class_schedules_become_entries():
    class Nightly(Job):
        name = "shop.Nightly"
        schedule = "0 3 * * *"
        schedule_timezone = "Europe/Paris"
        schedule_missed = "skip"

        def handle(self): ...

    class Pulse(Job):
        name = "shop.Pulse"
        schedule = 90

        def handle(self): ...

    class Weekly(Job):
        name = "shop.Weekly"
        schedule = dt.timedelta(days=7)

        def handle(self): ...

    class Plain(Job):
        name = "shop.Plain"

        def handle(self): ...

    found = {e.name: e for e in shop_entries()}
    assert set(found) == {"shop.Nightly", "shop.Pulse", "shop.Weekly"}
    assert found["shop.Nightly"] == ScheduleEntry(
        name="shop.Nightly", job="shop.Nightly", timing=Cron("0 3 * * *", ZoneInfo(
            "Europe/Paris")), missed="skip", source="class")
    assert found["shop.Pulse"].timing == Every(90.0)
    assert found["shop.Pulse"].missed == "once"
    assert found["shop.Weekly"].timing == Every(7 * 86_400.0)
    assert type(found["shop.Pulse"].new_job()) is Pulse


@pytest.mark.usefixtures("own_registry")
def test_class_cron_defaults_to_django_time_zone():
    class Early(Job):
        name = "shop.Early"
        schedule = "@daily"

    with override_settings(TIME_ZONE="Europe/Paris"):
        assert shop_entries()[0].timing == Cron("@daily", ZoneInfo("Europe/Paris"))


@pytest.mark.usefixtures("own_registry")
def test_abstract_classes_are_not_entries_but_their_subclasses_are():
    class Base(Job):
        abstract = True
        schedule = "*/5 * * * *"

    class Concrete(Base):
        name = "shop.Concrete"

    assert [e.name for e in shop_entries()] == ["shop.Concrete"]


@pytest.mark.usefixtures("own_registry")
def test_a_class_needing_arguments_is_left_out():
    class NeedsOrder(Job):
        name = "shop.NeedsOrder"
        schedule = "0 2 * * *"

        def __init__(self, order_id):
            self.order_id = order_id

    class DefaultsAreFine(Job):
        name = "shop.DefaultsAreFine"
        schedule = "0 2 * * *"

        def __init__(self, limit=10):
            self.limit = limit

    assert [e.name for e in shop_entries()] == ["shop.DefaultsAreFine"]
    assert [p.code for p in load().problems] == ["E024"]


@pytest.mark.usefixtures("own_registry")
def test_settings_and_class_entries_together():
    class Hourly(Job):
        name = "shop.Hourly"
        schedule = "@hourly"

    with schedule(a={"JOB": "shop.Hourly", "EVERY": 10}):
        found = [e for e in entries() if e.name in ("a", "shop.Hourly")]
    assert [(e.name, e.source) for e in found] == [("a", "settings"),
                                                   ("shop.Hourly", "class")]


def test_prune_failed_jobs_entry_from_the_docs():
    with schedule(**{"prune-failed-jobs": {"JOB": "django_jobqueue.PruneFailedJobs",
                                           "CRON": "0 2 * * *"}}):
        [entry] = settings_entries()
    job = entry.new_job()
    assert type(job) is PruneFailedJobs and job.days is None
    assert entry.timing == Cron("0 2 * * *", UTC)
