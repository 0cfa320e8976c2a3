"""The admin's batch page (``batch/<id>/``): what it shows, its "Retry failed children"
and "Cancel the rest" buttons (each under its own permission, confirmed first, logged), a
batch it cannot find, and the "Find a batch" box. Batches run on SQLite (the database
transport) with ``testing.work()``. The browser test (``test_admin_workflows_e2e``) checks
the page's layout."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from django_jobqueue import failures
from django_jobqueue.models import QueueControl
from django_jobqueue.testing import work
from django_jobqueue.workflows import batch, batch_status
from tests import jobs
from tests.support import ledger
from tests.support.admin import (
    csrf_token,
    form_fields,
    messages_of,
    staff_client,
    workflows_on_default,
)

pytestmark = pytest.mark.django_db(transaction=True, databases=["default"])

# user kind: its permissions (None: not logged in; "superuser": all)
KINDS = {
    "anonymous": None,
    "staff_no_perms": [],
    "viewer": ["view_failedjob"],
    "retrier": ["view_failedjob", "retry_batch_children"],
    "canceller": ["view_failedjob", "cancel_batch"],
    # Permissions of other buttons give neither of these.
    "others": ["view_failedjob", "retry_failedjob", "cancel_job", "pause_queue"],
    "superuser": [],
}
RETRIERS, CANCELLERS = {"retrier", "superuser"}, {"canceller", "superuser"}
RETRY = re.compile(r'class="button jq-retry-children"')
CANCEL = re.compile(r'class="button jq-cancel-rest"')


@pytest.fixture(autouse=True)
def local(ledger):
    with workflows_on_default():
        yield


def url(name: str, *args: str) -> str:
    return reverse(f"admin:django_jobqueue_failedjob_{name}", args=args)


def half_done():
    """A batch of five: two succeeded, one failed for good (until fixed), two pending."""
    sent = batch([jobs.Step("a"), jobs.Step("b"), jobs.Step("c", until_fixed=True),
                  jobs.Step("d"), jobs.Step("e")], on_failure=jobs.Callback("failure"),
                 on_success=jobs.Callback("success"), name="nightly <import>").dispatch()
    work(connection="default", max_jobs=3)
    return sent


def logged() -> list[tuple[str, str, str]]:
    return [(e.user.username, e.object_id, e.change_message.split(" ")[0])
            for e in LogEntry.objects.order_by("id")]


def test_the_page_shows_progress_callbacks_and_failed_children_linked():
    sent = half_done()
    record = failures.get(sent.jobs[2].id)
    page = staff_client("viewer", KINDS["viewer"]).get(url("batch", sent.id)).content.decode()
    assert f"<title>Batch {sent.id}" in page
    assert "nightly &lt;import&gt;" in page and "<import>" not in page
    assert '<strong class="jq-state">running</strong>' in page
    for kind, count, percent in (("succeeded", 2, 40), ("failed", 1, 20),
                                 ("cancelled", 0, 0), ("pending", 2, 40)):
        assert re.search(rf'<li class="jq-count-{kind}"[^>]*>.*?{count} {kind} \({percent}%\)',
                         page), kind
    assert re.findall(r'class="jq-seg-(\w+)" style="width: ([\d.]+)%"', page) == [
        ("succeeded", "40"), ("failed", "20"), ("pending", "40")], "no empty segment"
    assert "60% ended</strong> of 5" in page
    assert "<code>on_failure</code>, <code>on_success</code>" in page
    change = reverse("admin:django_jobqueue_failedjob_change", args=[record.id])
    assert f'<a href="{change}" class="jq-record">#{record.id}</a>' in page
    assert f"<code>{sent.jobs[2].id}</code>" in page
    assert "DontRetry: step c failed" in page
    assert f"?batch={sent.id}" in page, "links to the changelist filtered by the batch"
    assert not RETRY.search(page) and not CANCEL.search(page), "a viewer has no buttons"


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_button_needs_its_own_permission(kind):
    sent = half_done()
    browser = staff_client(kind, KINDS[kind])
    page = browser.get(url("batch", sent.id))
    if kind in ("anonymous", "staff_no_perms"):
        assert page.status_code in (302, 403)
    else:
        assert page.status_code == 200
        html = page.content.decode()
        assert bool(RETRY.search(html)) is (kind in RETRIERS)
        assert bool(CANCEL.search(html)) is (kind in CANCELLERS)
    confirm = {"post": "yes", "upto": "1"}
    retried = browser.post(url("retry_batch_children", sent.id), confirm)
    cancelled = browser.post(url("cancel_batch", sent.id), {**confirm, "upto": "2"})
    for response, allowed in ((retried, kind in RETRIERS), (cancelled, kind in CANCELLERS)):
        if kind == "anonymous":
            assert "/admin/login/" in response["Location"]
        else:
            assert response.status_code == (302 if allowed else 403), kind
    status = batch_status(sent.id)
    assert (status.failed == 0) is (kind in RETRIERS), "retried: pending again"
    assert (status.cancel_requested, status.cancelled > 0) == ((kind in CANCELLERS,) * 2)
    assert {obj for _, obj, _ in logged()} == (
        {f"batch:{sent.id}"} if kind in RETRIERS | CANCELLERS else set())


def test_retry_failed_children_asks_first_then_retries_reports_and_logs():
    sent = half_done()
    browser = staff_client("retrier", KINDS["retrier"])
    asked = browser.get(url("retry_batch_children", sent.id))
    html = asked.content.decode()
    assert asked.status_code == 200 and "Retry the failed jobs of a batch" in html
    assert "<strong>1</strong> failed job will be pushed again" in html
    assert failures.count(batch=sent.id) == 1, "showing the page retries nothing"
    ledger.write("fix", value="c")
    done = browser.post(url("retry_batch_children", sent.id), form_fields(html), follow=True)
    assert messages_of(done) == [
        f"Retried 1 failed child of batch {sent.id} (default 1)."]
    assert done.redirect_chain[-1][0] == url("batch", sent.id)
    assert failures.count(batch=sent.id) == 0
    assert batch_status(sent.id).pending == 3
    work(connection="default")
    assert [e["value"] for e in ledger.events("callback")] == ["success"]
    [entry] = LogEntry.objects.all()
    assert (entry.object_id, entry.action_flag, entry.user.username) == (
        f"batch:{sent.id}", CHANGE, "retrier")
    assert entry.content_type == ContentType.objects.get_for_model(QueueControl)
    again = browser.post(url("retry_batch_children", sent.id), form_fields(html), follow=True)
    assert messages_of(again) == [f"Batch {sent.id} has no failed child to retry."]
    assert LogEntry.objects.count() == 1, "what changed nothing is not logged"


def test_cancel_the_rest_asks_first_then_cancels_reports_and_logs():
    sent = half_done()
    browser = staff_client("canceller", KINDS["canceller"])
    asked = browser.get(url("cancel_batch", sent.id)).content.decode()
    assert "Cancel the rest of a batch" in asked
    assert "<strong>2</strong> jobs of 5 have not ended" in asked
    assert batch_status(sent.id).pending == 2, "showing the page cancels nothing"
    done = browser.post(url("cancel_batch", sent.id), form_fields(asked), follow=True)
    assert messages_of(done) == [
        f"Cancelled 2 waiting jobs of batch {sent.id}; asked 0 running jobs to stop."]
    status = batch_status(sent.id)
    assert (status.cancelled, status.pending, status.complete, status.cancel_requested) == (
        2, 0, True, True)
    assert failures.get(sent.jobs[4].id).message.startswith("cancelled by admin:canceller")
    work(connection="default")
    [failure] = ledger.events("callback")
    assert (failure["value"], failure["cancelled"], failure["failed"]) == ("failure", 2, 1)
    assert logged() == [("canceller", f"batch:{sent.id}", "Cancelled")]
    page = browser.get(url("batch", sent.id)).content.decode()
    assert "the rest was cancelled" in page and not CANCEL.search(page), "nothing left"


def test_buttons_act_only_on_a_confirmed_post_behind_csrf():
    sent = half_done()
    browser = staff_client("superuser", [], enforce_csrf_checks=True)
    for name in ("retry_batch_children", "cancel_batch"):
        got = browser.get(url(name, sent.id), {"post": "yes", "upto": "9"})
        assert got.status_code == 200, "a GET only asks"
        assert browser.post(url(name, sent.id), {"post": "yes", "upto": "9"}).status_code == 403
    status = batch_status(sent.id)
    assert (status.failed, status.pending, status.cancel_requested) == (1, 2, False)
    html = browser.get(url("cancel_batch", sent.id)).content.decode()
    fields = {**form_fields(html), "csrfmiddlewaretoken": csrf_token(html)}
    assert browser.post(url("cancel_batch", sent.id), fields).status_code == 302
    assert batch_status(sent.id).cancel_requested


def test_an_unknown_or_malformed_batch_is_said_not_a_server_error():
    browser = staff_client("superuser", [])
    unknown = uuid.uuid4().hex
    for name in ("batch", "retry_batch_children", "cancel_batch"):
        page = browser.get(url(name, unknown))
        assert page.status_code == 404
        assert f"No batch {unknown}: it was never dispatched, or it was forgotten" in (
            page.content.decode())
    page = browser.get(url("batch", "not-a-batch"))
    assert page.status_code == 404 and "is not a batch id" in page.content.decode()
    posted = browser.post(url("cancel_batch", unknown), {"post": "yes", "upto": "1"})
    assert posted.status_code == 404 and logged() == []


def test_the_find_box_on_the_queues_page_leads_to_the_batch():
    sent = half_done()
    browser = staff_client("viewer", KINDS["viewer"])
    queues = browser.get(url("queues")).content.decode()
    find = url("find_batch")
    assert f'action="{find}" id="jq-find-batch"' in queues
    dashed = str(uuid.UUID(sent.id)).upper()
    found = browser.get(find, {"id": f" {dashed} "})
    assert (found.status_code, found["Location"]) == (302, url("batch", sent.id))
    wrong = browser.get(find, {"id": "12"})
    assert wrong.status_code == 404 and "is not a batch id" in wrong.content.decode()
    assert staff_client("staff_no_perms", []).get(find, {"id": sent.id}).status_code == 403


def test_a_store_that_does_not_answer_is_said(monkeypatch):
    from django_jobqueue.exceptions import TransportError

    def down(*args, **kwargs):
        raise TransportError("connection refused")

    monkeypatch.setattr("django_jobqueue.admin.batch_page.batch_status", down)
    page = staff_client("superuser", []).get(url("batch", uuid.uuid4().hex))
    assert page.status_code == 404
    assert "The batch could not be read: connection refused" in page.content.decode()
