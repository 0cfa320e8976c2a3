"""Text in narrow columns (the changelist and its filters at 1280 px): dotted class paths
that wrap at their dots, long text cut with all of it on hover, and a job's progress.
Everything is user data and goes through ``format_html`` / ``conditional_escape`` (or the
template's escaping)."""

from __future__ import annotations

from typing import Any

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from ..failures.record import outcome_of
from ..flow.progress import Progress
from ..status import format_age


def breakable(text: str) -> SafeString:
    """``text`` escaped, with a line-break opportunity (``<wbr>``) after each dot: a class
    path such as ``shop.notifications.jobs.SendReminderEmail`` wraps between its parts
    instead of in the middle of a name, or of widening its column."""
    return mark_safe(".<wbr>".join(conditional_escape(part) for part in text.split(".")))


def cut(shown: str, full: str, chars: int) -> SafeString | str:
    """``shown`` cut to ``chars`` characters; when anything of ``full`` is left out, in a
    ``<span>`` whose ``title`` holds all of ``full`` (escaped, quotes included)."""
    short = Truncator(shown).chars(chars)
    if short == shown == full:
        return breakable(shown)
    return format_html('<span title="{}">{}</span>', full, breakable(short))


def outcome_badge(exception_class: str) -> SafeString:
    """A label for a record kept for a job that did not fail (``cancelled``, ``expired``);
    nothing for a failure, the rule."""
    outcome = outcome_of(exception_class)
    if outcome == "failed":
        return mark_safe("")
    return format_html('<span class="jq-outcome jq-outcome-{}">{}</span> ', outcome, outcome)


def progress_view(progress: Progress | None, now: float) -> dict[str, Any] | None:
    """A job's progress for ``progress.html``: the bar's percent (``None``: no total, no
    bar), the counts and message as text, and how long ago it was reported."""
    if progress is None:
        return None
    return {"percent": progress.percent, "counted": progress.counted(),
            "message": progress.message, "ago": f"{format_age(max(now - progress.at, 0.0))} ago"}
