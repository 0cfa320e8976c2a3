"""Log lines are stable ``key=value`` events: the format, the quoting, and that every log
call of the package goes through it."""

from __future__ import annotations

import logging
import re
import sys
import types
from pathlib import Path

import pytest

from django_jobqueue.logutil import Event, KeyValueFormatter, log_event, log_value
from django_jobqueue.worker.handlers import build_chain, run_chain
from tests.support.log_lines import LINE

PACKAGE = Path(__file__).resolve().parent.parent / "django_jobqueue"


def parse(line: str) -> dict[str, str]:
    """What a log shipper would do with one of our lines."""
    assert LINE.fullmatch(line), line
    fields = {}
    for key, bare, quoted in re.findall(r'([a-z_]+)=(?:([^\s"=\\]+)|"((?:[^"\\]|\\.)*)")', line):
        fields[key] = bare or re.sub(r"\\(.)", r"\1", quoted)
    return fields


def test_values_are_bare_words_or_quoted_and_escaped():
    assert log_value("shop.jobs.Charge") == "shop.jobs.Charge"
    assert log_value(None) == "-"
    assert log_value(True) == "true"
    assert log_value(1.5) == "1.5"
    assert log_value(2.0) == "2"
    assert log_value(0.0004) == "0.0004"
    assert log_value("a\u202eb\u200bc") == '"a\\\\u202eb\\\\u200bc"'  # bidi, zero-width
    assert log_value(["mail", "default"]) == "mail,default"
    assert log_value("two words") == '"two words"'
    assert log_value('say "hi" \\ a=b') == '"say \\"hi\\" \\\\ a=b"'
    assert log_value("") == '""'
    # Controls become \x escapes first; the quoting then escapes their backslashes too, so
    # that a parser reads back exactly the escaped text.
    assert log_value("line\r\nFORGED event=x") == '"line\\\\x0d\\\\x0aFORGED event=x"'


def test_an_event_line_splits_back_into_its_fields():
    line = str(Event("job_failed", {
        "job": "shop.jobs.Charge", "id": "abc", "attempts": 3,
        "error": 'ValueError: card "4111" declined\nevent=forged', "store": None,
    }, None))
    assert line.startswith("event=job_failed job=shop.jobs.Charge ")
    fields = parse(line)
    assert fields == {"event": "job_failed", "job": "shop.jobs.Charge", "id": "abc",
                      "attempts": "3", "error": 'ValueError: card "4111" declined\\x0aevent=forged',
                      "store": "-"}


def test_the_fields_ride_on_the_record_and_a_traceback_goes_below(caplog):
    logger = logging.getLogger("django_jobqueue.test")
    with caplog.at_level(logging.INFO, logger="django_jobqueue"):
        log_event(logger, logging.WARNING, "lease_lost", id="j1", queue="q")
        log_event(logger, logging.ERROR, "job_raised", id="j2", traceback="Traceback:\n  x")
        log_event(logger, logging.DEBUG, "filtered_out", id="j3")  # below the level
    first, second = caplog.records
    assert first.getMessage() == "event=lease_lost id=j1 queue=q"
    # The template names the event, so reporters that group by template group by event.
    assert first.msg == "event=lease_lost%s" and "id=j1" in repr(first.args)
    assert (first.jobqueue_event, first.jobqueue_fields) == ("lease_lost", {"id": "j1",
                                                                          "queue": "q"})
    assert second.getMessage() == "event=job_raised id=j2\nTraceback:\n  x"


def test_the_runworker_formatter_puts_a_stable_head_first():
    record = logging.LogRecord("django_jobqueue.worker", logging.WARNING, __file__, 1, "%s",
                               (Event("worker_stopped", {"jobs": 3}, None),), None)
    line = KeyValueFormatter().format(record)
    head = re.fullmatch(r"ts=(\S+) level=warning logger=django_jobqueue.worker pid=\d+ "
                        r"event=worker_stopped jobs=3", line)
    assert head, line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", head.group(1))
    try:
        raise RuntimeError("bad\x1b[2J")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert "\x1b" not in KeyValueFormatter().format(record)  # someone else's traceback too


def test_every_log_call_of_the_package_is_an_event():
    direct = re.compile(r"\blogger\.(debug|info|warning|error|exception|critical|log)\(")
    offenders = [f"{path.relative_to(PACKAGE)}:{n}"
                 for path in PACKAGE.rglob("*.py") if path.name != "logutil.py"
                 for n, text in enumerate(path.read_text().splitlines(), 1)
                 if direct.search(text)]
    assert offenders == []
    events = set()
    for path in PACKAGE.rglob("*.py"):
        events.update(re.findall(r'log_event\(\s*\w+,\s*[\w.]+,\s*"([a-z_]+)"',
                                 path.read_text()))
    assert len(events) >= 40  # every one is listed in docs/observability.md
    documented = (PACKAGE.parent / "docs" / "observability.md").read_text()
    assert sorted(e for e in events if f"`{e}`" not in documented) == []


class _Scope:
    def __init__(self, sent):
        self.sent, self.tags, self.contexts, self.fingerprint = sent, {}, {}, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def set_tag(self, key, value):
        self.tags[key] = value

    def set_context(self, key, value):
        self.contexts[key] = value


@pytest.fixture
def fake_sentry(monkeypatch):
    sent = []
    sdk = types.ModuleType("sentry_sdk")
    scopes = []

    def new_scope():
        scopes.append(_Scope(sent))
        return scopes[-1]

    sdk.new_scope = new_scope
    sdk.capture_exception = lambda error: sent.append((error, scopes[-1]))
    monkeypatch.setitem(sys.modules, "sentry_sdk", sdk)
    return sent


def test_the_sentry_handler_reports_each_attempt_and_the_chain_goes_on(fake_sentry):
    from tests import jobs

    job = jobs.Record(1)
    job.job_id, job.attempt = "j-1", 2
    seen = []
    chain = [*build_chain(["django_jobqueue.contrib.sentry.capture"], disable_default=True),
             lambda *args: seen.append(args)]
    error = ValueError("boom")
    run_chain(chain, job, error, None)
    [(reported, scope)] = fake_sentry
    assert reported[1] is error
    assert scope.tags == {"jobqueue.job_class": "tests.jobs.Record"}
    assert scope.contexts["jobqueue"]["job_id"] == "j-1"
    assert scope.contexts["jobqueue"]["attempt"] == 2
    assert "value" not in str(scope.contexts)  # no arguments sent
    assert len(seen) == 1  # returned None: the next handler ran


def test_the_sentry_receiver_groups_final_failures_by_fingerprint(fake_sentry):
    from django_jobqueue.contrib.sentry import capture_failed

    error = RuntimeError("down")
    capture_failed(None, job=None, exception=error, failed_job={
        "store": "database", "id": 7, "queue": "mail", "fingerprint": "f00d", "attempts": 3})
    [(reported, scope)] = fake_sentry
    assert reported is error
    assert scope.fingerprint == ["django-jobqueue", "f00d"]
    assert scope.tags["jobqueue.queue"] == "mail"
    assert scope.contexts["jobqueue"]["id"] == 7


def test_without_sentry_installed_both_do_nothing(monkeypatch):
    from django_jobqueue.contrib import sentry

    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # import fails
    assert sentry.capture(None, ValueError, ValueError("x"), None) is None
    sentry.capture_failed(None, exception=ValueError("x"))
