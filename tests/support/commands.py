"""Running management commands in-process and reading what they print."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command


class TTY(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self):
        return True


def command(name, *args, stdout=None, **options):
    """Run a management command in-process; return its stdout and stderr text."""
    out, err = stdout or io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def failing_command(name, *args, **options):
    """Run a command expected to exit with code 1 (``sys.exit``); return its stdout."""
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command(name, *args, stdout=out, stderr=io.StringIO(), **options)
    assert exit_info.value.code == 1
    return out.getvalue()


def refused(name, *args, match=None, **options):
    """Run a command expected to refuse its arguments with a CommandError."""
    with pytest.raises(CommandError, match=match) as error:
        call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO(), **options)
    return error.value
