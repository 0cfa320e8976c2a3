"""``manage.py pause_queue`` and ``resume_queue``: what they print, what they refuse, and the
pause as ``queue_status`` shows it (table and JSON)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
import zoneinfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_jobqueue.flow.pause import paused
from tests.support.commands import command, refused
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True, databases=["default"])
EFFECT = "Workers take no new jobs from it; running jobs finish."
ZONE = zoneinfo.ZoneInfo("Asia/Kathmandu")  # UTC+05:45: a wrong zone cannot pass by luck
DOWN = {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
        "OPTIONS": {"URL": "redis://127.0.0.1:9/0"}}


def fresh(stem: str = "q") -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def test_pause_then_resume_several_queues():
    emails, reports = fresh("emails"), fresh("reports")
    out, _ = command("pause_queue", emails, reports, "--connection", "default")
    assert out.splitlines() == [
        f"Paused queue '{emails}' on connection 'default'. {EFFECT}",
        f"Paused queue '{reports}' on connection 'default'. {EFFECT}"]
    found = paused("default", [emails, reports])
    assert {p.by for p in found.values()} == {"command"} and len(found) == 2
    out, _ = command("resume_queue", emails, reports, "--connection", "default")
    assert out.splitlines() == [
        f"Resumed queue '{emails}' on connection 'default': workers take jobs from it again.",
        f"Resumed queue '{reports}' on connection 'default': workers take jobs from it again."]
    assert paused("default", [emails, reports]) == {}


def test_the_default_connection_and_queues_paused_or_not_already():
    queue = fresh()
    with jobqueue(DEFAULT_CONNECTION="default"), timezone.override(ZONE):
        command("pause_queue", queue)
        [pause] = paused("default", [queue]).values()
        out, _ = command("pause_queue", queue)
        again, _ = command("resume_queue", queue, queue)
    since = dt.datetime.fromtimestamp(pause.paused_at, ZONE).strftime("%Y-%m-%d %H:%M:%S")
    assert re.fullmatch(
        rf"Queue '{queue}' on connection 'default' was paused already \(since {since} "
        rf"\(\d+\.\ds ago\), by command\)\. {re.escape(EFFECT)}\n", out), out
    assert again.splitlines() == [
        f"Resumed queue '{queue}' on connection 'default': workers take jobs from it again.",
        f"Queue '{queue}' on connection 'default' was not paused: nothing changed."]


def test_a_queue_nothing_knows_is_paused_with_a_warning():
    out, err = command("pause_queue", "defualt", "--connection", "default")
    assert out.startswith("Paused queue 'defualt' on connection 'default'.")
    assert err.startswith("Warning: no job class declares queue 'defualt' and it holds no "
                          "jobs on connection 'default': the pause holds back only jobs "
                          "dispatched later. Did you mean 'default'?")
    _, quiet = command("pause_queue", "default", "--connection", "default")
    assert quiet == ""
    command("resume_queue", "defualt", "default", "--connection", "default")


@pytest.mark.parametrize(("name", "args", "match"), [
    ("pause_queue", [], "the following arguments are required: QUEUE"),
    ("resume_queue", [], "the following arguments are required: QUEUE"),
    ("pause_queue", [""], "a queue name cannot be empty"),
    ("pause_queue", ["emails", "--connection", "nope"], "Unknown jobqueue connection 'nope'"),
    ("resume_queue", ["emails", "--connection", "nope"], "Unknown jobqueue connection 'nope'"),
    ("pause_queue", ["emails", "--connection", "memory"],
     "connection 'memory' keeps jobs in one process only"),
])
def test_bad_arguments_change_nothing(name, args, match):
    refused(name, *args, match=match)  # exit codes: test_command_exit_codes.py
    assert paused("memory", ["emails"]) == paused("default", ["emails"]) == {}


def test_a_store_that_does_not_answer_exits_1():
    with jobqueue(CONNECTIONS={"down": DOWN}):
        for name in ("pause_queue", "resume_queue"):
            error = refused(name, "emails", "--connection", "down", match="^TransportError: ")
            assert error.returncode == 1, name


def test_queue_status_shows_a_pause_in_its_table_and_json():
    queue, other = fresh(), fresh()
    command("pause_queue", queue, "--connection", "default")
    [pause] = paused("default", [queue]).values()
    with timezone.override(ZONE):
        out, _ = command("queue_status", "--connection", "default", "--queue", queue,
                         "--queue", other)
    since = dt.datetime.fromtimestamp(pause.paused_at, ZONE).strftime("%Y-%m-%d %H:%M:%S")
    header, paused_row, other_row = (re.split(r"  +", line) for line in out.splitlines()[:3])
    assert header == ["connection", "queue", "ready", "delayed", "reserved", "oldest"]
    assert paused_row[:6] == ["default", queue, "0", "0", "0", "-"]
    assert re.fullmatch(rf"paused since {since} \(\d+\.\ds ago\), by command",
                        paused_row[6]), paused_row
    assert other_row == ["default", other, "0", "0", "0", "-"]
    stdout = io.StringIO()
    call_command("queue_status", "--json", "--connection", "default", "--queue", queue,
                 "--queue", other, stdout=stdout)
    rows = [json.loads(line) for line in stdout.getvalue().splitlines()][:2]
    assert [(r["queue"], r["paused"], r["paused_at"], r["paused_by"]) for r in rows] == [
        (queue, True, pause.paused_at, "command"), (other, False, None, "")]
    command("resume_queue", queue, "--connection", "default")
