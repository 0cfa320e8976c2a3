"""The admin's Schedules page: who sees it and its buttons, what each button does (and
logs), what the page prints (escaped, in the current time zone), and where it is linked.
The browser test (``test_admin_e2e``) checks its layout."""

from __future__ import annotations

import datetime as dt
import html
import re
import zoneinfo

import pytest
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_jobqueue.models import Schedule
from django_jobqueue.schedule import service
from django_jobqueue.transports import get_transport
from tests.support.admin import breadcrumbs, client_for, csrf_token, messages_of, staff_client
from tests.support.params import STORES
from tests.support.schedules import declared, ended, fresh, queued

pytestmark = pytest.mark.django_db(transaction=True)  # run now pushes on commit
ZONE = zoneinfo.ZoneInfo("Asia/Kathmandu")  # UTC+05:45: a wrong zone cannot pass by luck
PAGE = "admin:django_jobqueue_schedule_changelist"

# user kind: its permissions (None: not logged in; "superuser": all)
KINDS = {
    "anonymous": None,
    "staff_no_perms": [],
    "viewer": ["view_schedule"],
    "changer": ["view_schedule", "change_schedule"],
    "runner": ["view_schedule", "run_schedule"],
    "superuser": [],
}
VIEWERS = {"viewer", "changer", "runner", "superuser"}


@pytest.fixture(autouse=True)
def empty_memory_queue():
    get_transport("memory").clear("default")


def client(kind: str, **options) -> Client:
    return staff_client(kind, KINDS[kind], **options)


def url(button: str = "") -> str:
    return reverse(f"admin:django_jobqueue_schedule_{button}" if button else PAGE)


