"""The read-only detail page of a failed job: what each section below its columns shows,
as display functions the ModelAdmin lists in its ``fieldsets``.

Every value is user data (payloads, exception messages, tracebacks, class names) and goes
through ``format_html`` / ``format_html_join``, which escape it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from .. import failures
from ..failures.record import outcome_of
from ..management.render import death
from ..masking import masked_payload_text
from .dates import when
from .display import outcome_badge

NONE = "-"


@admin.display(description="exception")
def exception_summary(obj: Any) -> str:
    first = (obj.message or "").strip().splitlines()[:1]
    return f"{obj.exception_class}: {first[0]}" if first else obj.exception_class


_OUTCOMES = {
    "failed": "failed for good",
    "cancelled": "cancelled by an operator: it did not fail (no retry, no failed() hook)",
    "expired": "expired before it started: it never ran, and did not fail",
}


@admin.display(description="outcome")
def outcome(obj: Any) -> SafeString:
    """How the job ended: a record is kept for cancelled and expired jobs too."""
    return format_html("{}{}", outcome_badge(obj.exception_class),
                       _OUTCOMES[outcome_of(obj.exception_class)])


@admin.display(description="exception and traceback")
def exception_text(obj: Any) -> SafeString:
    return format_html('<pre class="jq-pre">{}</pre>', obj.exception)


@admin.display(description="payload (secrets masked)")
def payload_masked(obj: Any) -> SafeString:
    return format_html('<pre class="jq-pre">{}</pre>', masked_payload_text(obj.payload))


@admin.display(description="errors of each attempt")
def attempt_errors(obj: Any) -> SafeString | str:
    errors = [e for e in obj.errors or [] if isinstance(e, dict)]
    if not errors:
        return NONE
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((e.get("attempt", NONE), when(e.get("at")), e.get("exception_class", NONE),
          e.get("message", NONE), e.get("worker", NONE)) for e in errors),
    )
    return format_html(
        "<table><thead><tr><th>attempt</th><th>at</th><th>exception</th><th>message</th>"
        "<th>worker</th></tr></thead><tbody>{}</tbody></table>", rows)


@admin.display(description="work horse")
def work_horse(obj: Any) -> str:
    return death(obj) or "not killed"


@admin.display(description="retry lineage")
def retry_lineage(obj: Any) -> SafeString | str:
    """The jobs this one retries (``retry_of``, followed through existing rows). A job
    retried from this row has left it (a retry deletes the row), so "retried as" is
    only known from the admin log."""
    steps = failures.lineage(obj.payload)
    if not steps:
        return "not a retry"
    return format_html_join(
        mark_safe("<br>"), "retried from job {} ({})",
        ((step.uuid, _row_link(step)) for step in steps),
    )


@admin.display(description="fingerprint")
def fingerprint_link(obj: Any) -> SafeString | str:
    if not obj.fingerprint:
        return NONE
    base = reverse("admin:django_jobqueue_failedjob_changelist")
    groups = reverse("admin:django_jobqueue_failedjob_groups")
    return format_html(
        '<code>{}</code> &middot; <a href="{}?{}">{} failed jobs like this</a>'
        ' &middot; <a href="{}#fp-{}">its group</a>',
        obj.fingerprint, base, urlencode({"fingerprint": obj.fingerprint}),
        failures.table().count(fingerprint=obj.fingerprint), groups, obj.fingerprint,
    )



def _row_link(step: failures.LineageStep) -> SafeString | str:
    if step.failed_id is None:
        return "not known now: a store did not answer" if step.store == "unavailable" else (
            "no longer stored")
    if not isinstance(step.failed_id, int):  # kept where the admin has no page for it
        return f"in the {step.store} store"
    url = reverse("admin:django_jobqueue_failedjob_change", args=[step.failed_id])
    return format_html('<a href="{}">failed job #{}</a>', url, step.failed_id)


#: The detail page's sections below the job's own columns, in order.
FIELDSETS: tuple[tuple[str, dict[str, tuple[Any, ...]]], ...] = (
    ("Exception", {"fields": (exception_summary, exception_text)}),
    ("Attempts", {"fields": (attempt_errors, work_horse)}),
    ("Retries and kind", {"fields": (retry_lineage, fingerprint_link)}),
    ("Payload", {"fields": (payload_masked,)}),
)
FIELDS = tuple(field for _, section in FIELDSETS for field in section["fields"])
