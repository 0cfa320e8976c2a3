"""Every admin action and button that deletes failed jobs asks first: a confirmation page
with the count and the scope, a Cancel link and Django's styled confirm button. A GET never
deletes; only the POST from that page (with its CSRF token and its fields) does, and it
deletes the rows the page counted, not rows recorded since."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.test import Client

from django_jobqueue import failures
from tests.support.admin import (
    LOCAL_CONNECTIONS,
    action_post,
    breadcrumbs,
    client_for,
    csrf_token,
    failed,
    form_fields,
    messages_of,
    url,
    user,
)
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.parametrize("store", STORES[:1], indirect=True)


@pytest.fixture
def local():
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="memory"):
        yield


def confirm(fields):
    """The fields of a confirmation page as sent by its confirm button."""
    return {**fields, "post": ["yes"]}


def group_of_three():
    return [failed(message=f"order {n} not found") for n in (1, 2, 3)]


def test_purge_group_button_asks_instead_of_deleting(store, local):
    same = group_of_three()
    other = failed(exc="KeyError")
    client = client_for("purge_only")
    fingerprint = same[0].fingerprint
    groups = client.get(url("groups")).content.decode()
    # The button is a link to the confirmation page, not a form that deletes.
    assert f'href="{url("purge_group", fingerprint)}"' in groups
    page = client.get(url("purge_group", fingerprint))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<strong>3</strong> failed jobs will be deleted" in html
    assert f"group <code>{fingerprint[:12]}" in html
    assert f'href="{url("groups")}#fp-{fingerprint}" class="button cancel-link"' in html
    # The old one-click form (a POST without the page's fields) only shows the page again.
    again = client.post(url("purge_group", fingerprint))
    assert again.status_code == 200 and "will be deleted" in again.content.decode()
    assert failures.count() == 4 and failures.get(other.pk)


def test_confirming_a_group_purge_deletes_exactly_the_rows_counted(store, local):
    same = group_of_three()
    client = client_for("purge_only")
    fingerprint = same[0].fingerprint
    fields = form_fields(client.get(url("purge_group", fingerprint)).content.decode())
    later = failed(message="order 4 not found")  # same group, recorded after the page
    assert later.fingerprint == fingerprint
    done = client.post(url("purge_group", fingerprint), confirm(fields), follow=True)
    assert messages_of(done) == [f"Purged 3 failed jobs (group {fingerprint[:12]})."]
    assert [row.pk for row in failures.table().filter()] == [later.pk]
    assert LogEntry.objects.get().action_flag == DELETION


def test_group_purge_confirmation_needs_csrf_and_permission(store, local):
    fingerprint = group_of_three()[0].fingerprint
    client = Client(enforce_csrf_checks=True)
    client.force_login(user("superuser"))
    html = client.get(url("purge_group", fingerprint)).content.decode()
    fields = confirm(form_fields(html))
    del fields["csrfmiddlewaretoken"]
    assert client.post(url("purge_group", fingerprint), fields).status_code == 403
    assert failures.count() == 3
    fields["csrfmiddlewaretoken"] = [csrf_token(html)]
    assert client.post(url("purge_group", fingerprint), fields).status_code == 302
    assert failures.count() == 0
    retrier = client_for("retry_only")
    assert retrier.get(url("purge_group", fingerprint)).status_code == 403


def test_delete_selected_across_deletes_what_was_counted_not_newer_rows(store, local):
    rows = [failed(queue="alpha") for _ in range(3)]
    client = client_for("superuser")
    page = client.post(url("changelist") + "?queue=alpha",
                       action_post("delete_selected", rows[0].pk, across=True, index="0"))
    html = page.content.decode()
    assert "<strong>3</strong> failed jobs will be deleted" in html
    assert "queue = alpha" in html  # the scope names the filter
    newer = failed(queue="alpha")
    done = client.post(url("changelist") + "?queue=alpha", confirm(form_fields(html)),
                       follow=True)
    assert messages_of(done) == [
        "Deleted 3 failed jobs (everything matching the filters)."]
    assert [row.pk for row in failures.table().filter()] == [newer.pk]


def test_purge_old_with_days_changed_but_not_recounted_asks_again(store, local):
    old, recent = failed(age_hours=40 * 24), failed(age_hours=2 * 24)
    client = client_for("purge_only")
    html = client.post(url("changelist"), action_post("purge_old", old.pk, recent.pk,
                                                      index="0")).content.decode()
    assert "<strong>1</strong> failed job will be deleted" in html
    changed = {**confirm(form_fields(html)), "days": ["1"]}  # edited, then "Yes" at once
    again = client.post(url("changelist"), changed)
    assert "<strong>2</strong> failed jobs will be deleted" in again.content.decode()
    assert failures.count() == 2
    done = client.post(url("changelist"), confirm(form_fields(again.content.decode())),
                       follow=True)
    assert messages_of(done) == ["Purged 2 failed jobs older than 1 days (2 selected)."]
    assert failures.count() == 0


def test_a_forged_confirmation_without_the_pages_fields_deletes_nothing(store, local):
    row = failed(age_hours=40 * 24)
    client = client_for("superuser")
    for action in ("delete_selected", "purge_old"):
        response = client.post(url("changelist"), action_post(action, row.pk, post="yes"))
        assert response.status_code == 200 and "will be deleted" in response.content.decode()
    assert failures.count() == 1


@pytest.mark.parametrize("action", ["delete_selected", "purge_old"])
def test_action_confirmations_look_like_djangos(store, local, action):
    row = failed(age_hours=40 * 24)
    client = client_for("superuser")
    html = client.post(url("changelist") + "?queue=default",
                       action_post(action, row.pk, index="0")).content.decode()
    assert "delete-confirmation" in html.split("<body", 1)[1].split(">", 1)[0]
    assert 'type="submit" value="Yes, I\u2019m sure"' in html
    cancel = f'href="{url("changelist")}?queue=default" class="button cancel-link"'
    assert cancel in html
    assert breadcrumbs(html).startswith("Home > Job queue > Failed jobs >")


def test_detail_delete_asks_then_deletes_only_that_row(store, local):
    row, other = failed(), failed()
    client = client_for("superuser")
    page = client.get(url("delete", row.pk))
    html = page.content.decode()
    assert page.status_code == 200 and failures.count() == 2
    assert breadcrumbs(html).startswith("Home > Job queue > Failed jobs >")
    assert 'class="button cancel-link"' in html
    client.post(url("delete", row.pk), {"post": "yes"})
    assert [r.pk for r in failures.table().filter()] == [other.pk]
    assert client_for("view_only").get(url("delete", other.pk)).status_code == 403
