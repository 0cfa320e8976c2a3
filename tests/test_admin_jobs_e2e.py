"""A queue's jobs page and a job's page in a real headless Chromium, at 1920 and 1280 px:
reached from the Queues page (where the workers' running jobs show their progress), laid
out without sideways scrolling with running jobs and their progress, prefetched, queued and
delayed ones, some selected; then, at 1280 px, "Cancel selected", "Cancel all of job class
X" through its confirmation page, and the job page found by id.

Screenshots: ``admin-queue-jobs-<width>.png``, ``admin-job-<width>.png``,
``admin-cancel-class-<width>.png`` and ``admin-queues-progress-<width>.png``
(``docs/img/`` with ``JQ_SCREENSHOTS=1``; see ``tests.support.browser``).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from django_jobqueue import failures
from django_jobqueue.admin.queue_jobs import jobs_url
from django_jobqueue.flow.names import FLOW_SCOPE, status_name
from django_jobqueue.transports import CurrentJob, PushItem, WorkerInfo, get_transport
from tests.support.admin import LOCAL_CONNECTIONS, user
from tests.support.browser import (
    ADMIN,
    CRUMBS,
    WHEN,
    browse,
    browser_or_skip,
)
from tests.support.settings_overrides import jobqueue

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, databases=["default"])]
QUEUE = "imports"
FEED = "shop.catalogue.jobs.ImportSupplierPriceFeed"
REMINDER = "shop.notifications.jobs.SendAbandonedCartReminderEmail"
THUMBS = "shop.media.jobs.RenderThumbnails"
JOBS_CRUMBS = f"{CRUMBS} › Queues › "  # noqa: RUF001 (the admin's own separator)


def test_queue_jobs_in_chromium(live_server, shots, monkeypatch):
    sync_playwright = browser_or_skip()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as in test_admin_e2e
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="default"):
        user("superuser")
        jobs = seed()
        # The queue's pages at both widths, then cancels at 1280 px.
        saved = browse(sync_playwright, live_server.url, shots, lambda visit: look(visit, jobs),
                       lambda visit: cancel(visit, jobs))
        get_transport("default").clear(QUEUE)
    assert len(saved) == 8 and all(path.stat().st_size > 1000 for path in saved)


def seed():
    """The imports queue: two running jobs (both reported progress, one without a total),
    one prefetched, queued jobs of three classes (one retrying), two delayed; and the live
    worker that runs the two."""
    transport = get_transport("default")
    items = [_item(FEED, n) for n in range(3)]
    transport.push_many(items)
    transport.exchange([], [], [QUEUE], 2, 1, 30, "web-7f9c4d-2xk8q:4242:0d3b5e")
    queued = [_item(cls, n) for n, cls in enumerate([REMINDER, REMINDER, THUMBS, FEED])]
    queued.append(_item(REMINDER, 9, errors=[{"attempt": 2, "exception_class": "SMTPError"}]))
    delayed = [_item(THUMBS, 10, delay=300), _item(FEED, 11, delay=3 * 3600)]
    transport.push_many(queued + delayed)
    running = [job.id for job in transport.jobs(QUEUE, 2)]
    _report(running[0], 1240, 5000, "rows imported from supplier feed acme-eu-2026-12.csv")
    _report(running[1], 37, None, "pages fetched")
    now = time.time()
    transport.register_worker(WorkerInfo(
        name="web-7f9c4d-2xk8q:4242:0d3b5e", host="web-7f9c4d-2xk8q", pid=4242,
        connection="default", queues=(QUEUE,), concurrency=2, started_at=now - 3600,
        jobs_processed=812, current=tuple(CurrentJob(job_id, FEED, now - 95)
                                          for job_id in running)), 60)
    return {"running": running, "queued": [item.id for item in queued]}


def _item(job_class, n, delay=0.0, errors=()):
    job_id = uuid.uuid4().hex
    body = {"v": 1, "id": job_id, "job": job_class, "queue": QUEUE, "connection": "default",
            "dispatched_at": f"2026-12-07T14:{n:02d}:27+00:00", "priority": 0,
            "data": {"args": [n], "kwargs": {}}, "errors": list(errors)}
    return PushItem(job_id, QUEUE, json.dumps(body), delay)


def _report(job_id, done, total, message):
    record = {"state": "running", "done": done, "total": total, "message": message,
              "at": time.time() - 4, "queue": QUEUE}
    get_transport("default").coordination.write(FLOW_SCOPE, status_name(job_id),
                                                json.dumps(record), ttl=600)


def look(visit, jobs):
    """From the Queues page (progress of the worker's jobs) to the queue's jobs (checked,
    two selected, shot), the confirmation page of a job-class cancel and a job's page;
    nothing is changed."""
    from playwright.sync_api import expect

    page = visit.page
    visit.go(f"{ADMIN}queues/")
    expect(page.locator("#jq-workers progress")).to_have_count(1)
    expect(page.locator("#jq-workers")).to_contain_text("1240/5000 24.8%")
    expect(page.locator("#jq-workers")).to_contain_text("37/? pages fetched")
    visit.check("queues-progress", crumbs=f"{CRUMBS} › Queues")  # noqa: RUF001
    page.click(f"#jq-queues tr[data-connection='default'][data-queue='{QUEUE}'] a.jq-jobs")
    expect(page.locator("#jq-jobs tbody tr")).to_have_count(10)
    states = page.locator("#jq-jobs td.jq-state").all_inner_texts()
    assert [state.split("\n")[0] for state in states] == (
        ["running"] * 2 + ["prefetched"] + ["queued"] * 5 + ["delayed"] * 2)
    assert "due in 2h 59m" in states[-1]
    running = page.locator(f"#jq-jobs tr[data-job='{jobs['running'][0]}']")
    expect(running.locator("progress")).to_have_attribute("value", "24.8")
    for cell in page.locator("#jq-jobs td.jq-when").all_inner_texts():
        assert WHEN.fullmatch(cell), cell
    for job_id in jobs["queued"][:2]:
        page.check(f"#jq-jobs input[value='{job_id}']")
    box = page.locator("#jq-jobs thead th").last.bounding_box()
    assert box and box["x"] + box["width"] <= visit.width, box
    visit.check("queue-jobs", crumbs=JOBS_CRUMBS)

    page.fill("#jq-job-class", REMINDER)
    page.click("button.jq-cancel-class")
    expect(page.locator(".jq-count")).to_contain_text("3 jobs will be cancelled: 3 waiting")
    visit.check("cancel-class", crumbs=JOBS_CRUMBS)
    page.click("a.cancel-link")  # "No, take me back": nothing cancelled

    page.click(f"#jq-jobs tr[data-job='{jobs['running'][0]}'] td.jq-id a")
    expect(page.locator("#jq-job strong.jq-state")).to_have_text("running")
    expect(page.locator("#jq-job progress")).to_have_attribute("value", "24.8")
    visit.check("job", crumbs=JOBS_CRUMBS)


def cancel(visit, jobs):
    """Cancel the two selected, then every REMINDER left (confirmed), then find one of
    them by id: a cancelled record, linked."""
    from playwright.sync_api import expect

    page = visit.page
    visit.go(jobs_url("default", QUEUE))
    for job_id in jobs["queued"][:2]:
        page.check(f"#jq-jobs input[value='{job_id}']")
    page.click("button.jq-cancel-selected")
    expect(page.locator("ul.messagelist")).to_contain_text(
        f"Cancelled 2 waiting jobs of queue {QUEUE} on connection default")
    expect(page.locator("#jq-jobs tbody tr")).to_have_count(8)
    page.fill("#jq-job-class", REMINDER)
    page.click("button.jq-cancel-class")
    expect(page.locator(".jq-count")).to_contain_text("1 job will be cancelled")
    page.click("#jq-confirm-yes")
    expect(page.locator("ul.messagelist")).to_contain_text(
        f"Cancelled 1 waiting job of job class {REMINDER}")
    expect(page.locator("#jq-jobs tbody tr")).to_have_count(7)

    visit.go(f"{ADMIN}queues/")
    page.fill("#jq-find-id", jobs["queued"][0])
    page.click("#jq-find button")
    expect(page.locator("#jq-job strong.jq-state")).to_have_text("cancelled")
    page.click("a.jq-record")
    assert page.url.endswith(f"/{failures.get(jobs['queued'][0]).id}/change/")
