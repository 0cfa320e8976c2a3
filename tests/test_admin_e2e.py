"""The failed-job admin in a real headless Chromium, at 1280 and 1920 px wide: every page
(changelist, filtered changelist, detail, groups, overview, queues, schedules and each
confirmation page) is checked for what breaks a layout (sideways scrolling, columns off
screen, words cut in filter titles, dates without seconds, breadcrumbs), and the flows that
change data are driven through the pages: retry, purge old, purge a group (one click only
asks), a queue's Pause and Resume, a schedule entry's Run now and Disable.

Screenshots (``admin-<page>-<width>.png``) go to ``docs/img/`` when ``JQ_SCREENSHOTS=1``,
else to the test's tmp dir; without Chromium the test is skipped, unless
``JQ_REQUIRE_BROWSER=1`` (see ``tests.support.browser``).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from django_jobqueue import failures
from django_jobqueue.schedule import service
from django_jobqueue.transports import CurrentJob, WorkerInfo, get_transport
from tests.support.admin import LOCAL_CONNECTIONS, failed, user
from tests.support.browser import (
    ADMIN,
    ARGS,
    CHROMIUM,
    CRUMBS,
    WHEN,
    WIDTHS,
    Visit,
    browser_or_skip,
    login,
)
from tests.support.params import STORES
from tests.support.schedules import ended
from tests.support.settings_overrides import jobqueue

LONG_JOB = "shop.notifications.jobs.SendAbandonedCartReminderEmail"
LONG_EXC = "django_jobqueue.exceptions.WorkHorseKilled"
# Entries on the database connection (emptied after each test), one on memory left as it is.
REPORT = "nightly-sales-report"
SCHEDULE = {
    REPORT: {"JOB": "tests.jobs.UniqueReport", "ARGS": ["eu"], "CRON": "0 2 * * *",
             "TIME_ZONE": "Europe/Paris", "QUEUE": "reports", "CONNECTION": "default"},
    "shop-notifications-abandoned-cart-reminders-every-five-minutes": {
        "JOB": "tests.jobs.Record", "ARGS": [1], "EVERY": 300,
        "QUEUE": "notifications-high-priority", "CONNECTION": "default"},
    "weekly-cleanup": {"JOB": "tests.jobs.Record", "ARGS": [2], "CRON": "@weekly",
                       "CONNECTION": "memory", "ENABLED": False},
}
LONG_MESSAGE = ('work horse pid 4242 was killed by signal 9 (SIGKILL) while running '
                'customer "a&b" <cart> reminders; ' + "memory grew past the limit " * 6)

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("store", STORES[:1], indirect=True)]

@pytest.mark.parametrize("width", WIDTHS)
def test_admin_in_chromium(store, live_server, shots, monkeypatch, width):
    sync_playwright = browser_or_skip()
    # Playwright's sync API keeps an event loop in this thread; the ORM calls below are
    # plain synchronous test setup and checks, not async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="memory",
                  SCHEDULE=SCHEDULE):
        user("superuser")
        rows = seed()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_default_timeout(10_000)  # a missing element fails in seconds
            visit = Visit(page, live_server.url, shots, width)
            login(visit)
            browse(visit, rows)
            pause_and_resume(visit)
            schedules(visit)
            purge_and_retry(visit, rows)
            browser.close()
    assert [row.pk for row in failures.table().filter()] == [rows["kept"].pk]
    for path in visit.saved:
        assert path.stat().st_size > 1000


def seed():
    """Failed jobs of several kinds (one with a long class, exception and message), and a
    live worker for the queues page."""
    rows = {
        "fresh": [failed(exc="KeyError", queue="emails", message=f"order {n} missing")
                  for n in (1, 2)],
        "kept": failed(exc="ValueError", queue="emails", age_hours=2),
        "old": failed(exc="KeyError", queue="bulk", age_hours=24 * 40),
        "long": failed(exc=LONG_EXC, job=LONG_JOB, queue="notifications-high-priority",
                       message=LONG_MESSAGE, age_hours=1),
    }
    now = time.time()
    get_transport("default").register_worker(WorkerInfo(
        name="web-7f9c4d-2xk8q:4242:0d3b5e", host="web-7f9c4d-2xk8q", pid=4242,
        connection="default", queues=("default", "emails", "notifications-high-priority"),
        concurrency=4, started_at=now - 3 * 3600, jobs_processed=1234,
        current=(CurrentJob("c" * 32, LONG_JOB, now - 75),)), 60)
    return rows


def browse(visit, rows):
    """Every read-only page: changelist, filtered changelist, detail, groups, overview,
    queues."""
    page = visit.page
    visit.columns_on_screen("exception_cell", "attempts", "failed_at_local")
    cut = page.locator(f"#result_list tr:has(a:text-is('{rows['long'].pk}')) "
                       "td.field-exception_cell span[title]")
    assert cut.get_attribute("title") == f"{LONG_EXC}: {LONG_MESSAGE}"
    assert cut.inner_text().endswith("…")
    for cell in page.locator("#result_list td.field-failed_at_local").all_inner_texts():
        assert WHEN.fullmatch(cell), cell
    visit.check("changelist", crumbs="Home › Job queue › Failed jobs")  # noqa: RUF001

    # Exception class filter, then a date range starting a day ago (excludes the old one).
    page.click("#changelist-filter a:text-is('KeyError')")
    since = timezone.localtime() - dt.timedelta(days=1)
    page.fill("input[name=failed_at__range__gte_0]", f"{since:%Y-%m-%d}")
    page.fill("input[name=failed_at__range__gte_1]", f"{since:%H:%M:%S}")
    page.click(".admindatefilter input[type=submit]")
    page.wait_for_url("**exception_class=KeyError**failed_at__range__gte_0=**")
    assert page.locator("#result_list tbody tr").count() == 2
    visit.columns_on_screen("exception_cell", "attempts", "failed_at_local")
    visit.check("filtered")

    visit.go(f"{ADMIN}{rows['long'].pk}/change/")
    assert WHEN.search(page.locator(".field-failed_at_local").inner_text())
    visit.check("detail")
    visit.go(f"{ADMIN}groups/")
    seen = WHEN.findall(page.locator("#jq-groups").inner_text())
    assert len(seen) == 2 * 4  # first and last seen of each of the 4 groups
    visit.check("groups")
    visit.go(f"{ADMIN}overview/")
    page.wait_for_selector("svg.jq-chart")
    assert WHEN.search(page.locator("#jq-overview").inner_text())
    visit.check("overview")
    visit.go(f"{ADMIN}queues/")
    assert len(WHEN.findall(page.locator("#jq-workers").inner_text())) == 1
    visit.check("queues")


def pause_and_resume(visit):
    """The Queues page's Pause on one queue (reported, shown paused with its time and who,
    the layout checked and shot), then Resume."""
    from playwright.sync_api import expect

    page = visit.page
    visit.go(f"{ADMIN}queues/")
    row = page.locator("#jq-queues tr[data-connection='default'][data-queue='emails']")
    row.locator("button.jq-pause").click()
    expect(page.locator("ul.messagelist")).to_contain_text(
        "Paused queue 'emails' on connection 'default'.")
    expect(row.locator("td.jq-paused")).to_contain_text("by admin:superuser")
    assert WHEN.search(row.locator("td.jq-paused .jq-when").inner_text())
    expect(row.locator("button.jq-resume")).to_be_visible()
    box = row.locator("button.jq-resume").bounding_box()
    assert box and box["x"] + box["width"] <= visit.width, box
    visit.check("queues-paused", crumbs=f"{CRUMBS} › Queues")  # noqa: RUF001
    row.locator("button.jq-resume").click()
    expect(page.locator("ul.messagelist")).to_contain_text(
        "Resumed queue 'emails' on connection 'default'")
    expect(row.locator("button.jq-pause")).to_be_visible()


def schedules(visit):
    """The Schedules page, reached from the changelist: a failed last run linked to its
    failed job, then Run now and Disable on one entry, each reported."""
    from playwright.sync_api import expect

    page = visit.page
    earlier = service.run_now(REPORT)
    ended(REPORT, earlier.id, "failed", connection="default", queue="reports")
    visit.go(ADMIN)
    page.click(".object-tools a:text-is('Schedules')")
    row = page.locator(f"#jq-schedules tr[data-entry='{REPORT}']")
    expect(row.locator("td.jq-outcome a")).to_have_text("failed")
    assert WHEN.search(row.locator("td.jq-last").inner_text())
    # The earlier run still holds the unique key: Run now queues nothing, and says so.
    row.locator("button.jq-run").click()
    expect(page.locator("ul.messagelist")).to_contain_text(f"job {earlier.id} already holds")
    row.locator("button.jq-disable").click()
    expect(page.locator("ul.messagelist")).to_contain_text(f"Disabled schedule entry '{REPORT}'")
    expect(row.locator("button.jq-enable")).to_be_visible()
    expect(row.locator("td.jq-enabled")).to_contain_text("set by an operator")
    # Another entry's Run now queues a job.
    other = page.locator("#jq-schedules tr[data-entry^='shop-notifications']")
    other.locator("button.jq-run").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Queued job")
    expect(other.locator("td.jq-last")).to_contain_text("run now")
    visit.check("schedules", crumbs="Home › Job queue › Schedules")  # noqa: RUF001


def purge_and_retry(visit, rows):
    """Each confirmation page (checked and shot), what one click does (nothing), what
    confirming does (exactly what was counted), and a retry."""
    from playwright.sync_api import expect

    page = visit.page
    # Purge old: the action asks, with the count, the cutoff and the filter it acts on.
    visit.go(f"{ADMIN}?queue=bulk")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "purge_old")
    page.click("button[name=index]")
    expect(page.locator(".jq-count")).to_contain_text("1 failed job will be deleted")
    assert WHEN.search(page.locator(".jq-scope").inner_text())
    visit.check("purge")
    page.click("#jq-confirm-yes")
    expect(page.locator("ul.messagelist")).to_contain_text("Purged 1 failed job older than")

    # Delete selected: asks, and Cancel goes back to the changelist, deleting nothing.
    visit.go(ADMIN)
    page.check(f"input[name=_selected_action][value='{rows['kept'].pk}']")
    page.select_option("select[name=action]", "delete_selected")
    page.click("button[name=index]")
    expect(page.locator(".jq-count")).to_contain_text("1 failed job will be deleted")
    visit.check("delete")
    page.click("a.cancel-link")
    page.wait_for_selector("#result_list")

    # The detail page's Delete (Django's own confirmation page): looked at, not confirmed.
    visit.go(f"{ADMIN}{rows['kept'].pk}/delete/")
    visit.check("delete-one")

    # Purge a group: one click only asks; confirming deletes the group's one row.
    visit.go(f"{ADMIN}groups/")
    page.click(f"#fp-{rows['long'].fingerprint} a.jq-purge")
    expect(page.locator(".jq-count")).to_contain_text("1 failed job will be deleted")
    assert failures.get(rows["long"].pk) is not None
    visit.check("purge-group", crumbs=f"{CRUMBS} › Failures grouped by fingerprint")  # noqa: RUF001
    page.click("#jq-confirm-yes")
    expect(page.locator("ul.messagelist")).to_contain_text("Purged 1 failed job (group")

    # Retry the two fresh rows (everything matching the KeyError filter).
    visit.go(f"{ADMIN}?exception_class=KeyError")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "retry_selected")
    page.click("button[name=index]")
    expect(page.locator("ul.messagelist")).to_contain_text("Retried 2 failed jobs")
