"""A batch's page and a failed chain step's page in a real headless Chromium, at 1920 and
1280 px: the batch found from the Queues page's "Find a batch" box, its progress bar,
callbacks and failed children laid out without sideways scrolling; a failed child's and a
chain step's Workflow sections (the steps it holds, masked); then, at 1280 px, "Retry
failed children" and "Cancel the rest" through their confirmation pages.

Screenshots: ``admin-batch-<width>.png``, ``admin-batch-list-<width>.png`` (the
failed jobs filtered by the batch), ``admin-chain-step-list-<width>.png`` (filtered by held
chains), ``admin-batch-child-<width>.png``, ``admin-chain-step-<width>.png``,
``admin-batch-cancel-1280.png`` and ``admin-batch-done-1280.png`` (``docs/img/`` with
``JQ_SCREENSHOTS=1``; see ``tests.support.browser``).
"""

from __future__ import annotations

import pytest

from django_jobqueue import failures
from django_jobqueue.testing import work
from django_jobqueue.workflows import batch, batch_status, chain
from tests import jobs
from tests.support import ledger
from tests.support.admin import user, workflows_on_default
from tests.support.browser import (
    ADMIN,
    CRUMBS,
    JS_CUT_WORDS,
    browse,
    browser_or_skip,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, databases=["default"])]
CARD = "4111111111111111"
BATCH_CRUMBS = f"{CRUMBS} › Queues › Batch "  # noqa: RUF001 (the admin's own separator)
# Words that must not be split over two lines on the batch page.
UNCUT = "#content th, .jq-legend li, .button"


def test_batch_and_chain_pages_in_chromium(live_server, shots, monkeypatch, ledger):
    sync_playwright = browser_or_skip()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as in test_admin_e2e
    with workflows_on_default():
        user("superuser")
        seeded = seed()
        # The pages at both widths, then the buttons at 1280 px.
        saved = browse(sync_playwright, live_server.url, shots,
                       lambda visit: look(visit, seeded), lambda visit: act(visit, seeded))
    assert len(saved) == 12 and all(path.stat().st_size > 1000 for path in saved)


def seed():
    """A chain whose second step failed for good, holding two (one with a card number);
    then a nightly import batch of twelve: seven succeeded, three failed, two pending."""
    held = chain(jobs.Step("fetch-supplier-feed"), jobs.Step("charge-monthly-invoices",
                                                             fail=True),
                 jobs.Charge(CARD, 2500, api_key="sk_live_do_not_show"),
                 jobs.Step("email-receipts")).dispatch()
    work(connection="default")
    keys = [f"import-supplier-{n:02d}" for n in range(12)]
    failing = {keys[2], keys[5], keys[8]}
    # The last two wait on a queue work() leaves alone: the batch's pending jobs.
    sent = batch([(jobs.LaterStep if n >= 10 else jobs.Step)(key, until_fixed=key in failing)
                  for n, key in enumerate(keys)],
                 on_failure=jobs.Callback("failure"), on_success=jobs.Callback("success"),
                 on_complete=jobs.Callback("complete"),
                 name="Nightly supplier price import, EU warehouses (2026-12-07)").dispatch()
    work(connection="default")
    return {"chain": held, "batch": sent, "failing": sorted(failing)}


