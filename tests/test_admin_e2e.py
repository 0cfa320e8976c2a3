"""The failed-job admin in a real headless Chromium: log in, filter, retry, purge, overview.

Screenshots go to ``docs/img/`` when ``JQ_SCREENSHOTS=1``, else to the test's tmp dir.
Without Chromium (or Playwright) the test is skipped, unless ``JQ_REQUIRE_BROWSER=1``
(``scripts/test`` sets it): then it fails, so a CI run cannot pass without the browser.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from django.utils import timezone

from django_jobqueue.failures import service
from tests.adminkit import LOCAL_CONNECTIONS, failed, user
from tests.conftest import REPO, jobqueue
from tests.factories import STORES

CHROMIUM = os.environ.get("JQ_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("store", STORES[:1], indirect=True)]


def browser_or_skip():
    """Playwright's sync API, or a skip (a failure under ``JQ_REQUIRE_BROWSER=1``)."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is not installed"
    if problem is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is None:
        return sync_playwright
    if os.environ.get("JQ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (JQ_REQUIRE_BROWSER=1): {problem}")
    pytest.skip(problem)


@pytest.fixture
def shots(tmp_path):
    folder = REPO / "docs" / "img" if os.environ.get("JQ_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_admin_in_chromium(store, live_server, shots, monkeypatch):
    sync_playwright = browser_or_skip()
    # Playwright's sync API keeps an event loop in this thread; the ORM calls below are
    # plain synchronous test setup and checks, not async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="memory"):
        user("superuser")
        fresh = [failed(exc="KeyError", queue="emails", message=f"order {n} missing")
                 for n in (1, 2)]
        failed(exc="ValueError", queue="emails", age_hours=2)
        old = failed(exc="KeyError", queue="bulk", age_hours=24 * 40)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            run_scenario(page, live_server.url, shots, fresh, old)
            browser.close()
    assert service.count() == 1  # the ValueError one: neither retried nor old
    for name in ("changelist", "filtered", "detail", "purge", "overview", "groups"):
        assert (shots / f"admin-{name}.png").stat().st_size > 1000


def run_scenario(page, base, shots, fresh, old):
    page.goto(f"{base}/admin/login/?next=/admin/django_jobqueue/failedjob/")
    page.fill("#id_username", "superuser")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    page.screenshot(path=shots / "admin-changelist.png", full_page=True)

    # Exception class filter, then a date range starting a day ago (excludes the old one).
    page.click("#changelist-filter a:text-is('KeyError')")
    since = timezone.localtime() - dt.timedelta(days=1)
    page.fill("input[name=failed_at__range__gte_0]", f"{since:%Y-%m-%d}")
    page.fill("input[name=failed_at__range__gte_1]", f"{since:%H:%M:%S}")
    page.click(".admindatefilter input[type=submit]")
    page.wait_for_url("**exception_class=KeyError**failed_at__range__gte_0=**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    page.screenshot(path=shots / "admin-filtered.png", full_page=True)

    page.goto(f"{base}/admin/django_jobqueue/failedjob/{fresh[0].pk}/change/")
    page.screenshot(path=shots / "admin-detail.png", full_page=True)
    page.go_back()

    # Retry the two selected rows.
    page.check("#action-toggle")
    page.select_option("select[name=action]", "retry_selected")
    page.click("button[name=index]")
    page.wait_for_selector("text=Retried 2 failed jobs")

    # Purge everything older than 30 days (the default), on all matching rows.
    page.goto(f"{base}/admin/django_jobqueue/failedjob/?queue=bulk")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "purge_old")
    page.click("button[name=index]")
    page.wait_for_selector("#jq-confirm")
    assert page.locator(".jq-count").inner_text().startswith("1 failed job")
    page.screenshot(path=shots / "admin-purge.png", full_page=True)
    page.click("#jq-confirm-yes")
    page.wait_for_selector("text=Purged 1 failed job older than 30 days")

    page.click("text=Failure overview")
    page.wait_for_selector("svg.jq-chart")
    page.screenshot(path=shots / "admin-overview.png", full_page=True)
    page.goto(f"{base}/admin/django_jobqueue/failedjob/groups/")
    page.screenshot(path=shots / "admin-groups.png", full_page=True)
