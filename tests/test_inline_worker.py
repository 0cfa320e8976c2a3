"""The job pipeline run in-process (testing.work): retries, failures, hooks, signals."""

from __future__ import annotations

import json
import signal

import pytest

from django_jobqueue import dispatch_many, failures
from django_jobqueue.models import FailedJob
from django_jobqueue.signals import job_failed, job_retrying
from django_jobqueue.testing import work
from django_jobqueue.transports import PushItem, get_transport
from tests import jobs
from tests.support import ledger
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _memory_default(ledger):
    with jobqueue(DEFAULT_CONNECTION="memory", DEFAULT_EXCEPTION_HANDLER=False):
        get_transport("memory").clear("default")
        yield


def test_success_runs_once_with_attempt_number():
    jobs.Record(5).dispatch()
    assert work().succeeded == 1
    [ran] = ledger.events("ran")
    assert (ran["value"], ran["attempt"]) == (5, 1)
    assert get_transport().size("default").total == 0


def test_async_job_runs():
    jobs.AsyncRecord("a").dispatch()
    assert work().succeeded == 1
    assert ledger.events("ran")[0]["job"] == "AsyncRecord"


def test_flaky_job_retries_then_succeeds():
    jobs.Flaky("k", fails=2).dispatch()
    result = work()
    assert (result.retried, result.succeeded, result.failed) == (2, 1, 0)
    assert [e["attempt"] for e in ledger.events("ran")] == [1, 2, 3]
    assert FailedJob.objects.count() == 0


def test_permanent_failure_is_recorded_then_hooked_then_signalled():
    seen = []

    def receiver(sender, **kwargs):
        # The row exists by the time the signal fires.
        seen.append((sender, kwargs["failed_job"], FailedJob.objects.count()))

    job_failed.connect(receiver)
    try:
        jobs.AlwaysFails("x").dispatch()
        result = work()
    finally:
        job_failed.disconnect(receiver)
    assert (result.retried, result.failed) == (2, 1)
    row = FailedJob.objects.get()
    assert row.attempts == 3 and row.queue == "default" and row.connection == "memory"
    assert row.exception.startswith("RuntimeError: boom x")
    assert "Traceback" in row.exception
    assert row.exception_class == "RuntimeError" and row.job_class == jobs.AlwaysFails.name
    assert [e["attempt"] for e in row.errors] == [1, 2, 3]
    assert json.loads(row.payload)["data"]["args"] == ["x"]
    [hook] = ledger.events("failed_hook")
    assert hook["exc"] == "RuntimeError" and hook["message"] == "boom x"
    [(sender, info, rows)] = seen
    assert sender is jobs.AlwaysFails and info["id"] == row.pk and rows == 1
    assert get_transport().size("default").total == 0


def test_async_failed_hook():
    jobs.AsyncFailsOnce("q").dispatch()
    work()
    assert ledger.events("failed_hook")[0]["exc"] == "ValueError"


@pytest.mark.parametrize("how", ["dont_retry", "raise"])
def test_unrecoverable_fails_at_once(how):
    jobs.Unrecoverable("u", how=how).dispatch()
    result = work()
    assert (result.retried, result.failed) == (0, 1)
    assert len(ledger.events("ran")) == 1
    assert FailedJob.objects.get().attempts == 1


def test_retrying_signal_carries_delay():
    seen = []
    job_retrying.connect(lambda sender, **kw: seen.append(kw["delay"]), weak=False,
                         dispatch_uid="t")
    try:
        jobs.Backoff().dispatch()
        work(wait_for_delayed=5)
    finally:
        job_retrying.disconnect(dispatch_uid="t")
    assert seen == [0.1, 0.2]
    assert FailedJob.objects.get().attempts == 3


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("this is not json", "PayloadError: payload is not JSON"),
        ('{"job": "nope.Missing", "data": {}}', "UnknownJobClass: no registered job class"),
        ('{"job": "tests.jobs.Record", "data": {"args": [], "kwargs": {"zzz": 1}}}',
         "PayloadError: arguments no longer fit"),
    ],
)
def test_bad_payloads_become_failed_rows(payload, expected):
    get_transport().push(PushItem("bad0001", "default", payload))
    result = work()
    assert result.failed == 1
    row = FailedJob.objects.get()
    assert row.exception.split("\n")[0].startswith(f"django_jobqueue.exceptions.{expected}")
    assert row.payload == payload or json.loads(row.payload)["job"]
    assert get_transport().size("default").total == 0


def test_unprintable_exception_and_huge_message_are_stored_capped():
    jobs.BadException("unprintable").dispatch()
    jobs.BadException("huge").dispatch()
    with jobqueue(DEFAULT_CONNECTION="memory", MAX_EXCEPTION_CHARS=10_000):
        assert work().failed == 2
    texts = {row.exception_class: row for row in FailedJob.objects.all()}
    unprintable = texts["tests.jobs.UnprintableError"]
    assert "<unprintable UnprintableError: str() raised RuntimeError>" in unprintable.exception
    huge = texts["RuntimeError"]
    assert len(huge.exception) < 11_000 and "characters cut" in huge.exception


def test_failed_hook_that_raises_changes_nothing():
    jobs.HookRaises("h").dispatch()
    assert work().failed == 1
    assert len(ledger.events("failed_hook")) == 1
    assert FailedJob.objects.count() == 1


