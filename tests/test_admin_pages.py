"""The detail page, the overview, fingerprint groups and queue pages of the admin: content,
escaping of user data, masking of secrets."""

from __future__ import annotations

import json
import re
import time

import pytest

from django_jobqueue import failures
from django_jobqueue.conf import REDIS_STORE
from django_jobqueue.masking import MASK
from django_jobqueue.transports import CurrentJob, WorkerInfo, get_transport
from tests.support.admin import LOCAL_CONNECTIONS, client_for, failed, form_fields, messages_of, url
from tests.support.commands import command
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue
from tests.support.waiting import wait_until

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
pytestmark = pytest.mark.parametrize("store", STORES[:1], indirect=True)


@pytest.fixture
def local():
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="memory"):
        yield


def charge_payload(**extra):
    return json.dumps({
        "v": 1, "id": "0" * 32, "job": "tests.jobs.Charge", "queue": "default",
        "connection": "memory", "errors": [],
        "data": {"args": ["4111111111111111", 10],
                 "kwargs": {"api_key": "k-123", "note": {"Authorization": "Bearer t"}}},
        **extra,
    })


def killed(previous_uuid):
    record = make(exc="django_jobqueue.exceptions.WorkHorseKilled", message="pid 41 killed")
    record.payload = json.dumps({**json.loads(record.payload), "retry_of": previous_uuid})
    record.exit_code, record.term_signal, record.max_rss_kb = -9, 9, 524288
    record.errors = [{"attempt": 1, "exception_class": "ValueError", "message": "first",
                      "at": "t1", "worker": "w1"}]
    return record


def test_detail_shows_everything_read_only(store, local):
    earlier = make()
    earlier_id = failures.record(earlier).id
    pk = failures.record(killed(earlier.uuid)).id
    row = failures.get(pk)
    html = client_for("view_only").get(url("change", pk)).content.decode()
    for expected in (
        "exit code -9, signal 9 (SIGKILL), max RSS 524288 KiB",
        f"retried from job {earlier.uuid} (<a href=\"{url('change', earlier_id)}\">"
        f"failed job #{earlier_id}</a>)",
        f"<code>{row.fingerprint}</code>", "1 failed jobs like this",
        "<td>ValueError</td><td>first</td><td>w1</td>",
        "django_jobqueue.exceptions.WorkHorseKilled: pid 41 killed",
        "&quot;retry_of&quot;",
    ):
        assert expected in html
    assert 'name="_save"' not in html and "Retry this job" not in html  # view-only
    assert "Raw payload" not in html


def test_script_in_payload_and_exception_is_escaped(store, local):
    record = make(exc=SCRIPT, message=SCRIPT, job=SCRIPT, queue=SCRIPT)
    record.payload = json.dumps({"v": 1, "job": SCRIPT, "data": {"args": [SCRIPT]}})
    record.errors = [{"attempt": 1, "exception_class": SCRIPT, "message": SCRIPT}]
    pk = failures.record(record).id
    client = client_for("superuser")
    pages = [client.get(url("change", pk)), client.get(url("changelist")),
             client.get(url("overview")), client.get(url("groups")),
             client.get(url("queues"))]
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200
        assert SCRIPT not in html
    assert ESCAPED in pages[0].content.decode()
    assert ESCAPED in pages[1].content.decode()
    assert ESCAPED in pages[2].content.decode()


def test_payload_secrets_are_masked_unless_raw_permission(store, local):
    pk = failures.record(make(payload=charge_payload())).id
    html = client_for("view_only").get(url("change", pk)).content.decode()
    assert "4111111111111111" not in html and "k-123" not in html and "Bearer t" not in html
    assert html.count(MASK) == 3
    assert "10" in html  # amount is not secret
    superuser = client_for("superuser")
    detail = superuser.get(url("change", pk)).content.decode()
    assert "Raw payload (unmasked)" in detail and "4111111111111111" not in detail
    raw = superuser.get(url("raw_payload", pk))
    assert raw["Content-Type"].startswith("text/plain") and b"4111111111111111" in raw.content


def test_failed_jobs_show_masks_too(store):
    pk = failures.record(make(payload=charge_payload())).id
    out, _ = command("failed_jobs", "show", str(pk))
    assert "4111111111111111" not in out and "k-123" not in out and MASK in out
    as_json, _ = command("failed_jobs", "show", str(pk), "--json")
    assert json.loads(as_json)["payload"]["data"]["args"] == [MASK, 10]


def test_detail_retry_button(store, local):
    row = failed()
    client = client_for("retry_only")
    assert "Retry this job" in client.get(url("change", row.pk)).content.decode()
    done = client.post(url("retry", row.pk), follow=True)
    message = next(str(m) for m in done.context["messages"])
    assert message.startswith(f"Retried failed job #{row.pk} as job ")
    assert failures.count() == 0


def test_overview_counts_and_charts(store, local):
    for age in (0, 0, 3, 24 * 5):
        failed(queue="emails", exc="KeyError", age_hours=age)
    failed(queue="bulk", job="tests.jobs.Noop", age_hours=24 * 40)  # outside 30 days
    client = client_for("view_only")
    html = client.get(url("overview")).content.decode()
    assert "Last 30 days: <strong>4</strong> failed jobs" in html
    assert html.count('class="jq-chart"') == 2 and html.count('class="bar"') == 24 + 30
    assert '<a href="/admin/django_jobqueue/failedjob/?queue=emails">emails</a></td><td>4' in html
    assert "bulk" not in html
    changelist = client.get(url("changelist")).content.decode()
    assert url("overview") in changelist and url("groups") in changelist


