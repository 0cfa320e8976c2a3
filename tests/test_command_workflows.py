"""``manage.py batch_status``, ``retry_batch`` and ``cancel_batch``, and what the other
commands say of workflows: ``job_status`` of waiting and held chain steps, ``queue_status
--held``, ``failed_jobs --batch`` / ``--chain-held`` and ``retry_failed_jobs --batch``. On
the memory transport and on SQLite (the database transport, whose tallies are a table)."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.conf import settings

from django_jobqueue import failures
from django_jobqueue.coordination.memory import MemoryCoordination
from django_jobqueue.exceptions import PayloadError
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from django_jobqueue.workflows import batch, batch_status, chain
from tests import jobs
from tests.support import ledger
from tests.support.commands import TTY, command, failing_command, refused
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True, databases=["default"])


@pytest.fixture(params=["memory", "default"])
def home(request, ledger):
    """The connection the workflows run on (memory, or the SQLite database transport), the
    default one; with each other the only ones configured."""
    both = {name: settings.JOBQUEUE["CONNECTIONS"][name] for name in ("default", "memory")}
    with jobqueue(CONNECTIONS=both, DEFAULT_CONNECTION=request.param,
                  DEFAULT_EXCEPTION_HANDLER=False):
        get_transport(request.param).clear("default")
        MemoryCoordination("memory").clear()
        yield request.param
        get_transport(request.param).clear("default")
        MemoryCoordination("memory").clear()


def run(home):
    return work(connection=home)


def half_failed(home, n=4):
    """A batch of ``n`` children, ``b`` and ``d`` failing until fixed, all run."""
    keys = "abcdefgh"[:n]
    sent = batch([jobs.Step(k, until_fixed=k in "bd") for k in keys],
                 on_success=jobs.Callback("success"), on_failure=jobs.Callback("failure"),
                 name="nightly import").dispatch()
    run(home)
    return sent


def test_batch_status_text_and_json(home):
    sent = half_failed(home)
    out, _ = command("batch_status", sent.id)
    lines = out.splitlines()
    assert lines[0] == f'Batch {sent.id} "nightly import" on connection {home}'
    facts = {label.strip(): value.strip()
             for label, value in (line.split(": ", 1) for line in lines[1:])}
    assert facts["Progress"] == ("4 of 4 jobs ended (100%): 2 succeeded, 2 failed, 0 "
                                 "cancelled; 0 pending")
    assert facts["State"] == "complete"
    assert facts["Callbacks"] == "on_failure, on_success"
    assert facts["Connections"] == home
    assert sorted(facts["Failed jobs"].split(", ")) == sorted([sent.jobs[1].id, sent.jobs[3].id])
    assert facts["Retry them"] == f"manage.py retry_batch {sent.id}"
    out, _ = command("batch_status", sent.id, "--json", "--failed", "1")
    data = json.loads(out)
    assert (data["id"], data["home"], data["total"], data["failed"], data["pending"],
            data["percent"], data["complete"], data["cancel_requested"]) == (
        sent.id, home, 4, 2, 0, 100.0, True, False)
    assert data["callbacks"] == ["on_failure", "on_success"]
    assert len(data["failed_ids"]) == 1 and data["failed_ids"][0] in (
        sent.jobs[1].id, sent.jobs[3].id)


def test_batch_status_of_a_running_batch_with_percent(home):
    sent = batch([jobs.Step(str(n)) for n in range(4)]).dispatch()
    work(connection=home, max_jobs=1)
    out, _ = command("batch_status", str(uuid.UUID(sent.id)), "--failed", "0")
    assert "  Progress:    1 of 4 jobs ended (25%): 1 succeeded, 0 failed, 0 cancelled; " \
           "3 pending" in out.splitlines()
    assert "  State:       running" in out.splitlines()
    assert "Failed jobs" not in out and "Callbacks:   none" in out


def test_batch_status_of_an_unknown_batch_or_bad_arguments(home):
    unknown = uuid.uuid4().hex
    error = refused("batch_status", unknown, match=f"No batch {unknown}: it was never")
    assert error.returncode == 1
    # Argument types are refused before anything is read (exit code 2 from the shell:
    # test_command_exit_codes).
    assert refused("batch_status", "nope", match="not a batch id")
    assert refused("batch_status", unknown, "--connection", "nope",
                   match="Unknown jobqueue connection").returncode == 2


def test_retry_batch_dry_run_then_retry_completes_the_batch(home):
    sent = half_failed(home)
    out, _ = command("retry_batch", sent.id, "--dry-run")
    assert out == f"Would retry 2 failed children of batch {sent.id} (default 2).\n"
    assert failures.count(batch=sent.id, outcome="failed") == 2, "a dry run retries nothing"
    ledger.write("fix", value="b")
    ledger.write("fix", value="d")
    out, _ = command("retry_batch", sent.id, "--rate", "1000", "--verbosity", "2")
    assert out.splitlines() == [f"retried or kept {n} failed job{'s' * (n > 1)} so far"
                                for n in (1, 2)] + [
        f"Retried 2 failed children of batch {sent.id} (default 2)."]
    run(home)
    assert [e["value"] for e in ledger.events("callback")] == ["failure", "success"]
    out, _ = command("retry_batch", sent.id)
    assert out == f"Batch {sent.id} has no failed child to retry.\n"


def test_retry_batch_keeps_what_cannot_be_retried_and_exits_1(home, monkeypatch):
    sent = half_failed(home)

    def gone(raw):
        raise PayloadError("job class shop.jobs.Gone is not registered")

    monkeypatch.setattr("django_jobqueue.failures.retrying.check_retryable", gone)
    lines = failing_command("retry_batch", sent.id).splitlines()
    assert lines[0] == (f"Retried 0 failed children of batch {sent.id}. Kept 2 that cannot "
                        "be retried.")
    assert [line.split(": ", 1)[1] for line in lines[1:]] == [
        "job class shop.jobs.Gone is not registered"] * 2
    assert failures.count(batch=sent.id, outcome="failed") == 2


def test_retry_batch_of_an_unknown_batch_says_how_to_retry_what_is_left(home):
    unknown = uuid.uuid4().hex
    error = refused("retry_batch", unknown, match=f"retry_failed_jobs --batch {unknown}")
    assert error.returncode == 1
    assert refused("retry_batch", unknown, "--rate", "0", match="must be a number above 0")


def test_cancel_batch_needs_a_yes_where_nobody_can_be_asked(home, monkeypatch):
    sent = batch([jobs.Step(str(n)) for n in range(4)],
                 on_failure=jobs.Callback("failure")).dispatch()
    work(connection=home, max_jobs=1)
    monkeypatch.setattr("sys.stdin", io.StringIO())
    assert refused("cancel_batch", sent.id, match="needs --yes").returncode == 2
    assert batch_status(sent.id).pending == 3, "nothing was cancelled"
    out, _ = command("cancel_batch", sent.id, "--yes", "--by", "ops:carol", "--verbosity", "2")
    assert out.splitlines() == [f"cancelled or stopped {n} job{'s' * (n > 1)} so far"
                                for n in (1, 2, 3)] + [
        f"Cancelled 3 waiting jobs of batch {sent.id}; asked 0 running jobs to stop."]
    kept = failures.get(sent.jobs[3].id)
    assert kept.outcome == "cancelled" and "ops:carol" in kept.message
    status = batch_status(sent.id)
    assert (status.cancelled, status.pending, status.cancel_requested) == (3, 0, True)
    run(home)
    [failure] = ledger.events("callback")
    assert (failure["value"], failure["cancelled"]) == ("failure", 3)


def test_cancel_batch_asks_on_a_terminal(home, monkeypatch):
    sent = batch([jobs.Step("a"), jobs.Step("b")], name="emails").dispatch()
    answers, asked = iter(["n", "yes"]), []
    monkeypatch.setattr("sys.stdin", TTY())
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or next(answers))
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    assert refused("cancel_batch", sent.id, match="nothing cancelled").returncode == 2
    assert asked[0] == (f'Cancel the rest of batch {sent.id} "emails"? 0 of 2 jobs ended '
                        "(0%): 0 succeeded, 0 failed, 0 cancelled; 2 pending. Waiting jobs "
                        "are taken out of their queues, running ones asked to stop. [y/N] ")
    out, _ = command("cancel_batch", sent.id, "--json", stdout=TTY())
    assert json.loads(out.splitlines()[-1]) == {"batch_id": sent.id, "cancelled": 2,
                                                "requested": 0, "not_found": 0}
    assert "command:alice" in failures.get(sent.jobs[0].id).message


def test_cancel_batch_of_an_unknown_batch_exits_1(home):
    unknown = uuid.uuid4().hex
    assert refused("cancel_batch", unknown, "--yes", match="No batch").returncode == 1


def test_job_status_tells_waiting_and_held_steps_with_what_they_wait_on(home):
    sent = chain(jobs.Step("a"), jobs.Step("b", fail=True), jobs.Step("c")).dispatch()
    _, second, third = (step.id for step in sent.steps)
    out, _ = command("job_status", third)
    assert out.splitlines() == [
        f"{third}: waiting in queue default on connection {home}",
        f"  waiting on job {second}",
        f"  waits for job {second} (chain {sent.id})"]
    run(home)
    record = failures.get(second)
    out, _ = command("job_status", third, second)
    lines = out.splitlines()
    assert lines[:3] == [
        f"{third}: held in queue default on connection {home}",
        f"  waiting on job {second}",
        f"  held: step 2 of chain {sent.id} failed for good (failed job {record.id}); retry it"
        f" to resume the chain (failed_jobs show {record.id})"]
    assert lines[3] == f"{second}: failed in queue default on connection {home}"
    out, _ = command("job_status", third, "--json")
    data = json.loads(out)
    assert (data["state"], data["waiting_on"], data["failed_id"]) == ("held", second, record.id)


def test_failed_jobs_and_retry_failed_jobs_filter_by_batch_and_held_chains(home):
    sent = half_failed(home)
    held = chain(jobs.Step("x", fail=True), jobs.Step("y")).dispatch()
    jobs.Step("z", fail=True).dispatch()
    run(home)
    out, _ = command("failed_jobs", "--batch", sent.id, "--json")
    assert sorted(json.loads(line)["uuid"] for line in out.splitlines()) == sorted(
        [sent.jobs[1].id, sent.jobs[3].id])
    out, _ = command("failed_jobs", "--chain-held", "--json")
    assert [json.loads(line)["uuid"] for line in out.splitlines()] == [held.steps[0].id]
    assert refused("failed_jobs", "--batch", "12", match="not a batch id")
    assert refused("failed_jobs", "show", "1", "--chain-held", match="takes no filters")
    out, _ = command("retry_failed_jobs", "--batch", sent.id, "--dry-run")
    assert out == "Would retry 2 failed jobs (default 2).\n"


def test_queue_status_counts_held_chains_when_asked(home):
    chain(jobs.Step("x", fail=True), jobs.Step("y")).dispatch()
    chain(jobs.Step("v", fail=True), jobs.Step("w")).dispatch()
    jobs.Step("z", fail=True).dispatch()
    run(home)
    connection = "default"  # a shared connection: queue_status leaves memory out
    out, _ = command("queue_status", "--connection", connection, "--queue", "default",
                     "--held")
    header, row = out.splitlines()[:2]
    assert header.split() == ["connection", "queue", "ready", "delayed", "reserved",
                              "oldest", "held", "chains"]
    assert row.split()[-1] == ("2" if home == connection else "0")
    out, _ = command("queue_status", "--connection", connection, "--queue", "default",
                     "--held", "--json")
    assert json.loads(out.splitlines()[0])["held_chains"] == (2 if home == connection else 0)
    out, _ = command("queue_status", "--connection", connection, "--queue", "default", "--json")
    assert "held_chains" not in json.loads(out.splitlines()[0])


def test_cancel_batch_says_a_child_retried_since_is_not_found_under_its_first_id(home):
    sent = batch([jobs.Step("a", until_fixed=True), jobs.LaterStep("b")]).dispatch()
    run(home)  # a fails; b waits on its own queue
    command("retry_batch", sent.id)  # a is pending again, under a new id
    out, _ = command("cancel_batch", sent.id, "--yes")
    assert out == (f"Cancelled 1 waiting job of batch {sent.id}; asked 0 running jobs to "
                   "stop. 1 job was not found under its first id (ended meanwhile, or retried "
                   "since under a new id: a worker that takes one stops it, as the batch's "
                   "cancel request says).\n")
    assert batch_status(sent.id).pending == 1, "the retried one: its worker stops it"
