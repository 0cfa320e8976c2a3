"""Argument types and output helpers shared by the failed-job commands."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from django_jobqueue.management import cli


@pytest.mark.parametrize(("text", "span"), [
    ("30s", dt.timedelta(seconds=30)), ("30m", dt.timedelta(minutes=30)),
    ("2h", dt.timedelta(hours=2)), ("7d", dt.timedelta(days=7)),
    ("1w", dt.timedelta(weeks=1)), (" 1.5h ", dt.timedelta(minutes=90)),
])
def test_durations(text, span):
    assert cli.duration(text) == span


@pytest.mark.parametrize("text", ["", "2", "h", "-2h", "0m", "2 hours", "2y", "1e9w"])
def test_bad_durations(text):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.duration(text)


def test_relative_moments_are_that_long_ago():
    before = timezone.now()
    value = cli.moment("2h")
    assert before - dt.timedelta(hours=2, seconds=1) < value <= timezone.now() - dt.timedelta(
        hours=2)


@override_settings(TIME_ZONE="Europe/Paris")
def test_iso_moments_naive_in_current_zone_or_with_their_own():
    assert cli.moment("2025-01-31T14:00") == dt.datetime(2025, 1, 31, 13, 0, tzinfo=dt.UTC)
    assert cli.moment("2025-01-31") == dt.datetime(2025, 1, 30, 23, 0, tzinfo=dt.UTC)
    assert cli.moment("2025-01-31T14:00+00:00") == dt.datetime(2025, 1, 31, 14, tzinfo=dt.UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        cli.moment("31/01/2025")


def test_criteria_map_until_to_before_and_drop_unset():
    now = timezone.now()
    assert cli.criteria({"queue": "q", "until": now, "since": None, "job_class": None}) == {
        "queue": "q", "before": now}


def test_output_is_terminal_safe():
    assert cli.one_line("a\nb\x1b[31m\tc", 100) == "a\\x0ab\\x1b[31m\\x09c"
    assert cli.one_line("x" * 10, 5) == "xxxx…"
    assert cli.block("line\n\tindent\x07") == "line\n\tindent\\x07"
    assert cli.plural(1, "job") == "1 job" and cli.plural(0, "job") == "0 jobs"
