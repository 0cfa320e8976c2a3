"""The Workflow section of a failed job's page, for a job of a chain or a batch.

- A chain step: "Step k of n of chain <id>", the later steps it holds (job class and
  arguments, masked as the page masks payloads) and what retrying or deleting it does.
- A batch child: its batch, linked to the batch's page, with the batch's progress.
- A batch callback: its batch and the summary it was given.

Everything is user data and goes through ``format_html`` or the template's escaping.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .. import payload as payload_codec
from ..exceptions import PayloadError
from ..failures.criteria import is_job_id
from ..failures.record import outcome_of
from ..flow.lookup import UNANSWERED
from ..masking import mask_payload
from ..workflows.advance import holds
from ..workflows.marks import CALLBACK, BatchMark, ChainMark, batch_of, chain_of
from ..workflows.status import BatchSummary, batch_status
from ..workflows.text import unknown_batch
from .batch_view import batch_url, progress
from .display import breakable

#: Failed ids of a callback's summary shown on the page (it holds up to 1000).
SUMMARY_IDS = 10
BAR = "admin/django_jobqueue/failedjob/batch_progress.html"


def marks_of(obj: Any) -> dict[str, Any]:
    """The workflow marks of a failed job's payload: ``chain`` (a :class:`ChainMark`),
    ``batch`` (a :class:`BatchMark`), ``callback`` (its mark, a dict); only those it has,
    none for an unreadable payload."""
    try:
        body = payload_codec.loads(obj.payload)
    except PayloadError:
        return {}
    callback = body.get(CALLBACK)
    found = {"chain": chain_of(body), "batch": batch_of(body),
             "callback": callback if isinstance(callback, dict) else None}
    return {kind: mark for kind, mark in found.items() if mark is not None}


@admin.display(description="workflow")
def workflow(obj: Any) -> SafeString:
    """What the job is to its workflows, and what retrying or deleting it does to them."""
    marks = marks_of(obj)
    parts = []
    if "chain" in marks:
        parts.append(_chain(marks["chain"], outcome_of(obj.exception_class)))
    if "batch" in marks:
        parts.append(_batch(marks["batch"]))
    if "callback" in marks:
        parts.append(_callback(marks["callback"]))
    return format_html_join("", '<div class="jq-workflow">{}</div>', ((p,) for p in parts))


def _chain(mark: ChainMark, outcome: str) -> SafeString:
    held = len(mark.rest)
    head = format_html('<p class="jq-chain">Step {} of {} of chain <code>{}</code>.</p>',
                       mark.step + 1, mark.steps, mark.id)
    if outcome != "failed":
        # A cancelled or expired step cancelled the steps after it when it ended.
        note = format_html('<p class="jq-workflow-note">This step was {}: {}.</p>', outcome,
                           "the step after it was kept as a cancelled record" if held == 1
                           else f"the {held} steps after it were kept as cancelled records"
                           ) if held else ""
        return format_html("{}{}", head, note)
    if not held:
        return format_html('{}<p class="jq-workflow-note">The last step of its chain: '
                           "retrying it finishes the chain.</p>", head)
    if _moved_on(mark):
        return format_html(
            '{}<p class="jq-workflow-note">The step after it was queued before this one'
            " failed (its worker died between its success and its end being recorded):"
            " the chain went on, and this record holds nothing back.</p>", head)
    steps = format_html_join("", '<li value="{}"><code class="jq-call">{}'
                             '<span class="jq-arguments">({})</span></code></li>',
                             ((mark.step + 2 + n, breakable(str(body.get("job") or "?")),
                               _arguments(body)) for n, body in enumerate(mark.rest)))
    return format_html(
        '{}<p>It holds the {} after it, which run once it succeeds:</p>'
        '<ol class="jq-held">{}</ol><p class="jq-workflow-note">Retrying this job resumes the '
        "chain; deleting it cancels the {} it holds (kept as cancelled records).</p>",
        head, _steps(held), steps, _steps(held))


def _moved_on(mark: ChainMark) -> bool:
    """Whether the chain's next step was queued already (unknown when its store does not
    answer: shown as held, which retrying or deleting handles either way)."""
    try:
        return not holds(mark)
    except UNANSWERED:
        return False


def _steps(count: int) -> str:
    return "step" if count == 1 else f"{count} steps"


def _arguments(body: dict[str, Any]) -> str:
    """A held step's arguments as in a call, ``"a", 2, key="b"`` (each value as JSON),
    masked as the Payload section masks its own."""
    data = mask_payload(body).get("data")
    if not isinstance(data, dict):
        return "?"
    args = data.get("args") if isinstance(data.get("args"), list) else []
    kwargs = data.get("kwargs") if isinstance(data.get("kwargs"), dict) else {}
    return ", ".join([*(json.dumps(value) for value in args),
                      *(f"{name}={json.dumps(value)}" for name, value in kwargs.items())])


def _batch_link(batch_id: str) -> SafeString:
    if not is_job_id(batch_id):  # a mark written by hand: no page to link to
        return format_html("<code>{}</code>", batch_id or "?")
    return format_html('<a href="{}" class="jq-batch-link"><code>{}</code></a>',
                       batch_url(batch_id), batch_id)


def _batch(mark: BatchMark) -> SafeString:
    link = format_html("A job of batch {}", _batch_link(mark.id))
    try:
        status = batch_status(mark.id, mark.home)
    except UNANSWERED as exc:
        return format_html("<p>{}: its progress is not known now ({}).</p>", link, exc)
    if status is None:
        return format_html("<p>{}. {}</p>", link, unknown_batch(mark.id))
    named = format_html(" (<span class=\"jq-wrap\">{}</span>)", status.name) if status.name \
        else ""
    bar = render_to_string(BAR, {"bar": progress(status)})
    return format_html("<p>{}{}. Retrying this job makes it pending in its batch again."
                       "</p>{}", link, named, bar)


def _callback(mark: dict[str, Any]) -> SafeString:
    summary = BatchSummary.of_callback(mark)
    shown = summary.failed_ids[:SUMMARY_IDS]
    more = len(summary.failed_ids) - len(shown)
    failed = format_html_join(", ", "<code>{}</code>", ((one,) for one in shown))
    return format_html(
        '<p class="jq-callback">The <code>{}</code> callback of batch {}, which it was '
        "told: {} jobs, {} succeeded, {} failed, {} cancelled.{}</p>",
        summary.callback or "?", _batch_link(summary.id), summary.total,
        summary.succeeded, summary.failed, summary.cancelled,
        format_html(" Failed jobs: {}{}.", failed, f" and {more} more" if more else "")
        if shown else "")
