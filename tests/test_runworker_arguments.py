"""``runworker``'s arguments: numbers that cannot work are refused before anything starts,
and a queue that nothing declares is called out at start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from django_jobqueue import queue_names
from django_jobqueue.queue_names import declared_queues, unknown_queue_warnings
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support import REPO


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_concurrency_below_one_is_refused(value):
    # The memory connection: were the value accepted, the command would stop at once anyway.
    with pytest.raises(CommandError, match=r"--concurrency: must be a whole number >= 1"):
        call_command("runworker", "--connection", "memory", "--concurrency", value)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-jobs", "0"), ("--horse-max-jobs", "0"), ("--memory-limit", "0"),
     ("--timeout", "-1"), ("--sleep", "-1"), ("--prefetch", "-1"), ("--metrics-port", "70000")],
)
def test_other_impossible_numbers_are_refused(flag, value):
    with pytest.raises(CommandError, match=f"{flag}: must be"):
        call_command("runworker", "--connection", "memory", flag, value)


def test_known_queues_are_the_default_the_declared_and_the_tasks_ones(monkeypatch):
    assert {"default", "high", "low"} <= declared_queues()  # DEFAULT_QUEUE, Tasks' QUEUES
    # A class declaring a queue (faked: a registered class would stay for the other tests).
    declared = type("Mailer", (), {"queue": "emails"})
    monkeypatch.setattr(queue_names, "registered", lambda: {"tests.Mailer": declared})
    assert "emails" in declared_queues()


def test_an_undeclared_empty_queue_is_warned_about_with_a_guess():
    [line] = unknown_queue_warnings(["defualt", "default"], get_transport("memory"))
    assert line.startswith("Warning: no job class declares queue 'defualt'")
    assert "Did you mean 'default'?" in line


def test_a_queue_that_holds_jobs_is_not_warned_about():
    memory = get_transport("memory")
    jobs.Record("x").dispatch(connection="memory", queue="adhoc")
    try:
        assert unknown_queue_warnings(["adhoc"], memory) == []
    finally:
        memory.clear("adhoc")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, databases=["default"])
def test_runworker_warns_on_stderr_then_runs():
    env = dict(os.environ, JQ_TESTING_DB="1", PYTHONPATH=str(REPO), JQ_SETTINGS_JSON="{}")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "django", "runworker", "defualt", "--burst", "--settings",
         "tests.settings"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("Warning: no job class declares queue 'defualt'")
    assert "Did you mean 'default'?" in first