def look(visit, seeded):
    """From the Queues page's find box to the batch (checked, shot), its failed jobs in the
    changelist, the held chains there, one failed child's page and the chain step's page;
    nothing is changed."""
    from playwright.sync_api import expect

    page, sent = visit.page, seeded["batch"]
    visit.go(f"{ADMIN}queues/")
    page.fill("#jq-find-batch-id", sent.id)
    page.click("#jq-find-batch button")
    expect(page.locator("#jq-batch strong.jq-state")).to_have_text("running")
    expect(page.locator(".jq-bar span")).to_have_count(3)
    expect(page.locator(".jq-count-pending")).to_have_text("2 pending (16.7%)")
    expect(page.locator("#jq-failed-children tbody tr")).to_have_count(3)
    expect(page.locator("a.jq-retry-children")).to_be_visible()
    expect(page.locator("a.jq-cancel-rest")).to_be_visible()
    batch_layout(visit)
    visit.check("batch", crumbs=BATCH_CRUMBS + sent.id)

    page.click("a.jq-children-link")  # the changelist, filtered by the batch
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    expect(page.locator("#changelist-filter")).to_contain_text(sent.id[:12])
    visit.columns_on_screen("failed_at_local")
    visit.check("batch-list")
    visit.go(f"{ADMIN}?chain_held=1")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list .jq-chain-held")).to_have_text("holds chain")
    visit.columns_on_screen("failed_at_local")
    visit.check("chain-step-list")

    visit.go(f"{ADMIN}batch/{sent.id}/")
    page.locator("#jq-failed-children a.jq-record").first.click()
    workflow = page.locator("fieldset", has_text="A job of batch")
    expect(workflow.locator(".jq-bar span")).to_have_count(3)
    visit.check("batch-child")

    record = failures.get(seeded["chain"].steps[1].id)
    visit.go(f"{ADMIN}{record.id}/change/")
    workflow = page.locator("fieldset", has_text="Step 2 of 4 of chain")
    expect(workflow.locator("ol.jq-held li")).to_have_count(2)
    expect(workflow).to_contain_text("deleting it cancels the 2 steps it holds")
    text = page.locator("#content").inner_text()
    assert CARD not in text and "sk_live_do_not_show" not in text
    visit.check("chain-step")


def batch_layout(visit):
    """Beyond what every page keeps: each table's right edge inside the viewport, and no
    word of a header, the legend or a button split over two lines."""
    for table in visit.page.locator("#content table").all():
        box = table.bounding_box()
        assert box and box["x"] + box["width"] <= visit.width, (visit.width, box)
    assert visit.page.evaluate(JS_CUT_WORDS, UNCUT) == [], visit.width


def act(visit, seeded):
    """At 1280 px: retry the failed children (they succeed now), then cancel the two left:
    the batch completes, on_failure and on_complete fire."""
    from playwright.sync_api import expect

    page, sent = visit.page, seeded["batch"]
    for key in seeded["failing"]:
        ledger.write("fix", value=key)
    visit.go(f"{ADMIN}batch/{sent.id}/")
    page.click("a.jq-retry-children")
    expect(page.locator(".jq-count")).to_contain_text("3 failed jobs will be pushed again")
    page.click("#jq-confirm-yes")
    expect(page.locator("ul.messagelist")).to_contain_text(
        f"Retried 3 failed children of batch {sent.id}")
    expect(page.locator("#jq-failed-children")).to_have_count(0)
    expect(page.locator(".jq-count-pending")).to_have_text("5 pending (41.7%)")
    work(connection="default")  # the three retried succeed
    page.reload()
    expect(page.locator(".jq-count-succeeded")).to_have_text("10 succeeded (83.3%)")
    page.click("a.jq-cancel-rest")
    expect(page.locator(".jq-count")).to_contain_text("2 jobs of 12 have not ended")
    visit.check("batch-cancel", crumbs=BATCH_CRUMBS + sent.id)
    page.click("#jq-confirm-yes")
    expect(page.locator("ul.messagelist")).to_contain_text(
        f"Cancelled 2 waiting jobs of batch {sent.id}; asked 0 running jobs to stop.")
    expect(page.locator("#jq-batch strong.jq-state")).to_have_text("complete")
    expect(page.locator(".jq-cancel-requested")).to_be_visible()
    batch_layout(visit)
    visit.check("batch-done", crumbs=BATCH_CRUMBS + sent.id)
    work(connection="default")  # the callbacks
    assert sorted(e["value"] for e in ledger.events("callback")) == ["complete", "failure"]
    assert batch_status(sent.id).cancelled == 2
