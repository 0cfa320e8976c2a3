"""Changelist actions, search, filters and counts, on SQLite and MariaDB."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.test import Client
from django.utils import timezone

from django_jobqueue import failures, transports
from django_jobqueue.failures.estimates import count_estimate
from tests.support.admin import (
    LOCAL_CONNECTIONS,
    action_post,
    client_for,
    csrf_token,
    failed,
    form_fields,
    messages_of,
    url,
    user,
)
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue

TWO_STORES = STORES[:2]  # SQLite and MariaDB


@pytest.fixture
def local():
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="memory"):
        yield


def bulk(n, **options):
    """``n`` failed jobs inserted in one statement (the fallback mover's path)."""
    failures.table().record_many([make(**options) for _ in range(n)])


def confirmed(page):
    """What a confirmation page's "Yes, I'm sure" button posts."""
    return {**form_fields(page.content.decode()), "post": "yes"}


@pytest.mark.parametrize("store", TWO_STORES, indirect=True)
def test_changelist_columns_newest_first_and_no_full_count(store, local):
    old, new = failed(age_hours=5, message="first line\nsecond"), failed(exc="KeyError")
    client = client_for("superuser")
    response = client.get(url("changelist"))
    html = response.content.decode()
    assert html.index(f"/failedjob/{new.pk}/change/") < html.index(f"/failedjob/{old.pk}/change/")
    assert "RuntimeError: first line</span>" in html  # the rest of the message on hover
    assert "second" not in re.sub(r' title="[^"]*"', "", html)
    assert response.context["cl"].full_result_count is None  # no COUNT(*) of the whole table


@pytest.mark.parametrize("store", TWO_STORES, indirect=True)
def test_filters_and_search(store, local):
    a = failed(queue="alpha", exc="KeyError", job="tests.jobs.Record")
    b = failed(queue="beta", exc="ValueError", job="tests.jobs.Noop", age_hours=48)
    client = client_for("view_only")

    def ids(query):
        return {row.pk for row in client.get(url("changelist") + query).context["cl"].result_list}

    assert ids("?queue=alpha") == {a.pk}
    assert ids("?exception_class=ValueError") == {b.pk}
    assert ids("?job_class=tests.jobs.Noop") == {b.pk}
    assert ids("?connection=memory") == {a.pk, b.pk}
    since = timezone.localtime() - dt.timedelta(hours=1)
    assert ids(f"?failed_at__range__gte_0={since:%Y-%m-%d}&failed_at__range__gte_1="
               f"{since:%H:%M:%S}") == {a.pk}
    assert ids(f"?q={a.pk}") == {a.pk}
    assert ids(f"?q={b.uuid}") == {b.pk}
    assert ids("?q=tests.jobs.No") == {b.pk}
    assert ids("?q=Key") == {a.pk}
    assert ids("?q=jobs") == set()  # a prefix, not a substring: no '%jobs%' scan
    choices = client.get(url("changelist")).context["cl"].filter_specs[0].lookup_choices
    assert [value for value, _ in choices] == ["alpha", "beta"]


@pytest.mark.parametrize("store", TWO_STORES, indirect=True)
def test_retry_selected_pushes_reports_and_logs(store, local):
    rows = [failed(), failed()]
    keep = failed(job="tests.jobs.Gone")  # a class no longer registered: kept
    client = client_for("retry_only")
    response = client.post(url("changelist"), action_post(
        "retry_selected", *(r.pk for r in [*rows, keep]), index="0"), follow=True)
    assert "Retried 2 failed jobs (3 selected). 1 failed job kept" in messages_of(response)[0]
    assert failures.count() == 1 and failures.get(keep.pk)
    assert transports.get_transport("memory").size("default").ready == 2
    entry = LogEntry.objects.get()
    assert entry.action_flag == CHANGE and entry.user.username == "retry_only"


@pytest.mark.parametrize("store", TWO_STORES, indirect=True)
def test_purge_asks_days_shows_count_and_scope(store, local):
    old, recent = failed(age_hours=40 * 24), failed(age_hours=2 * 24)
    client = client_for("purge_only")
    ask = client.post(url("changelist"), action_post("purge_old", old.pk, recent.pk))
    html = ask.content.decode()
    assert ask.status_code == 200 and 'value="30"' in html
    assert "<strong>1</strong> failed job will be deleted" in html
    assert "2 selected</strong> failed jobs only" in html
    recount = client.post(url("changelist"), action_post("purge_old", old.pk, recent.pk,
                                                         days="1", recount="1"))
    assert "<strong>2</strong> failed jobs will be deleted" in recount.content.decode()
    assert failures.count() == 2  # asking deletes nothing
    with jobqueue(FAILED_RETENTION_DAYS=3):
        page = client.post(url("changelist"), action_post("purge_old", old.pk, recent.pk))
        done = client.post(url("changelist"), confirmed(page), follow=True)
    assert messages_of(done) == ["Purged 1 failed job older than 3 days (2 selected)."]
    assert [row.pk for row in failures.table().filter()] == [recent.pk]
    assert LogEntry.objects.get().action_flag == DELETION


@pytest.mark.parametrize("store", TWO_STORES, indirect=True)
def test_select_all_matching_acts_on_the_filter_in_batches(store, local):
    bulk(1100, queue="alpha", age_hours=50 * 24)
    bulk(3, queue="beta", age_hours=50 * 24)
    client = client_for("superuser")
    one = failures.table().filter(queue="alpha").first().pk
    ask = client.post(url("changelist") + "?queue=alpha",
                      action_post("purge_old", one, across=True))
    assert "every failed job matching the filters</strong> (queue = alpha)" in (
        ask.content.decode())
    assert "<strong>1100</strong> failed jobs will be deleted" in ask.content.decode()
    done = client.post(url("changelist") + "?queue=alpha", confirmed(ask), follow=True)
    assert messages_of(done) == [
        "Purged 1100 failed jobs older than 30 days (everything matching the filters)."]
    assert failures.count(queue="alpha") == 0 and failures.count(queue="beta") == 3


@pytest.mark.parametrize("store", TWO_STORES, indirect=True)
def test_delete_selected_confirms_with_a_count(store, local):
    rows = [failed(), failed(), failed()]
    client = client_for("superuser")
    ask = client.post(url("changelist"), action_post("delete_selected", rows[0].pk,
                                                     rows[1].pk, index="0"))
    assert "<strong>2</strong> failed jobs will be deleted" in ask.content.decode()
    done = client.post(url("changelist"), confirmed(ask), follow=True)
    assert messages_of(done) == ["Deleted 2 failed jobs (2 selected)."]
    assert [row.pk for row in failures.table().filter()] == [rows[2].pk]


@pytest.mark.parametrize("store", STORES[:1], indirect=True)
def test_csrf_is_enforced(store, local):
    row = failed()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user("superuser"))
    forged = client.post(url("changelist"), action_post("retry_selected", row.pk, index="0"))
    assert forged.status_code == 403
    assert client.post(url("retry", row.pk)).status_code == 403
    assert failures.count() == 1
    token = csrf_token(client.get(url("change", row.pk)).content.decode())
    done = client.post(url("retry", row.pk), {"csrfmiddlewaretoken": token})
    assert done.status_code == 302 and failures.count() == 0


@pytest.mark.parametrize("store", STORES[:1], indirect=True)
def test_get_never_runs_an_action(store, local):
    row = failed()
    client = client_for("superuser")
    assert client.get(url("retry", row.pk)).status_code == 405
    # The group purge's GET is its confirmation page, even with the page's fields in the URL.
    page = client.get(url("purge_group", row.fingerprint) + f"?post=yes&upto={row.pk}")
    assert page.status_code == 200 and "will be deleted" in page.content.decode()
    client.get(url("changelist") + f"?action=delete_selected&_selected_action={row.pk}")
    assert failures.count() == 1


@pytest.mark.parametrize("store", TWO_STORES, indirect=True)
def test_count_estimate_is_exact_when_small_and_capped_when_large(store):
    bulk(30)
    queryset = failures.table().filter()
    assert count_estimate(queryset) == 30
    assert count_estimate(queryset.filter(queue="none")) == 0
    # Above the exact limit: the table's statistics (MariaDB) or a capped count (SQLite).
    estimate = count_estimate(queryset, exact_limit=10)
    assert estimate >= 11
    assert count_estimate(queryset.filter(queue="default"), exact_limit=10) == 30
