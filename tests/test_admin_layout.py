"""What the admin's pages print, for a reader at 1280 px: one date format everywhere (with
seconds, in the current time zone), breadcrumbs through the app, and long exception text
cut in the changelist with the whole of it, escaped, in a ``title``. The browser test
(``test_admin_e2e``) checks the same pages' geometry."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
import zoneinfo

import pytest
from django.utils import timezone

from django_jobqueue.models import FailedJob
from django_jobqueue.transports import WorkerInfo, get_transport
from tests.support.admin import LOCAL_CONNECTIONS, action_post, breadcrumbs, client_for, failed, url
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.parametrize("store", STORES[:1], indirect=True)
ZONE = zoneinfo.ZoneInfo("Asia/Kathmandu")  # UTC+05:45: a wrong zone cannot pass by luck
DJANGO_DEFAULT = re.compile(r"\b(a\.m\.|p\.m\.|noon|midnight)|[A-Z][a-z]{2}\. \d{1,2}, \d{4}")


@pytest.fixture
def local():
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="default"):
        yield


def at_known_time():
    """A failed job at a known second, an hour ago; its time as every page should print it."""
    when = (timezone.now() - dt.timedelta(hours=1)).replace(microsecond=0)
    row = failed(queue="emails", age_hours=1)
    FailedJob.objects.using(row._state.db).filter(pk=row.pk).update(failed_at=when)
    row.refresh_from_db()
    return row, f"{when.astimezone(ZONE):%Y-%m-%d %H:%M:%S}"


def test_one_date_format_on_every_page(store, local):
    row, expected = at_known_time()
    started = time.time() - 3600
    get_transport("default").register_worker(WorkerInfo(
        name="w1", host="web1", pid=7, connection="default", queues=("emails",),
        concurrency=1, started_at=started, jobs_processed=0, current=()), 30)
    client = client_for("superuser")
    with timezone.override(ZONE):
        pages = {
            "changelist": client.get(url("changelist")),
            "detail": client.get(url("change", row.pk)),
            "groups": client.get(url("groups")),
            "overview": client.get(url("overview")),
            "group purge": client.get(url("purge_group", row.fingerprint)),
        }
        queues = client.get(url("queues")).content.decode()
        purge = client.post(url("changelist"), action_post("purge_old", row.pk, index="0"))
    for name, response in pages.items():
        html = response.content.decode()
        assert expected in html, name
        assert not DJANGO_DEFAULT.search(html), (name, DJANGO_DEFAULT.search(html))
    started_at = dt.datetime.fromtimestamp(int(started), tz=ZONE)
    assert f"{started_at:%Y-%m-%d %H:%M:%S}" in queues
    assert not DJANGO_DEFAULT.search(queues)
    cutoff = re.search(r"failed before (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", purge.content.decode())
    assert cutoff, "the purge confirmation names its cutoff"


def test_attempt_errors_times_use_the_same_format(store, local):
    record = failed()
    FailedJob.objects.using(record._state.db).filter(pk=record.pk).update(errors=[
        {"attempt": 1, "at": "2026-03-04T05:06:07.123456+00:00", "exception_class": "E",
         "message": "m", "worker": "w"}])
    with timezone.override(ZONE):
        html = client_for("view_only").get(url("change", record.pk)).content.decode()
    assert "<td>1</td><td>2026-03-04 10:51:07</td>" in html


def test_breadcrumbs_go_through_the_app_on_every_custom_page(store, local):
    row = failed(age_hours=40 * 24)
    client = client_for("superuser")
    pages = {
        "Failure overview": client.get(url("overview")),
        "Failures grouped by fingerprint": client.get(url("groups")),
        "Queues": client.get(url("queues")),
        "Failures grouped by fingerprint > Purge": client.get(url("purge_group",
                                                                  row.fingerprint)),
        "Purge": client.post(url("changelist"), action_post("purge_old", row.pk, index="0")),
        "Delete": client.post(url("changelist"), action_post("delete_selected", row.pk,
                                                             index="0")),
    }
    for tail, response in pages.items():
        trail = breadcrumbs(response.content.decode())
        assert trail.startswith(f"Home > Job queue > Failed jobs > {tail}"), trail


def test_changelist_cuts_long_exception_text_with_all_of_it_in_the_title(store, local):
    message = 'order "42" <b>missing</b> ' + "x" * 300 + "\nsecond line"
    failed(exc="KeyError", message=message)
    page = client_for("view_only").get(url("changelist")).content.decode()
    cell = re.search(r'<td class="field-exception_cell">(.*?)</td>', page, re.S)
    assert cell, page
    title = re.search(r'title="([^"]*)"', cell.group(1))
    assert title, cell.group(1)
    assert title.group(1) == ("KeyError: order &quot;42&quot; &lt;b&gt;missing&lt;/b&gt; "
                              + "x" * 300 + "\nsecond line")
    shown = html.unescape(re.sub(r"<[^>]+>", "", cell.group(1)))
    assert shown.endswith("…") and len(shown) < 120 and "second line" not in shown
    assert "<b>" not in cell.group(1)
