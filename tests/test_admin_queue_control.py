"""The Queues page's Pause and Resume buttons: who sees and may use them, what each does (and
logs), and how the page shows a paused queue. The browser test (``test_admin_e2e``) checks
the page's layout with a paused queue."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
import zoneinfo

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from django_jobqueue import dispatch
from django_jobqueue.flow.pause import pause_queue, paused
from django_jobqueue.models import QueueControl
from tests import jobs
from tests.support.admin import LOCAL_CONNECTIONS, csrf_token, messages_of, staff_client
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True, databases=["default"])
ZONE = zoneinfo.ZoneInfo("Asia/Kathmandu")  # UTC+05:45: a wrong zone cannot pass by luck
EFFECT = "Workers take no new jobs from it; running jobs finish."

# user kind: its permissions (None: not logged in; "superuser": all)
KINDS = {
    "anonymous": None,
    "staff_no_perms": [],
    "viewer": ["view_failedjob"],
    "pauser": ["view_failedjob", "pause_queue"],
    "pause_only": ["pause_queue"],
    "superuser": [],
}
PAUSERS = {"pauser", "pause_only", "superuser"}
BUTTON = re.compile(r'<button type="submit" class="button jq-(pause|resume)">')


@pytest.fixture(autouse=True)
def local():
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="default"):
        yield


def url(name: str) -> str:
    return reverse(f"admin:django_jobqueue_failedjob_{name}")


def fresh(stem: str = "q") -> str:
    """A queue of its own with a job in it, so that the page lists it."""
    queue = f"{stem}-{uuid.uuid4().hex[:8]}"
    dispatch(jobs.Record(1), connection="default", queue=queue)
    return queue


def target(queue: str, connection: str = "default") -> dict[str, str]:
    return {"connection": connection, "queue": queue}


def logged() -> list[tuple[str, str, str, int]]:
    return [(e.user.username, e.object_id, e.change_message, e.action_flag)
            for e in LogEntry.objects.order_by("id")]


def row(page: str, queue: str) -> str:
    match = re.search(rf'<tr data-connection="default" data-queue="{re.escape(queue)}">'
                      r"(.*?)</tr>", page, re.S)
    assert match, queue
    return match.group(1)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_buttons_need_the_pause_permission(kind):
    queue = fresh()
    browser = staff_client(kind, KINDS[kind])
    response = browser.post(url("pause_queue"), target(queue))
    if kind == "anonymous":
        assert "/admin/login/" in response["Location"]
    elif kind in PAUSERS:
        assert (response.status_code, response["Location"]) == (302, url("queues"))
    else:
        assert response.status_code == 403
    assert bool(paused("default", [queue])) is (kind in PAUSERS)
    pause_queue(queue, "default")
    response = browser.post(url("resume_queue"), target(queue))
    assert (response.status_code == 302) is (kind in PAUSERS or kind == "anonymous")
    assert bool(paused("default", [queue])) is (kind not in PAUSERS)
    assert len(logged()) == (2 if kind in PAUSERS else 0)


@pytest.mark.parametrize(("kind", "shown"), [
    ("viewer", False), ("pauser", True), ("superuser", True)])
def test_only_who_may_pause_sees_the_buttons(kind, shown):
    queue = fresh()
    pause_queue(queue, "default")
    page = staff_client(kind, KINDS[kind]).get(url("queues")).content.decode()
    assert set(BUTTON.findall(page)) == ({"pause", "resume"} if shown else set())
    assert BUTTON.findall(row(page, queue)) == (["resume"] if shown else [])
    assert BUTTON.findall(row(page, "default")) == (["pause"] if shown else [])
    assert "paused" in row(page, queue), "everyone who sees the page sees the pause"


def test_the_page_needs_the_view_permission_as_before():
    assert staff_client("pause_only", KINDS["pause_only"]).get(url("queues")).status_code == 403
    assert staff_client("viewer", KINDS["viewer"]).get(url("queues")).status_code == 200


def test_buttons_are_post_only_behind_csrf():
    queue = fresh()
    browser = staff_client("superuser", [], enforce_csrf_checks=True)
    assert browser.get(url("pause_queue")).status_code == 405
    assert browser.post(url("pause_queue"), target(queue)).status_code == 403
    assert paused("default", [queue]) == {}
    token = csrf_token(browser.get(url("queues")).content.decode())
    ok = browser.post(url("pause_queue"), {**target(queue), "csrfmiddlewaretoken": token})
    assert ok.status_code == 302 and paused("default", [queue])


def test_each_button_reports_and_logs_what_it_did():
    queue = fresh()
    browser = staff_client("pauser", KINDS["pauser"])
    said = messages_of(browser.post(url("pause_queue"), target(queue), follow=True))
    assert said == [f"Paused queue '{queue}' on connection 'default'. {EFFECT}"]
    [pause] = paused("default", [queue]).values()
    assert pause.by == "admin:pauser"
    said = messages_of(browser.post(url("pause_queue"), target(queue), follow=True))
    assert said[0].startswith(f"Queue '{queue}' on connection 'default' was paused already")
    assert "by admin:pauser" in said[0]
    said = messages_of(browser.post(url("resume_queue"), target(queue), follow=True))
    assert said == [f"Resumed queue '{queue}' on connection 'default': workers take jobs "
                    "from it again."]
    said = messages_of(browser.post(url("resume_queue"), target(queue), follow=True))
    assert said == [f"Queue '{queue}' on connection 'default' was not paused: nothing changed."]
    assert [(user, obj, text.split(" ")[0], flag) for user, obj, text, flag in logged()] == [
        ("pauser", f"default:{queue}", "Paused", CHANGE),
        ("pauser", f"default:{queue}", "Resumed", CHANGE)], "what changed nothing: not logged"
    for entry in LogEntry.objects.all():
        assert entry.content_type == ContentType.objects.get_for_model(QueueControl)
        assert entry.object_repr == f"default:{queue}"


def test_an_unknown_connection_is_reported_and_a_missing_field_refused():
    browser = staff_client("superuser", [])
    response = browser.post(url("pause_queue"), target("emails", "nope"), follow=True)
    [said] = messages_of(response)
    assert said.startswith("Nothing was paused: Unknown jobqueue connection 'nope'")
    assert browser.post(url("pause_queue"), {"queue": "emails"}).status_code == 400
    assert browser.post(url("resume_queue"), {"connection": "default"}).status_code == 400
    assert paused("default", ["emails"]) == {} and logged() == []


def test_the_page_shows_the_pause_escaped_in_the_current_time_zone():
    hostile = fresh('<b>"q&1"</b>')
    pause = pause_queue(hostile, "default", by="admin:<i>eve</i>")
    with timezone.override(ZONE):
        page = staff_client("pauser", KINDS["pauser"]).get(url("queues")).content.decode()
    assert "<b>" not in page and "<i>" not in page
    cells = row(page, html.escape(hostile))
    when = f"{dt.datetime.fromtimestamp(pause.paused_at, ZONE):%Y-%m-%d %H:%M:%S}"
    assert f'<span class="jq-when">{when}</span>' in cells
    assert "by admin:&lt;i&gt;eve&lt;/i&gt;" in cells
    assert f'name="queue" value="{html.escape(hostile)}"' in cells
    assert ">no</td>" in row(page, "default"), "a queue that is not paused says so"


def test_a_pause_that_cannot_be_read_shows_as_a_pause_of_unknown_time():
    from django_jobqueue.flow.names import FLOW_SCOPE
    from django_jobqueue.transports import get_transport

    queue = fresh()
    get_transport("default").coordination.write(FLOW_SCOPE, f"paused:{queue}", "garbage")
    page = staff_client("pauser", KINDS["pauser"]).get(url("queues")).content.decode()
    cells = row(page, queue)
    assert "since an unknown time" in cells and BUTTON.findall(cells) == ["resume"]
