"""Every exit code that docs/commands.md documents, as the shell gets it.

Each case runs a command through ``BaseCommand.run_from_argv``, the path ``manage.py`` takes
(argument errors exit 2 from argparse, a ``CommandError`` exits with its ``returncode``),
in-process so that the test databases and settings overrides apply. The cases must cover
exactly the (command, code) pairs of the page's "Exit codes" table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import load_command_class

from django_jobqueue import failures
from django_jobqueue.transports import get_transport
from tests.jobs import Record
from tests.support.factories import kinds_sharing_a_prefix, make
from tests.support.settings_overrides import jobqueue

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| `([a-z_]+)` \| (\d) \|", re.MULTILINE)


def documented() -> set[tuple[str, int]]:
    text = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    table = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {(name, int(code)) for name, code in ROW.findall(table)}


def exit_code(*argv: str) -> int:
    """Run ``manage.py <argv>``'s command as the shell would; return its exit code."""
    command = load_command_class("django_jobqueue", argv[0])
    try:
        command.run_from_argv(["manage.py", *argv, "--skip-checks"])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def one_failure() -> Any:
    return failures.record(make())


def gone_class() -> Any:
    return failures.record(make(job="shop.jobs.Deleted"))


def shared_prefix() -> str:
    first, second = kinds_sharing_a_prefix()
    failures.record(make(exc=first))
    return failures.record(make(exc=second)).fingerprint[:4]


def queued() -> Any:
    return Record(1).dispatch(connection="memory")


def a_batch() -> Any:
    from django_jobqueue.workflows import batch

    return batch([Record(1)], connection="memory").dispatch()


MEMORY = ["--connection", "memory"]


ENTRY = "exit-codes"  # the one schedule entry the cases run with
SCHEDULE = {ENTRY: {"JOB": "tests.jobs.Record", "ARGS": [1], "EVERY": 3600}}

