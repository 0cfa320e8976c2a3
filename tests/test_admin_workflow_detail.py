"""A failed job's Workflow section (a chain step, a batch child, a batch callback) and the
changelist's batch and held-chain filters, with its "holds chain" label."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from django_jobqueue import failures
from django_jobqueue.masking import MASK
from django_jobqueue.testing import work
from django_jobqueue.workflows import batch, chain
from tests import jobs
from tests.support.admin import messages_of, staff_client, workflows_on_default

pytestmark = pytest.mark.django_db(transaction=True, databases=["default"])
CARD = "4111111111111111"


@pytest.fixture(autouse=True)
def local(ledger):
    with workflows_on_default():
        yield


@pytest.fixture
def viewer():
    return staff_client("viewer", ["view_failedjob"])


def change_page(browser, job_id) -> str:
    record = failures.get(job_id)
    url = reverse("admin:django_jobqueue_failedjob_change", args=[record.id])
    return browser.get(url).content.decode()


def section(page: str) -> str:
    match = re.search(r"<h2[^>]*>\s*Workflow\s*</h2>(.*?)</fieldset>", page, re.S)
    assert match, "no Workflow section"
    return match.group(1)


def test_a_failed_chain_step_shows_the_steps_it_holds_masked_and_what_retry_does(viewer):
    sent = chain(jobs.Step("a"), jobs.Step("b", fail=True), jobs.Charge(CARD, 10),
                 jobs.Step("d")).dispatch()
    work(connection="default")
    part = section(change_page(viewer, sent.steps[1].id))
    assert f"Step 2 of 4 of chain <code>{sent.id}</code>." in part
    held = re.findall(r'<li value="(\d)"><code class="jq-call">(.*?)'
                      r'<span class="jq-arguments">\((.*?)\)</span></code></li>', part, re.S)
    assert [(n, cls.replace("<wbr>", "")) for n, cls, _ in held] == [
        ("3", "tests.jobs.Charge"), ("4", "tests.jobs.Step")]
    assert held[0][2] == f"&quot;{MASK}&quot;, 10", "the card number is masked"
    assert CARD not in part
    assert "Retrying this job resumes the chain; deleting it cancels the 2 steps it holds" in part
    assert CARD not in change_page(viewer, sent.steps[1].id), "nor in the Payload section"


def test_the_last_step_and_a_cancelled_step_say_what_they_are(viewer):
    last = chain(jobs.Step("a"), jobs.Step("z", fail=True)).dispatch()
    work(connection="default")
    part = section(change_page(viewer, last.steps[1].id))
    assert "Step 2 of 2" in part and "retrying it finishes the chain" in part
    from django_jobqueue import cancel

    stopped = chain(jobs.Step("x"), jobs.Step("y")).dispatch()
    cancel(stopped.steps[0].id, "default")
    part = section(change_page(viewer, stopped.steps[0].id))
    assert "This step was cancelled: the step after it was kept as a cancelled record." in part
    assert "Retrying this job resumes" not in part


def test_a_batch_child_links_its_batch_with_its_progress(viewer):
    sent = batch([jobs.Step("a"), jobs.Step("b", fail=True), jobs.Step("c")],
                 name="emails <2026>").dispatch()
    work(connection="default", max_jobs=2)
    part = section(change_page(viewer, sent.jobs[1].id))
    link = reverse("admin:django_jobqueue_failedjob_batch", args=[sent.id])
    assert f'A job of batch <a href="{link}" class="jq-batch-link"><code>{sent.id}</code></a>' \
        in part
    assert "emails &lt;2026&gt;" in part
    assert "1 succeeded (33.3%)" in part and "1 failed (33.3%)" in part
    assert "1 pending (33.3%)" in part and "67% ended</strong> of 3" in part


def test_a_failed_callback_shows_its_batch_and_summary(viewer):
    sent = batch([jobs.Step("a"), jobs.Step("b", fail=True)],
                 on_failure=jobs.Step("callback", fail=True)).dispatch()
    work(connection="default")
    [record] = failures.select(job_class="tests.jobs.Step", outcome="failed",
                               exception_class="django_jobqueue.exceptions.DontRetry")[:1]
    assert record.uuid not in (sent.jobs[0].id, sent.jobs[1].id)
    part = section(change_page(viewer, record.uuid))
    assert "The <code>on_failure</code> callback of batch" in part
    assert "told: 2 jobs, 1 succeeded, 1 failed, 0 cancelled." in part
    assert f"Failed jobs: <code>{sent.jobs[1].id}</code>." in part


def test_a_job_of_no_workflow_has_no_workflow_section(viewer):
    jobs.Step("alone", fail=True).dispatch()
    work(connection="default")
    [record] = failures.select(1)
    page = change_page(viewer, record.uuid)
    assert "Workflow" not in page and "Payload" in page


def test_the_changelist_filters_by_batch_and_held_chains_and_labels_held_steps(viewer):
    sent = batch([jobs.Step("a", fail=True), jobs.Step("b", fail=True)]).dispatch()
    held = chain(jobs.Step("x", fail=True), jobs.Step("y")).dispatch()
    jobs.Step("alone", fail=True).dispatch()
    work(connection="default")
    base = reverse("admin:django_jobqueue_failedjob_changelist")

    def rows(query):
        page = viewer.get(base, query)
        return page, set(re.findall(r'<a href="/admin/django_jobqueue/failedjob/(\d+)/change/',
                                    page.content.decode()))

    ids = {job_id: str(failures.get(job_id).id) for job_id in
           (sent.jobs[0].id, sent.jobs[1].id, held.steps[0].id)}
    _, found = rows({"batch": sent.id})
    assert found == {ids[sent.jobs[0].id], ids[sent.jobs[1].id]}
    page, found = rows({"chain_held": "1"})
    assert found == {ids[held.steps[0].id]}
    assert page.content.decode().count('class="jq-outcome jq-chain-held"') == 1
    page, found = rows({})
    assert len(found) == 4 and page.content.decode().count("jq-chain-held") == 1
    page, found = rows({"batch": "nope"})
    assert found == set() and messages_of(page) == [
        "'nope' is not a batch id (32 hex digits)"]


def test_the_job_page_tells_a_held_step_what_it_waits_on_and_its_record(viewer):
    sent = chain(jobs.Step("a", fail=True), jobs.Step("b")).dispatch()
    job = reverse("admin:django_jobqueue_failedjob_job")
    page = viewer.get(job, {"id": sent.steps[1].id}).content.decode()
    assert '<strong class="jq-state">waiting</strong>' in page
    assert f'class="jq-waiting-on"><code>{sent.steps[0].id}</code></a>' in page
    assert "jq-record" not in page
    work(connection="default")
    record = failures.get(sent.steps[0].id)
    page = viewer.get(job, {"id": sent.steps[1].id}).content.decode()
    assert '<strong class="jq-state">held</strong>' in page
    change = reverse("admin:django_jobqueue_failedjob_change", args=[record.id])
    assert (f'<a href="{change}" class="jq-record">failed job #{record.id}</a>: retrying it '
            "resumes the chain") in page


def test_a_step_that_failed_after_the_next_was_queued_holds_nothing(viewer):
    """Its worker died between its success (the next step queued) and its ack; collected,
    it failed for good: the page must not offer to resume or cancel what already went on."""
    from django_jobqueue.payload import json_object
    from django_jobqueue.transports import get_transport
    from django_jobqueue.workflows.advance import End, advance

    sent = chain(jobs.Step("a", fail=True), jobs.Step("b")).dispatch()
    [job] = get_transport("default").reserve(["default"], 1, 30, "t")
    advance([End(json_object(job.payload), job.id, "succeeded", job.payload)])
    get_transport("default").release(job, 0, job.payload)
    work(connection="default")  # step a runs again and fails for good; b ran
    part = section(change_page(viewer, sent.steps[0].id))
    assert "the chain went on, and this record holds nothing back" in part
    assert "Retrying this job resumes the chain" not in part