@pytest.mark.parametrize("how", ["exit", "async-exit", "exit-in-hook-too"])
def test_sys_exit_fails_the_attempt_like_any_exception(how, caplog):
    jobs.Exits("e", how=how).dispatch()
    result = work()
    assert (result.retried, result.failed) == (1, 1)  # max_tries = 2
    row = FailedJob.objects.get()
    assert row.exception.startswith("SystemExit: 3\n") and "sys.exit(3)" in row.exception
    assert [e["exc"] for e in ledger.events("failed_hook")] == ["SystemExit"]
    if how == "exit-in-hook-too":  # the hook's exit is logged, like any error of a hook
        assert "event=failed_hook_raised" in caplog.text and "error=SystemExit" in caplog.text


@pytest.fixture
def sigint():
    """Sets this process's SIGINT disposition for one test: a run started in the background
    (CI, ``&``) inherits SIGINT ignored, one in a terminal does not."""
    previous = signal.getsignal(signal.SIGINT)
    yield lambda handler: signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_in_process_is_ctrl_c_and_stops_work(sigint):
    # Where Ctrl-C can reach the process (a terminal), KeyboardInterrupt must stop the run.
    sigint(signal.default_int_handler)
    jobs.Exits("e", how="interrupt").dispatch()
    with pytest.raises(KeyboardInterrupt):
        work()


def test_keyboard_interrupt_where_sigint_is_ignored_is_the_jobs(sigint):
    # As in a work horse: with SIGINT ignored only job code can raise it, so it fails the
    # attempt like any exception.
    sigint(signal.SIG_IGN)
    jobs.Exits("e", how="interrupt").dispatch()
    assert work().failed == 1
    assert FailedJob.objects.get().exception.startswith("KeyboardInterrupt")


def test_bulk_dispatch_and_drain():
    dispatch_many([jobs.Record(i) for i in range(50)])
    assert work().succeeded == 50
    assert sorted(e["value"] for e in ledger.events("ran")) == list(range(50))


def test_retry_from_failed_store_runs_again_with_fresh_attempts():
    jobs.AlwaysFails("again").dispatch()
    work()
    row = FailedJob.objects.get()
    new_id = failures.retry(row.pk)
    assert FailedJob.objects.count() == 0
    work()
    retried = FailedJob.objects.get()
    assert retried.uuid == new_id and retried.attempts == 3
    assert json.loads(retried.payload)["retry_of"] == row.uuid
    assert len(ledger.events("ran")) == 6


def test_class_timeout_applies_in_process():
    jobs.Sleeper(3).dispatch()  # Sleeper.timeout = 1
    assert work().failed == 1
    assert FailedJob.objects.get().exception_class == "django_jobqueue.exceptions.JobTimeout"


def test_unknown_class_row_names_the_class():
    get_transport().push(PushItem("bad0002", "default", '{"job": "shop.Gone", "data": {}}'))
    work()
    assert FailedJob.objects.get().job_class == "shop.Gone"


def test_dont_retry_keeps_the_real_cause_in_the_text():
    jobs.Unrecoverable("c", how="raise").dispatch()
    work()
    text = FailedJob.objects.get().exception
    assert text.startswith("django_jobqueue.exceptions.DontRetry: not worth retrying")
    assert "Caused by:\nValueError: bad input" in text


def test_payload_error_raised_by_job_code_is_retried():
    from django_jobqueue import Job, PayloadError

    class DispatchesBadly(Job):
        max_tries = 2

        def handle(self):
            raise PayloadError("from inside handle")

    DispatchesBadly().dispatch()
    assert (work().retried, FailedJob.objects.get().attempts) == (1, 2)


def test_default_constructor_keeps_keyword_arguments():
    from django_jobqueue import Job

    class Keeps(Job):
        def handle(self):
            ledger.write("ran", job="Keeps", value=self.order_id)

    Keeps(order_id=42).dispatch()
    work()
    assert ledger.events("ran")[0]["value"] == 42


def test_a_broken_label_hook_files_the_failure_under_the_registry_name():
    jobs.BadLabel().dispatch()
    assert work().failed == 1
    assert FailedJob.objects.get().job_class == "tests.jobs.BadLabel"


def test_retrying_a_failed_job_keeps_its_dispatch_options():
    jobs.AlwaysFails("urgent").dispatch(priority=7, queue="high")
    assert work(queues=["high"]).failed == 1
    row = FailedJob.objects.get()
    jobs.Record("plain").dispatch(queue="high")
    new_id = failures.retry(row.pk)
    # The retried job keeps priority 7, so it goes ahead of the plain job queued before it.
    first = get_transport().reserve(["high"], 1, 30, "t")
    assert [job.id for job in first] == [new_id]
    assert json.loads(first[0].payload)["priority"] == 7


def test_a_job_argument_called_name_does_not_hide_the_job_class(caplog):
    jobs.Named("Ada").dispatch()
    with jobqueue(DEFAULT_EXCEPTION_HANDLER=True):
        assert work().failed == 1
    for event in ("job_raised", "failed_hook_raised"):
        [line] = [r.getMessage() for r in caplog.records if f"event={event} " in r.getMessage()]
        assert "job=tests.jobs.Named " in line and "Ada" not in line
