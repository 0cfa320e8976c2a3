"""``manage.py failed_jobs`` and ``failed_jobs show ID``."""

from __future__ import annotations

import json

import pytest

from django_jobqueue import failures
from django_jobqueue.exception_text import exception_text
from django_jobqueue.transports import get_transport
from tests.support.commands import command, failing_command, refused
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue, mysql_down


def charge_card(order_id):
    raise ValueError(f"card for order {order_id} declined")


def killed_retry(previous_uuid):
    """A failure like a killed work horse's, of a job that was a retry of another."""
    record = make(exc="django_jobqueue.exceptions.WorkHorseKilled",
                  message="work horse pid 41 was killed by signal 9 (SIGKILL)")
    record.payload = json.dumps({**json.loads(record.payload), "retry_of": previous_uuid})
    record.exit_code, record.term_signal, record.max_rss_kb = -9, 9, 524288
    record.attempts = 2
    record.errors = [
        {"attempt": 1, "exception_class": "ValueError", "message": "first", "at": "t1",
         "worker": "w1"},
        {"attempt": 2, "exception_class": "django_jobqueue.exceptions.WorkHorseKilled",
         "message": "killed", "at": "t2", "worker": "w2"},
    ]
    return record


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_list_is_a_table_newest_first_with_filters_and_limit(store):
    ids = [failures.record(make(queue="q", exc="KeyError", age_hours=age)).id
           for age in (3, 1, 2)]
    failures.record(make(queue="other", exc="OSError"))
    out, _ = command("failed_jobs", "--queue", "q", "--limit", "2")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "Store", "Failed", "at", "Connection", "Queue", "Job",
                                "Exception", "Tries", "Message"]
    assert [line.split()[:2] for line in lines[1:3]] == [[str(ids[1]), "database"],
                                                         [str(ids[2]), "database"]]
    assert "KeyError" in lines[1] and "it broke" in lines[1]
    assert lines[3] == "Showing the newest 2 of 3 (see --limit)."
    out, _ = command("failed_jobs", "--exception-class", "Nope")
    assert out == "No failed jobs.\n"


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_json_lines():
    first, second = make(queue="a"), make(queue="b", exc="KeyError")
    pks = [failures.record(first).id, failures.record(second).id]
    out, _ = command("failed_jobs", "--json", "--since", "1h")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["id"] for row in rows] == pks[::-1]
    assert rows[0]["uuid"] == second.uuid and rows[0]["exception_class"] == "KeyError"
    assert rows[0]["store"] == "database" and len(rows[0]["fingerprint"]) == 40


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_terminal_control_characters_are_escaped():
    failures.record(make(message="evil \x1b[2J\x1b[31mred\rover"))
    out, _ = command("failed_jobs")
    assert "\x1b" not in out and "\r" not in out
    assert "evil \\x1b[2J\\x1b[31mred\\x0dover" in out


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_show_prints_everything(store):
    earlier = make()
    earlier_id = failures.record(earlier).id
    record = killed_retry(earlier.uuid)
    pk = failures.record(record).id
    out, _ = command("failed_jobs", "show", str(pk))
    assert out.startswith(f"Failed job #{pk} (database store)\n  Job id:")
    for expected in (
        f"Job id:      {record.uuid}",
        "Work horse:  exit code -9, signal 9 (SIGKILL), max RSS 524288 KiB",
        f"Retry of:    {earlier.uuid} (failed job #{earlier_id})",
        f"Fingerprint: {record.fingerprint} (shared by 1 failed job)",
        "Exception:\n  django_jobqueue.exceptions.WorkHorseKilled: work horse pid 41",
        "Errors of each attempt (2):\n  #1 t1 ValueError: first (worker w1)\n"
        "  #2 t2 django_jobqueue.exceptions.WorkHorseKilled: killed (worker w2)",
        '"retry_of": "' + earlier.uuid + '"',
        'Payload (secrets masked):\n  {\n    "connection": "memory",',
    ):
        assert expected in out
    same, _ = command("failed_jobs", "show", record.uuid)
    assert same == out


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_show_json_and_real_traceback():
    record = make(exc="ValueError", message="card for order 7 declined")
    try:
        charge_card(7)
    except ValueError as exc:
        record.exception = exception_text(exc)
    pk = failures.record(record).id
    out, _ = command("failed_jobs", "show", str(pk), "--json")
    data = json.loads(out)
    assert data["id"] == pk and data["payload"]["job"] == "tests.jobs.Record"
    assert 'raise ValueError(f"card for order {order_id} declined")' in data["exception"]
    assert data["retry_of"] == [] and data["same_fingerprint"] == 1
    assert data["exit_code"] is None and data["errors"] == []


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize(("args", "match"), [
    (["show", "12345"], "no failed job with id 12345"),
    (["show", "f" * 32], "no failed job with job id"),
    (["show", "bogus"], "not a failed-job id or job id: bogus"),
    (["shoe", "1"], "unknown action 'shoe 1'"),
    (["show"], "unknown action"),
    (["show", "1", "--queue", "q"], "takes no filters"),
    (["--limit", "0"], "at least 1"),
])
def test_bad_arguments_are_clear_errors(args, match):
    refused("failed_jobs", *args, match=match)


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_a_malformed_id_is_a_usage_error_for_show_as_for_forget():
    # Scripts branch on the code: 2 is a bad argument, 1 an id that names no failed job.
    assert refused("failed_jobs", "show", "abc").returncode == 2
    assert refused("failed_jobs", "forget", "abc").returncode == 2
    assert refused("failed_jobs", "show", "999").returncode == 1


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_fallback_entries_can_be_listed_and_shown(redis_client):
    with mysql_down():
        record = make(queue="emails")
        failures.record(record)
    with jobqueue(FAILED_DATABASE="mysql"):
        # Listed wherever it is kept, and said to be in the fallback.
        out, _ = command("failed_jobs")
        row = out.splitlines()[1].split()
        assert row[:2] == [record.uuid, "redis"] and row[4:6] == ["memory", "emails"]
        out, _ = command("failed_jobs", "--store", "database")
        assert out == "No failed jobs.\n"
        for only_redis in (["--store", "redis"], ["--fallback"]):  # 0.1's flag still works
            out, _ = command("failed_jobs", *only_redis)
            assert out.splitlines()[1].split()[:2] == [record.uuid, "redis"]
        out, _ = command("failed_jobs", "show", record.uuid)
        # show and forget look in the part --store names, as the list does.
        assert refused("failed_jobs", "show", record.uuid, "--store", "database").returncode == 1
        missing = failing_command("failed_jobs", "forget", record.uuid, "--store",
                                  "database", "--dry-run")
        assert f"Not found: {record.uuid}" in missing
        shown, _ = command("failed_jobs", "show", record.uuid, "--store", "redis")
        assert shown == out
    assert out.startswith("Failed job (redis store)\n")
    assert "(shared by 1 failed job)" in out


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_redis_store_ids_as_listed_work_with_show_retry_and_forget(redis_client):
    with jobqueue(FAILED_STORE="redis", DEFAULT_CONNECTION="memory"):
        get_transport("memory").clear("default")
        records = [make(message=f"failure {n}") for n in range(3)]
        for record in records:
            failures.record(record)
        out, _ = command("failed_jobs")
        listed = [line.split()[0] for line in out.splitlines()[1:]]
        assert listed == [r.uuid for r in reversed(records)]
        out, _ = command("failed_jobs", "--json")
        assert [json.loads(line)["id"] for line in out.splitlines()] == listed
        shown, _ = command("failed_jobs", "show", listed[0])
        assert shown.startswith("Failed job (redis store)\n")
        assert f"Job id:      {listed[0]}" in shown
        out, _ = command("retry_failed_jobs", listed[1])
        assert out == "Retried 1 failed job (default 1).\n"
        [job] = get_transport("memory").reserve(["default"], 5, 30, "t")
        assert json.loads(job.payload)["retry_of"] == listed[1]
        out, _ = command("failed_jobs", "forget", listed[2])
        assert out == "Forgot 1 failed job.\n"
        out, _ = command("failed_jobs")
        assert [line.split()[0] for line in out.splitlines()[1:]] == [listed[0]]


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_forget_by_row_id_or_job_id(store):
    first, second, third = make(), make(), make()
    pks = [failures.record(r).id for r in (first, second, third)]
    out, _ = command("failed_jobs", "forget", str(pks[0]), "--dry-run")
    assert out == "Would forget 1 failed job.\n" and failures.count() == 3
    out, _ = command("failed_jobs", "forget", str(pks[0]), second.uuid)
    assert out == "Forgot 2 failed jobs.\n"
    assert [row.uuid for row in failures.table().filter()] == [third.uuid]
    out = failing_command("failed_jobs", "forget", str(pks[2]), str(pks[0]))
    assert out == f"Forgot 1 failed job.\nNot found: {pks[0]}\n"
    assert failures.count() == 0


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize(("args", "match"), [
    (["forget"], "unknown action"),
    (["forget", "nope"], "not a failed-job id or job id: nope"),
    (["forget", "1", "--queue", "q"], "'forget ID' takes no filters"),
    (["--dry-run"], "--dry-run goes with 'forget"),
])
def test_bad_forget_arguments(args, match):
    assert refused("failed_jobs", *args, match=match).returncode == 2
