"""Log lines escape what user data could use to forge or garble them."""

from __future__ import annotations

import logging

import pytest

from django_jobqueue.logutil import exception_for_log, printable, printable_block
from django_jobqueue.models import FailedJob
from django_jobqueue.testing import work
from django_jobqueue.transports import get_transport
from tests import jobs
from tests.support.settings_overrides import jobqueue

RAW_CONTROLS = ("\r", "\x1b", "\x9b", "\u2028", "\x00")


def test_printable_escapes_every_control_and_cuts_long_values():
    escaped = printable("a\r\nb\x1b[31m\x00\x7f\x9b\u2028")
    assert escaped == "a\\x0d\\x0ab\\x1b[31m\\x00\\x7f\\x9b\\u2028"
    assert printable("é ü 日本 <script>") == "é ü 日本 <script>"  # printable text is left alone
    cut = printable("y" * 2000, limit=10)
    assert cut == "yyyyyyyyyy...[1990 more]"
    assert printable(12) == "12"


def test_printable_block_keeps_newlines_only():
    assert printable_block("Traceback\n  line\r\x1b[2J") == "Traceback\n  line\\x0d\\x1b[2J"


def test_exception_for_log_puts_each_message_on_one_escaped_line():
    try:
        try:
            raise ValueError("inner\nFORGED")
        except ValueError as err:
            raise RuntimeError(jobs.HOSTILE_MESSAGE) from err
    except RuntimeError as exc:
        text = exception_for_log(exc)
    assert not any(control in text for control in RAW_CONTROLS)
    assert not any(line.startswith("FORGED") for line in text.splitlines())
    assert text.startswith("RuntimeError: first line\\x0d\\x0aFORGED: job ok\\x1b[31mred")
    assert "Traceback (most recent call last):\n" in text  # the traceback stays readable
    assert "ValueError: inner\\x0aFORGED" in text


@pytest.mark.django_db(transaction=True)
def test_worker_logs_of_a_hostile_exception_carry_no_raw_controls(caplog, ledger):
    with jobqueue(DEFAULT_CONNECTION="memory", DEFAULT_EXCEPTION_HANDLER=True):
        get_transport("memory").clear("default")
        jobs.BadException("hostile").dispatch()
        with caplog.at_level(logging.INFO, logger="django_jobqueue"):
            assert work().failed == 1
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("event=job_raised job=") and "BadException" in line
               for line in lines)
    for line in lines:
        assert not any(control in line for control in RAW_CONTROLS), line
        assert not any(part.startswith("FORGED") for part in line.splitlines()), line
    # The stored record keeps the text as raised: escaping is for logs (the admin escapes
    # HTML on output).
    assert jobs.HOSTILE_MESSAGE in FailedJob.objects.get().exception