def test_groups_retry_and_purge_a_group(store, local):
    same = [failed(message=f"order {n} not found") for n in (1, 2, 3)]
    other = failed(exc="KeyError")
    client = client_for("superuser")
    html = client.get(url("groups")).content.decode()
    assert f'id="fp-{same[0].fingerprint}"' in html and "<td>3</td>" in html
    assert "Retry this group" in html and "Purge this group" in html
    assert "Retry this group" not in client_for("view_only").get(url("groups")).content.decode()
    done = client.post(url("retry_group", same[0].fingerprint), follow=True)
    assert [str(m) for m in done.context["messages"]] == [
        f"Retried 3 failed jobs (group {same[0].fingerprint[:12]})."]
    assert failures.count() == 1
    page = client.get(url("purge_group", other.fingerprint)).content.decode()
    client.post(url("purge_group", other.fingerprint), {**form_fields(page), "post": "yes"})
    assert failures.count() == 0


def test_queues_page(store, local):
    from tests.jobs import Record

    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="default"):
        Record(1).dispatch()
        transport = get_transport("default")
        wait_until(lambda: (transport.oldest_ready_age("default") or 0) >= 0.1, timeout=10)
        html = client_for("view_only").get(url("queues")).content.decode()
    assert re.search('<tr data-connection="default" data-queue="default"><td>default</td>'
                     '<td><a href="[^"]+" class="jq-jobs"[^>]*>default</a></td>', html), html
    assert re.search(r"<td>1</td><td>0</td><td>0</td><td>\d+\.\ds</td>", html), html
    assert "No live workers." in html


def test_queues_page_lists_live_workers_escaped(store, local):
    now = time.time()
    running = CurrentJob("c" * 32, SCRIPT, now - 75)
    info = WorkerInfo(name=SCRIPT, host="web<1>", pid=77, connection="default",
                      queues=("default", SCRIPT), concurrency=3, started_at=now - 3600,
                      jobs_processed=12, current=(running,))
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="default"):
        get_transport("default").register_worker(info, 30)
        html = client_for("view_only").get(url("queues")).content.decode()
    assert SCRIPT not in html and "web<1>" not in html
    row = html.split('<table id="jq-workers">')[1]
    for expected in (f"<td>default</td><td>{ESCAPED}</td><td>web&lt;1&gt;</td><td>77</td>",
                     f"<td>default, {ESCAPED}</td><td>3</td>", "s ago</td>", "<td>12</td>",
                     f"{ESCAPED} <a href=\"/admin/django_jobqueue/failedjob/queues/job/?id="
                     f"{'c' * 32}&amp;connection=default\"><code>{'c' * 32}</code></a> running "
                     "1m 1"):
        assert expected in row, row


def test_big_table_overview_and_groups_use_a_short_lived_copy(store, local, monkeypatch):
    from django_jobqueue.admin import summary

    # The table counts as big: numbers are computed once a TTL, and the page says when.
    monkeypatch.setattr(summary, "table_rows_estimate", lambda queryset: summary.LIVE_ROWS)
    summary.forget()
    try:
        first = failed(message="order 1 not found")
        client = client_for("superuser")
        assert "Last 30 days: <strong>1</strong>" in client.get(url("overview")).content.decode()
        assert "<td>1</td>" in client.get(url("groups")).content.decode()
        failed(message="order 2 not found")
        html = client.get(url("overview")).content.decode()
        assert "Last 30 days: <strong>1</strong>" in html and "Counted at" in html
        assert "<td>1</td>" in client.get(url("groups")).content.decode()
        page = client.get(url("purge_group", first.fingerprint)).content.decode()
        client.post(url("purge_group", first.fingerprint),  # forgets the copies
                    {**form_fields(page), "post": "yes"})
        assert "No failed jobs." in client.get(url("groups")).content.decode()
        monkeypatch.setattr(summary, "TTL", 0.0)
        assert "Last 30 days: <strong>0</strong>" in client.get(url("overview")).content.decode()
    finally:
        summary.forget()


def test_the_changelist_filters_by_the_fingerprint_prefix_shown(store, local):
    client = client_for("superuser")
    keyed = [failed(exc="KeyError", message="gone") for _ in range(2)]
    other = failed(exc="OSError", message="disk")
    changelist = url("changelist")
    page = client.get(changelist, {"fingerprint": keyed[0].fingerprint[:12]})
    assert page.status_code == 200
    shown = {row.pk for row in page.context["cl"].result_list}
    assert shown == {row.pk for row in keyed} and other.pk not in shown
    missing = client.get(changelist, {"fingerprint": "ffff"}, follow=True)
    assert list(missing.context["cl"].result_list) == []
    assert any("no failed job has a fingerprint starting with ffff" in m
               for m in messages_of(missing))


def test_a_store_without_a_table_leaves_the_pages_empty_and_says_where_failures_are(
        store, redis_client, local):
    with jobqueue(FAILED_STORE={"STORE": REDIS_STORE}):
        failures.record(make(queue="emails"))
        client = client_for("superuser")
        changelist = client.get(url("changelist"))
        assert changelist.status_code == 200
        [warning] = messages_of(changelist)
        assert "kept in the redis store" in warning and "manage.py failed_jobs" in warning
        assert "emails" not in changelist.content.decode().split("<tbody>")[-1]
        for page in ("overview", "groups"):
            assert client.get(url(page)).status_code == 200
