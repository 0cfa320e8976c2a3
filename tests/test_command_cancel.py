"""``manage.py cancel_jobs`` and ``manage.py job_status``."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.conf import settings

from django_jobqueue import failures
from django_jobqueue.transports import get_transport
from tests.jobs import Noop, Record
from tests.support.commands import TTY, command, failing_command, refused
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True, databases=["default"])


@pytest.fixture
def memory():
    """The memory connection, empty and the default; with SQLite's the only ones."""
    both = {name: settings.JOBQUEUE["CONNECTIONS"][name] for name in ("default", "memory")}
    with jobqueue(CONNECTIONS=both, DEFAULT_CONNECTION="memory"):
        for queue in ("default", "bulk"):
            get_transport("memory").clear(queue)
        yield "memory"
        for queue in ("default", "bulk"):
            get_transport("memory").clear(queue)


def test_cancel_by_id_says_what_became_of_each(memory, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    taken, waiting = Record(1).dispatch(), Record(2).dispatch()
    get_transport(memory).reserve(["default"], 1, 30, "w")  # a worker takes the first
    missing = uuid.uuid4().hex
    out = failing_command("cancel_jobs", waiting.id, taken.id, missing)
    record = failures.get(waiting.id)
    assert out.splitlines() == [
        f"{waiting.id}: cancelled (was queued in queue default on connection memory; kept "
        f"as failed job {record.id})",
        f"{taken.id}: asked to stop (running in queue default on connection memory)",
        f"{missing}: not found in any queue",
    ]
    assert record.message == "cancelled by command:alice before it ran"


def test_cancel_by_id_as_json(memory):
    job = Record(1).dispatch()
    dashed = str(uuid.UUID(job.id))  # as some people paste them
    out, _ = command("cancel_jobs", dashed, "--json", "--connection", memory)
    assert json.loads(out) == {"job_id": job.id, "outcome": "cancelled", "connection": memory,
                               "queue": "default", "state": "queued",
                               "failed_id": failures.get(job.id).id}


def test_cancel_a_queue_needs_a_yes_where_nobody_can_be_asked(memory, monkeypatch):
    for n in range(3):
        Record(n).dispatch(queue="bulk")
    Noop().dispatch(queue="bulk")
    monkeypatch.setattr("sys.stdin", io.StringIO())  # not a terminal
    refused("cancel_jobs", "--queue", "bulk", match="needs --yes")
    out, _ = command("cancel_jobs", "--queue", "bulk", "--job-class", "tests.jobs.Record",
                     "--dry-run")
    assert out == ("Would cancel 3 waiting jobs of job class tests.jobs.Record of queue bulk "
                   "on connection memory; would ask 0 running jobs to stop.\n")
    assert get_transport(memory).size("bulk").total == 4
    out, _ = command("cancel_jobs", "--queue", "bulk", "--yes", "--verbosity", "2")
    assert out.splitlines() == [f"cancelled or stopped {n} job{'s' * (n > 1)} so far"
                                for n in (1, 2, 3, 4)] + [
        "Cancelled 4 waiting jobs of queue bulk on connection memory; asked 0 running jobs "
        "to stop."]
    assert get_transport(memory).size("bulk").total == 0


def test_cancel_a_queue_asks_on_a_terminal(memory, monkeypatch):
    Record(1).dispatch(queue="bulk")
    get_transport(memory).reserve(["bulk"], 1, 30, "w")
    Record(2).dispatch(queue="bulk", delay=60)
    answers, asked = iter(["n", "y"]), []

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or next(answers))
    refused("cancel_jobs", "--queue", "bulk", match="nothing cancelled")
    assert asked[0] == ("Cancel the jobs of queue bulk on connection memory? It holds 1 "
                        "waiting and 1 taken by workers (asked to stop). [y/N] ")
    out, _ = command("cancel_jobs", "--queue", "bulk", "--json", stdout=TTY())
    assert json.loads(out.splitlines()[-1]) == {
        "connection": memory, "queue": "bulk", "cancelled": 1, "requested": 1,
        "not_found": 0, "dry_run": False, "total": 2}


@pytest.mark.parametrize(("argv", "message"), [
    ([], "give job IDs, or --queue"),
    (["--queue", "q", "0" * 32], "give job IDs, or --queue"),
    (["--job-class", "x", "0" * 32], "go with --queue"),
    (["--dry-run", "0" * 32], "--dry-run goes with --queue"),
    (["not-an-id"], "not a job id"),
    (["--queue", "q", "--yes", "--connection", "nope"], "Unknown jobqueue connection"),
])
def test_cancel_refuses_arguments_that_do_not_fit(memory, argv, message):
    assert refused("cancel_jobs", *argv, match=message)


def test_job_status_text_and_json(memory, ledger):
    queued = Record(1).dispatch()
    later = Record(2).dispatch(delay=120)
    gone = Record(3).dispatch()
    command("cancel_jobs", gone.id)
    out, _ = command("job_status", queued.id, later.id, gone.id)
    lines = out.splitlines()
    assert lines[0] == f"{queued.id}: queued in queue default on connection memory"
    assert lines[1] == f"{later.id}: delayed in queue default on connection memory"
    assert lines[2].startswith("  due in 1m 5") or lines[2].startswith("  due in 2m 00s")
    record = failures.get(gone.id)
    assert lines[3:] == [
        f"{gone.id}: cancelled in queue default on connection memory",
        f"  failed job {record.id}: django_jobqueue.exceptions.JobCancelled: {record.message}"
        f" (failed_jobs show {record.id})"]
    out, _ = command("job_status", queued.id, "--json")
    assert json.loads(out)["state"] == "queued"


def test_job_status_of_an_unknown_job_exits_1(memory):
    unknown = uuid.uuid4().hex
    assert failing_command("job_status", unknown) == f"{unknown}: unknown\n"
    refused("job_status", unknown, "--connection", "nope", match="Unknown jobqueue")
