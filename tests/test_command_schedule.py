"""``manage.py schedule``: the list (table and JSON), enable, disable, run now, an unknown
name, and a store that does not answer."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import zoneinfo

import pytest
from django.conf import settings
from django.utils import timezone

from django_jobqueue.schedule import service
from django_jobqueue.transports import get_transport
from tests.support.commands import command, refused
from tests.support.schedules import declared, ended, fresh, queued

ZONE = zoneinfo.ZoneInfo("Asia/Kathmandu")  # UTC+05:45: a wrong zone cannot pass by luck
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
DOWN = {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
        "OPTIONS": {"URL": "redis://127.0.0.1:9/0"}}


@pytest.fixture(autouse=True)
def empty_memory_queue():
    get_transport("memory").clear("default")


def local(epoch: float) -> str:
    return f"{dt.datetime.fromtimestamp(epoch, ZONE):%Y-%m-%d %H:%M:%S}"


def lines_of(out: str) -> dict[str, str]:
    """The table's rows by entry name (the first word)."""
    return {line.split()[0]: line for line in out.splitlines()[1:]}


# How soon, as the command says it: "in 3h 05m", "in 52m 14s" or "in 9s" (the next 02:30
# in Paris is under an hour away for an hour each night).
SOON = r"in (\d+d \d\dh|\d+h \d\dm|\d+m \d\ds|\d+s|\d\.\ds)"


def test_list_is_a_table_with_last_run_outcome_and_next_run():
    report, paris = fresh("report"), fresh("paris")
    with declared({report: {}, paris: {"CRON": "30 2 * * *", "TIME_ZONE": "Europe/Paris",
                                       "QUEUE": "reports"}}):
        job = service.run_now(report)
        ended(report, job.id, "failed")
        with timezone.override(ZONE):
            out, _ = command("schedule")
        fired_at = service.status(report).last.fired_at
        next_run = service.status(paris).next_run
    assert queued() == [job.id]
    header, rows = out.splitlines()[0], lines_of(out)
    assert header.split() == ["name", "job", "when", "queue", "enabled", "last", "run",
                              "last", "job", "outcome", "next", "run"]
    assert re.fullmatch(
        rf"{report} +tests\.jobs\.Record +every 3600 s +default +yes +"
        rf"{re.escape(local(fired_at))} \(\d\.\ds ago, run now\) +{job.id} +"
        rf"failed {WHEN} \(\d\.\ds ago\) +{WHEN} \({SOON}\)", rows[report]), out
    assert re.fullmatch(
        rf"{paris} +tests\.jobs\.Record +cron 30 2 \* \* \* \(Europe/Paris\) +reports +yes +- +"
        rf"- +- +{re.escape(local(next_run))} \({SOON}\)", rows[paris]), out


def test_json_has_one_object_per_entry_with_stable_keys():
    name = fresh()
    with declared({name: {"MISSED": "catch_up"}}):
        job = service.run_now(name)
        ended(name, job.id, "succeeded")
        out, _ = command("schedule", "--json")
    [data] = [json.loads(line) for line in out.splitlines()]
    last, outcome = data.pop("last_run"), data.pop("last_outcome")
    next_run = dt.datetime.fromisoformat(data.pop("next_run"))
    assert data == {"name": name, "job": "tests.jobs.Record", "timing": "every 3600 s",
                    "source": "settings", "connection": "memory", "queue": "default",
                    "enabled": True, "overridden": False, "missed": "catch_up", "error": ""}
    assert next_run.utcoffset() == dt.timedelta(0) and next_run.timestamp() % 3600 == 0
    assert 0 < next_run.timestamp() - time.time() <= 3600
    assert last.pop("slot") is None and last.pop("by") == "run now"
    assert last.pop("job_id") == job.id and abs(_epoch(last.pop("at")) - time.time()) < 60
    assert last == {}
    assert (outcome["job_id"], outcome["outcome"]) == (job.id, "succeeded")
    assert abs(_epoch(outcome["at"]) - time.time()) < 60


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def test_disable_enable_and_run_say_what_they_did():
    name = fresh()
    with declared({name: {}}):
        out, _ = command("schedule", "disable", name)
        assert out.startswith(f"Disabled schedule entry '{name}': it fires no more")
        status = service.status(name)
        assert (status.enabled, status.overridden, status.next_run) == (False, True, None)
        assert " no (operator) " in command("schedule")[0]

        out, _ = command("schedule", "run", name)
        [job_id] = queued()
        assert out == (f"Queued job {job_id} (tests.jobs.Record) for schedule entry "
                       f"'{name}' on queue default of connection memory.\n")
        assert service.status(name).last.job_id == job_id, "a disabled entry still runs by hand"

        out, _ = command("schedule", "enable", name)
        assert re.match(rf"Enabled schedule entry '{name}': next run {WHEN} \(in ", out), out
        assert "Slots missed while it was disabled are not fired" in out
        status = service.status(name)
        assert (status.enabled, status.overridden) == (True, True)
        assert " yes (operator) " in command("schedule")[0]


def test_run_of_a_unique_job_whose_key_is_held_says_it_was_not_queued():
    name = fresh()
    with declared({name: {"JOB": "tests.jobs.UniqueReport", "ARGS": [name]}}):
        first, _ = command("schedule", "run", name)
        second, _ = command("schedule", "run", name)
    [job_id] = queued()
    assert first.startswith(f"Queued job {job_id} ")
    assert second == (f"Not queued: '{name}' runs a unique job (tests.jobs.UniqueReport) and "
                      f"job {job_id} already holds its key, queued or running.\n")


@pytest.mark.parametrize("verb", ["enable", "disable", "run"])
def test_an_unknown_name_is_refused_with_a_suggestion(verb):
    name = fresh("nightly")
    with declared({name: {}}):
        error = refused("schedule", verb, name[:-1] + "x", match=f"Did you mean '{name}'")
    assert error.returncode == 1
    assert queued() == []


@pytest.mark.parametrize(("args", "match"), [
    (["run"], "unknown action 'run'"),
    (["frob", "x"], "unknown action 'frob x'"),
    (["list", "x"], "unknown action 'list x'"),
    (["run", "x", "--json"], "--json goes with 'list'"),
])
def test_bad_arguments_are_usage_errors(args, match):
    with declared({}):
        assert refused("schedule", *args, match=match).returncode == 2


def test_no_entries():
    with declared({}):
        assert command("schedule")[0].startswith("No schedule entries")
        assert command("schedule", "--json")[0] == ""


def test_a_store_that_does_not_answer_shows_in_its_row_and_stops_an_action():
    up, down = fresh("up"), fresh("down")
    connections = {"memory": settings.JOBQUEUE["CONNECTIONS"]["memory"], "down": DOWN}
    with declared({up: {}, down: {"CONNECTION": "down"}}, CONNECTIONS=connections):
        out, _ = command("schedule")
        data = {row["name"]: row for row in map(json.loads,
                                                command("schedule", "--json")[0].splitlines())}
        error = refused("schedule", "disable", down, match="^TransportError: ")
    rows = lines_of(out)
    assert re.search(r" default \(down\) +\? +\? +\? +\? +\? +unavailable: .+", rows[down]), out
    assert re.search(r" default +yes +- +- +- ", rows[up]), "the other entry is read as usual"
    assert data[down]["error"] and data[down]["last_run"] is None
    assert data[up]["error"] == ""
    assert error.returncode == 1