# (command, documented exit code, setup returning a value, argv built from that value)
Case = tuple[str, int, Callable[[], Any], Callable[[Any], list[str]]]
CASES: list[Case] = [
    ("failed_jobs", 0, lambda: None, lambda _: []),
    ("failed_jobs", 0, one_failure, lambda r: ["show", str(r.id)]),
    ("failed_jobs", 0, one_failure, lambda r: ["forget", str(r.id)]),
    ("failed_jobs", 1, lambda: None, lambda _: ["show", "999"]),
    ("failed_jobs", 1, one_failure, lambda r: ["forget", str(r.id), "999"]),
    ("failed_jobs", 2, lambda: None, lambda _: ["--limit", "0"]),
    ("failed_jobs", 2, lambda: None, lambda _: ["shoe", "1"]),
    ("failed_jobs", 2, one_failure, lambda _: ["--fingerprint", "abc"]),
    ("failed_jobs", 2, shared_prefix, lambda p: ["--fingerprint", p]),
    ("failed_jobs", 2, one_failure,
     lambda r: ["--fingerprint", "0000" if not r.fingerprint.startswith("0000") else "1111"]),
    ("failed_jobs_stats", 0, one_failure, lambda _: ["--since", "1h"]),
    ("failed_jobs_stats", 2, lambda: None, lambda _: ["--since", "soon"]),
    ("retry_failed_jobs", 0, one_failure, lambda r: [str(r.id)]),
    ("retry_failed_jobs", 0, gone_class, lambda _: ["--all", "--dry-run", "--queue", "none"]),
    ("retry_failed_jobs", 1, gone_class, lambda r: [str(r.id)]),
    ("retry_failed_jobs", 1, lambda: None, lambda _: ["999"]),
    ("retry_failed_jobs", 2, one_failure, lambda _: []),
    ("retry_failed_jobs", 2, lambda: None, lambda _: ["--rate", "0"]),
    ("retry_failed_jobs", 2, shared_prefix, lambda p: ["--fingerprint", p]),
    ("prune_failed_jobs", 0, one_failure, lambda _: ["--days", "30"]),
    ("prune_failed_jobs", 0, one_failure, lambda _: ["--all", "--dry-run"]),
    ("prune_failed_jobs", 2, one_failure, lambda _: []),
    ("prune_failed_jobs", 2, lambda: None, lambda _: ["--days", "1", "--hours", "2"]),
    ("check_failed_jobs", 0, one_failure, lambda _: ["--threshold", "1"]),
    ("check_failed_jobs", 1, one_failure, lambda _: ["--threshold", "0"]),
    ("check_failed_jobs", 2, lambda: None, lambda _: []),
    ("check_failed_jobs", 2, lambda: None, lambda _: ["--threshold", "1", "--window", "x"]),
    ("queue_status", 0, one_failure, lambda _: ["--connection", "default"]),
    ("schedule", 0, lambda: None, lambda _: []),
    ("schedule", 0, lambda: None, lambda _: ["run", ENTRY]),
    ("schedule", 1, lambda: None, lambda _: ["run", "nope"]),
    ("schedule", 2, lambda: None, lambda _: ["run"]),
    ("queue_status", 2, lambda: None, lambda _: ["--connection", "nope"]),
    ("pause_queue", 0, lambda: None, lambda _: ["exit-codes", "--connection", "default"]),
    ("pause_queue", 2, lambda: None, lambda _: []),
    ("pause_queue", 2, lambda: None, lambda _: ["exit-codes"]),  # memory: in-process only
    ("pause_queue", 2, lambda: None, lambda _: ["exit-codes", "--connection", "nope"]),
    ("resume_queue", 0, lambda: None, lambda _: ["exit-codes", "--connection", "default"]),
    ("resume_queue", 2, lambda: None, lambda _: ["exit-codes", "--connection", "nope"]),
    ("cancel_jobs", 0, queued, lambda job: [job.id, "--connection", "memory"]),
    ("cancel_jobs", 0, queued, lambda _: ["--queue", "default", "--yes"]),
    ("cancel_jobs", 1, lambda: None, lambda _: ["f" * 32, "--connection", "memory"]),
    ("cancel_jobs", 2, lambda: None, lambda _: []),
    ("cancel_jobs", 2, lambda: None, lambda _: ["--job-class", "x", "f" * 32]),
    ("job_status", 0, queued, lambda job: [job.id, "--connection", "memory"]),
    ("job_status", 1, lambda: None, lambda _: ["f" * 32, "--connection", "memory"]),
    ("job_status", 2, lambda: None, lambda _: ["nope"]),
    ("batch_status", 0, a_batch, lambda b: [b.id, *MEMORY]),
    ("batch_status", 1, lambda: None, lambda _: ["f" * 32, *MEMORY]),
    ("batch_status", 2, lambda: None, lambda _: ["nope"]),
    ("batch_status", 2, lambda: None, lambda _: ["f" * 32, "--connection", "nope"]),
    ("retry_batch", 0, a_batch, lambda b: [b.id, *MEMORY]),
    ("retry_batch", 1, lambda: None, lambda _: ["f" * 32, *MEMORY]),
    ("retry_batch", 2, lambda: None, lambda _: ["f" * 32, "--rate", "0"]),
    ("cancel_batch", 0, a_batch, lambda b: [b.id, "--yes", *MEMORY]),
    ("cancel_batch", 1, lambda: None, lambda _: ["f" * 32, "--yes", *MEMORY]),
    ("cancel_batch", 2, a_batch, lambda b: [b.id, *MEMORY]),  # nobody to ask, no --yes
    ("runworker", 2, lambda: None, lambda _: ["--connection", "nope"]),
    ("runworker", 2, lambda: None, lambda _: ["--concurrency", "0"]),
    ("runworker", 2, lambda: None, lambda _: ["--connection", "memory", "--burst"]),
]

# Exit codes of a real worker run, checked on a runworker subprocess where it is tested.
ELSEWHERE = {
    ("runworker", 0): "test_worker_process.py::test_burst_worker_runs_everything_and_records_"
                      "failures",
    ("runworker", 1): "test_worker_process.py::test_a_burst_worker_gives_up_on_a_store_that_"
                      "never_answers",
    ("pause_queue", 1): "test_command_pause.py::test_a_store_that_does_not_answer_exits_1",
    ("resume_queue", 1): "test_command_pause.py::test_a_store_that_does_not_answer_exits_1",
}


def test_the_cases_cover_the_documented_table():
    assert documented() == {(name, code) for name, code, _, _ in CASES} | set(ELSEWHERE)


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize(("name", "code", "setup", "argv"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_documented_exit_code(name, code, setup, argv, capsys):
    with jobqueue(DEFAULT_CONNECTION="memory", SCHEDULE=SCHEDULE):
        get_transport("memory").clear("default")
        value = setup()
        assert exit_code(name, *argv(value)) == code, capsys.readouterr()


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_redis_store_ids_not_found_exit_1(redis_client):
    with jobqueue(FAILED_STORE="redis", DEFAULT_CONNECTION="memory"):
        for argv in (["show", "f" * 32], ["forget", "f" * 32]):
            assert exit_code("failed_jobs", *argv) == 1
        assert exit_code("retry_failed_jobs", "f" * 32) == 1
        assert exit_code("retry_failed_jobs", "12") == 2