# button: (who may, what changed afterwards)
BUTTONS = {
    "run": ({"runner", "superuser"}, lambda name: len(queued()) == 1),
    "disable": ({"changer", "superuser"}, lambda name: not service.status(name).enabled),
    "enable": ({"changer", "superuser"}, lambda name: service.status(name).overridden),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_page_needs_the_view_permission(kind):
    with declared({fresh(): {}}):
        response = client(kind).get(url())
    if kind == "anonymous":
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    else:
        assert response.status_code == (200 if kind in VIEWERS else 403)


@pytest.mark.parametrize("button", list(BUTTONS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_button_needs_its_own_permission(kind, button):
    allowed, changed = BUTTONS[button]
    name = fresh()
    with declared({name: {}}):
        response = client(kind).post(url(button), {"name": name})
        if kind == "anonymous":
            assert "/admin/login/" in response["Location"]
        elif kind in allowed:
            assert (response.status_code, response["Location"]) == (302, url())
        else:
            assert response.status_code == 403
        assert changed(name) is (kind in allowed)
        logged = LogEntry.objects.filter(object_id=name).count()
    assert logged == (1 if kind in allowed else 0)


@pytest.mark.parametrize(("kind", "shown"), [
    ("viewer", set()), ("runner", {"Run now"}), ("changer", {"Disable"}),
    ("superuser", {"Run now", "Disable"}),
])
def test_a_user_sees_only_the_buttons_they_may_use(kind, shown):
    with declared({fresh(): {}}):
        page = client(kind).get(url()).content.decode()
    assert set(re.findall(r'<button type="submit" class="button jq-\w+">([^<]+)</button>',
                          page)) == shown


def test_buttons_are_post_only_behind_csrf():
    name = fresh()
    with declared({name: {}}):
        browser = client("superuser", enforce_csrf_checks=True)
        assert browser.get(url("run")).status_code == 405
        assert browser.post(url("run"), {"name": name}).status_code == 403
        token = csrf_token(browser.get(url()).content.decode())
        ok = browser.post(url("run"), {"name": name, "csrfmiddlewaretoken": token})
        assert ok.status_code == 302
    assert len(queued()) == 1, "only the POST with the page's token queued a job"


def test_each_button_reports_and_logs_what_it_did():
    name = fresh()
    with declared({name: {"JOB": "tests.jobs.UniqueReport", "ARGS": [name]}}):
        browser = client("superuser")
        said = messages_of(browser.post(url("run"), {"name": name}, follow=True))
        [job_id] = queued()  # taken off the queue: its unique key is still held
        assert said == [f"Queued job {job_id} (tests.jobs.UniqueReport) for schedule entry "
                        f"'{name}' on queue default of connection memory."]
        said = messages_of(browser.post(url("run"), {"name": name}, follow=True))
        assert said[0].startswith(f"Not queued: '{name}' runs a unique job") and job_id in said[0]
        said = messages_of(browser.post(url("disable"), {"name": name}, follow=True))
        assert said[0].startswith(f"Disabled schedule entry '{name}'")
        said = messages_of(browser.post(url("enable"), {"name": name}, follow=True))
        assert said[0].startswith(f"Enabled schedule entry '{name}': next run ")
    entries = list(LogEntry.objects.order_by("id"))
    assert [entry.change_message.split(" ")[0] for entry in entries] == [
        "Queued", "Disabled", "Enabled"], "a duplicate run changed nothing: not logged"
    for entry in entries:
        assert entry.content_type == ContentType.objects.get_for_model(Schedule)
        assert (entry.object_id, entry.object_repr, entry.action_flag) == (name, name, CHANGE)
        assert entry.user.username == "superuser"


def test_an_unknown_name_is_reported_and_changes_nothing():
    name = fresh("nightly")
    with declared({name: {}}):
        response = client("superuser").post(url("disable"), {"name": name + "x"}, follow=True)
        assert service.status(name).enabled
    [said] = messages_of(response)
    assert said.startswith(f"Nothing was disabled: no schedule entry named '{name}x'.")
    assert f"Did you mean '{name}'?" in said
    assert not LogEntry.objects.exists()


def test_the_page_prints_every_column_escaped_in_the_current_time_zone():
    hostile = fresh('<b>"rep&ort"</b>')
    plain, gone = fresh("plain"), fresh("gone")
    down = {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
            "OPTIONS": {"URL": "redis://127.0.0.1:9/0"}}
    connections = {"memory": settings.JOBQUEUE["CONNECTIONS"]["memory"], "down": down}
    with declared({hostile: {"QUEUE": "<i>q</i>"}, plain: {"ENABLED": False},
                   gone: {"CONNECTION": "down"}}, CONNECTIONS=connections):
        job = service.run_now(hostile)
        ended(hostile, job.id, "failed", queue="<i>q</i>")
        with timezone.override(ZONE):
            page = client("superuser").get(url()).content.decode()
        status = service.status(hostile)
    assert "<b>" not in page and "<i>q</i>" not in page
    assert html.escape(hostile) in page and "&lt;i&gt;q&lt;/i&gt;" in page
    row = _row(page, hostile)
    when = f"{dt.datetime.fromtimestamp(status.last.fired_at, ZONE):%Y-%m-%d %H:%M:%S}"
    assert when in row and "run now" in row and job.id in row
    assert f'?q={job.id}">failed</a>' in row, "a failed outcome links to the failed job"
    assert "every 3600 s" in row and "Times are in Asia/Kathmandu" in page
    assert "Enable</button>" in _row(page, plain) and "set by an operator" not in page
    assert "did not answer: " in _row(page, gone)


def _row(page: str, name: str) -> str:
    match = re.search(rf'<tr [^>]*data-entry="{re.escape(html.escape(name))}">(.*?)</tr>',
                      page, re.S)
    assert match, name
    return match.group(1)


def test_the_admin_index_lists_the_page_and_its_log_entries():
    name = fresh()
    with declared({name: {}}):
        browser = client("superuser")
        browser.post(url("disable"), {"name": name})
        index = browser.get(reverse("admin:index"))
    page = index.content.decode()
    assert index.status_code == 200
    assert f'href="{url()}"' in page, "listed under Job queue"
    assert re.search(rf"Changed:</span>\s*{name}\s*<br>", page), (
        "in Recent actions, not linked: entries have no detail page")
    assert reverse("admin:django_jobqueue_schedule_changelist") + "add/" not in page


def test_breadcrumbs_lead_through_the_app():
    with declared({}):
        page = client("viewer").get(url()).content.decode()
    assert breadcrumbs(page) == "Home > Job queue > Schedules"
    assert "No schedule entries" in page


@pytest.mark.parametrize("store", STORES[:1], indirect=True)
def test_the_failed_jobs_changelist_links_the_page_for_who_may_see_it(store):
    link = f'<a href="{url()}">Schedules</a>'
    assert link in client_for("superuser").get(
        reverse("admin:django_jobqueue_failedjob_changelist")).content.decode()
    assert link not in client_for("view_only").get(
        reverse("admin:django_jobqueue_failedjob_changelist")).content.decode()
