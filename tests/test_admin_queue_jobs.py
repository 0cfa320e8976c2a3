"""A queue's jobs page (a page at a time, with progress), its "Cancel selected" and "Cancel
all of job class X" buttons, the job page and the Queues page's progress and job links:
who sees and may use what, what each button does (and logs) on the memory transport and
SQLite. The browser test (``test_admin_jobs_e2e``) checks the pages' layout."""

from __future__ import annotations

import html
import json
import re
import time
import uuid

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from django_jobqueue import failures, job_status
from django_jobqueue.admin import queue_jobs
from django_jobqueue.flow.names import FLOW_SCOPE, status_name
from django_jobqueue.models import QueueControl
from django_jobqueue.transports import CurrentJob, PushItem, WorkerInfo, get_transport
from tests.jobs import Noop, Record
from tests.support.admin import (
    LOCAL_CONNECTIONS,
    csrf_token,
    form_fields,
    messages_of,
    staff_client,
)
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.django_db(transaction=True, databases=["default"])
SCRIPT = "<script>alert(1)</script>"

# user kind: its permissions (None: not logged in; "superuser": all)
KINDS = {
    "anonymous": None,
    "viewer": ["view_failedjob"],
    "canceller": ["view_failedjob", "cancel_job"],
    "cancel_only": ["cancel_job"],
    "pauser": ["view_failedjob", "pause_queue"],
    "superuser": [],
}
CANCELLERS = {"canceller", "cancel_only", "superuser"}
VIEWERS = {"viewer", "canceller", "pauser", "superuser"}
CHECKBOX = re.compile(r'<input type="checkbox" name="job" value="([0-9a-f]{32})"')
BUTTONS = re.compile(r'class="button (jq-cancel-selected|jq-cancel-class|jq-cancel-one)"')
BOTH = pytest.mark.parametrize("connection", ["memory", "default"], ids=["memory", "sqlite"])


@pytest.fixture(autouse=True)
def local():
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="default"):
        yield


@pytest.fixture
def queue():
    """A queue of its own on every connection, emptied after the test."""
    name = f"q-{uuid.uuid4().hex[:8]}"
    yield name
    for connection in LOCAL_CONNECTIONS:
        get_transport(connection).clear(name)


def url(name: str) -> str:
    return reverse(f"admin:django_jobqueue_failedjob_{name}")


def jobs_page(connection: str, queue: str, page: int = 1) -> str:
    return queue_jobs.jobs_url(connection, queue, page)


def report(connection, job_id, done=3, total=4, message="rows imported"):
    """What a running job's ``set_progress`` writes."""
    value = json.dumps({"state": "running", "done": done, "total": total, "message": message,
                        "at": time.time(), "queue": "q"})
    get_transport(connection).coordination.write(FLOW_SCOPE, status_name(job_id), value,
                                                 ttl=60)


def seed(connection, queue):
    """Two running jobs (one reported progress), one prefetched, two queued (one a retry on
    its third attempt), one delayed: in the order the page lists them."""
    transport = get_transport(connection)
    running = [Record(n).dispatch(connection=connection, queue=queue) for n in (1, 2)]
    held = Noop().dispatch(connection=connection, queue=queue)
    transport.exchange([], [], [queue], 2, 1, 30, "w")
    ready = Record(3).dispatch(connection=connection, queue=queue)
    retry = uuid.uuid4().hex
    body = {"v": 1, "id": retry, "job": "tests.jobs.Record", "queue": queue,
            "dispatched_at": "2026-01-02T03:04:05+00:00", "data": {"args": [4], "kwargs": {}},
            "errors": [{"attempt": 2, "exception_class": "KeyError"}]}
    transport.push(PushItem(retry, queue, json.dumps(body)))
    later = Noop().dispatch(connection=connection, queue=queue, delay=300)
    report(connection, running[0].id)
    return {"running": [job.id for job in running], "held": held.id, "ready": ready.id,
            "retry": retry, "later": later.id}


def rows(page: str) -> dict[str, str]:
    """The jobs table's rows by job id."""
    return dict(re.findall(r'<tr data-job="([0-9a-f]{32})"[^>]*>(.*?)</tr>', page, re.S))


def logged() -> list[tuple[str, str, str]]:
    return [(e.user.username, e.object_id, e.change_message)
            for e in LogEntry.objects.order_by("id")]


# -- the jobs page --------------------------------------------------------------------------
@BOTH
def test_the_jobs_page_lists_states_attempts_dispatch_times_and_progress(connection, queue,
                                                                         monkeypatch):
    jobs = seed(connection, queue)
    reads = []
    coordination = get_transport(connection).coordination
    real_read = coordination.read
    monkeypatch.setattr(coordination, "read",
                        lambda scope, names: reads.append(list(names)) or real_read(scope, names))
    page = staff_client("viewer", KINDS["viewer"]).get(jobs_page(connection, queue))
    assert page.status_code == 200
    text = page.content.decode()
    listed = rows(text)
    order = [*jobs["running"], jobs["held"], jobs["ready"], jobs["retry"], jobs["later"]]
    assert set(list(listed)[:2]) == set(jobs["running"]), "the running ones, in any order"
    assert list(listed)[2:] == order[2:], "then in the order workers take them"
    assert [re.search(r'class="jq-state">(\w+)', row)[1] for row in listed.values()] == [
        "running", "running", "prefetched", "queued", "queued", "delayed"]
    assert re.search(r"due in 4m 5\ds", listed[jobs["later"]])
    attempts = {job_id: re.findall(r"<td>([-\d]+)</td>", row) for job_id, row in listed.items()}
    assert [attempts[job_id] for job_id in order] == [["1"], ["1"], ["0"], ["0"], ["2"], ["0"]]
    assert '<td class="jq-when">2026-01-02 03:04:05</td>' in listed[jobs["retry"]]
    assert re.search(r'<td class="jq-when">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>',
                     listed[jobs["ready"]])
    assert "tests.<wbr>jobs.<wbr>Noop" in listed[jobs["held"]]
    first, second = (listed[job_id] for job_id in jobs["running"])
    assert '<progress max="100" value="75">' in first and "3/4 75%" in first
    assert "rows imported" in first and "none reported" in second
    assert all("<progress" not in listed[job_id] for job_id in order[2:])
    # One read of the store for the progress of every running job of the page.
    assert [sorted(names) for names in reads] == [
        sorted(status_name(job_id) for job_id in jobs["running"])]
    assert f'<a href="{html.escape(queue_jobs.job_url(jobs["ready"], connection))}">' in text
    assert CHECKBOX.findall(text) == [] and BUTTONS.findall(text) == []


def test_the_jobs_page_goes_a_hundred_jobs_at_a_time(queue):
    transport = get_transport("memory")
    transport.push_many([PushItem(uuid.uuid4().hex, queue, "{}") for _ in range(150)])
    viewer = staff_client("superuser", [])
    first = viewer.get(jobs_page("memory", queue)).content.decode()
    second = viewer.get(jobs_page("memory", queue, 2)).content.decode()
    assert (len(rows(first)), len(rows(second))) == (100, 50)
    assert [job.id for job in transport.jobs(queue, 150)] == [*rows(first), *rows(second)]
    assert len(CHECKBOX.findall(first)) == 100
    assert "Jobs 1\u2013100 shown" in first and "Jobs 101\u2013150 shown" in second
    link = html.escape(jobs_page("memory", queue, 2))
    assert f'<a href="{link}" class="jq-next">' in first and "jq-previous" not in first
    assert f'<a href="{html.escape(jobs_page("memory", queue))}" class="jq-previous">' in second
    assert "jq-next" not in second
    third = viewer.get(jobs_page("memory", queue, 3)).content.decode()
    assert "No jobs on this page" in third
    assert "payload not readable" in first


def test_the_page_escapes_what_jobs_report_and_a_queue_name_of_any_kind(queue):
    hostile = f"{queue}/{SCRIPT} &x"
    job = Record(1).dispatch(connection="memory", queue=hostile)
    get_transport("memory").reserve([hostile], 1, 30, "w")
    report("memory", job.id, message=SCRIPT)
    text = staff_client("superuser", []).get(jobs_page("memory", hostile)).content.decode()
    assert SCRIPT not in text and html.escape(SCRIPT) in text
    assert list(rows(text)) == [job.id]
    assert f'name="queue" value="{html.escape(hostile)}"' in text
    get_transport("memory").clear(hostile)


def test_a_connection_that_cannot_be_asked_is_said_and_a_missing_name_refused():
    viewer = staff_client("viewer", KINDS["viewer"])
    page = viewer.get(jobs_page("nope", "emails")).content.decode()
    assert "Unknown jobqueue connection" in page and 'id="jq-jobs"' not in page
    assert viewer.get(url("queue_jobs"), {"connection": "default"}).status_code == 400


# -- who may do what ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_pages_need_view_and_the_buttons_cancel_job(kind, queue):
    waiting = [Record(n).dispatch(connection="default", queue=queue) for n in range(3)]
    browser = staff_client(kind, KINDS[kind])
    page = browser.get(jobs_page("default", queue))
    one = browser.get(url("job"), {"id": waiting[2].id})
    selected = browser.post(url("cancel_jobs"), {"connection": "default", "queue": queue,
                                                 "job": [waiting[0].id]})
    by_class = browser.post(url("cancel_job_class"), {
        "connection": "default", "queue": queue, "job_class": "tests.jobs.Record",
        "post": "yes", "upto": "1"})
    if kind == "anonymous":
        for response in (page, one, selected, by_class):
            assert "/admin/login/" in response["Location"]
    else:
        assert (page.status_code, one.status_code) == ((200, 200) if kind in VIEWERS else
                                                       (403, 403))
        expected = 302 if kind in CANCELLERS else 403
        assert (selected.status_code, by_class.status_code) == (expected, expected)
    if kind in VIEWERS:
        shown = page.content.decode() + one.content.decode()
        assert bool(CHECKBOX.findall(shown)) is (kind in CANCELLERS)
        assert set(BUTTONS.findall(shown)) == (
            {"jq-cancel-selected", "jq-cancel-class", "jq-cancel-one"}
            if kind in CANCELLERS else set())
    left = get_transport("default").size(queue).total
    assert left == (1 if kind in CANCELLERS else 3)
    assert len(logged()) == (2 if kind in CANCELLERS else 0)


def test_the_buttons_are_post_behind_csrf(queue):
    job = Record(1).dispatch(connection="default", queue=queue)
    browser = staff_client("superuser", [], enforce_csrf_checks=True)
    fields = {"connection": "default", "queue": queue, "job": [job.id]}
    assert browser.get(url("cancel_jobs")).status_code == 405
    assert browser.post(url("cancel_jobs"), fields).status_code == 403
    assert browser.post(url("cancel_job_class"), {**fields, "job_class": "tests.jobs.Record",
                                                  "post": "yes", "upto": "1"}).status_code == 403
    assert get_transport("default").size(queue).total == 1
    token = csrf_token(browser.get(jobs_page("default", queue)).content.decode())
    done = browser.post(url("cancel_jobs"), {**fields, "csrfmiddlewaretoken": token})
    assert done.status_code == 302 and get_transport("default").size(queue).total == 0


# -- cancel selected ------------------------------------------------------------------------
@BOTH
def test_cancel_selected_cancels_waiting_jobs_and_asks_running_ones_to_stop(connection, queue):
    jobs = seed(connection, queue)
    gone = uuid.uuid4().hex
    browser = staff_client("canceller", KINDS["canceller"])
    picked = [jobs["ready"], jobs["later"], jobs["running"][0], gone]
    response = browser.post(url("cancel_jobs"), {
        "connection": connection, "queue": queue, "job": picked,
        "next": jobs_page(connection, queue)}, follow=True)
    text = (f"Cancelled 2 waiting jobs of queue {queue} on connection {connection}; asked 1 "
            "running job to stop. 1 job was not found: it ended meanwhile.")
    assert messages_of(response) == [text]
    assert response.redirect_chain[-1][0] == jobs_page(connection, queue)
    left = rows(response.content.decode())
    assert jobs["ready"] not in left and jobs["later"] not in left and jobs["retry"] in left
    for job_id in (jobs["ready"], jobs["later"]):
        record = failures.get(job_id)
        assert (record.outcome, record.message) == (
            "cancelled", "cancelled by admin:canceller before it ran")
    running = job_status(jobs["running"][0], connection)
    assert (running.state, running.cancel_requested) == ("running", True)
    assert logged() == [("canceller", f"{connection}:{queue}", text)]
    entry = LogEntry.objects.get()
    assert entry.content_type == ContentType.objects.get_for_model(QueueControl)
    assert (entry.action_flag, entry.object_repr) == (CHANGE, f"{connection}:{queue}")


def test_a_cancel_that_changed_nothing_warns_and_logs_nothing(queue):
    browser = staff_client("canceller", KINDS["canceller"])
    target = {"connection": "default", "queue": queue}
    said = messages_of(browser.post(url("cancel_jobs"), target, follow=True))
    assert said == ["No job was selected: nothing was cancelled."]
    said = messages_of(browser.post(url("cancel_jobs"), {**target, "job": [uuid.uuid4().hex]},
                                    follow=True))
    assert said == [f"Cancelled 0 waiting jobs of queue {queue} on connection default; asked "
                    "0 running jobs to stop. 1 job was not found: it ended meanwhile."]
    elsewhere = Record(1).dispatch(connection="default", queue=f"{queue}-other")
    said = messages_of(browser.post(url("cancel_jobs"), {**target, "job": [elsewhere.id]},
                                    follow=True))
    assert said[0].endswith("1 job was not found: it ended meanwhile.")
    assert get_transport("default").size(f"{queue}-other").total == 1, "only from this queue"
    get_transport("default").clear(f"{queue}-other")
    said = messages_of(browser.post(url("cancel_jobs"), {"connection": "nope", "queue": queue,
                                                         "job": [elsewhere.id]}, follow=True))
    assert said[0].startswith("Cancelling stopped: Unknown jobqueue connection 'nope'")
    assert logged() == []


def test_next_goes_back_only_to_this_site(queue):
    job = Record(1).dispatch(connection="default", queue=queue)
    response = staff_client("superuser", []).post(url("cancel_jobs"), {
        "connection": "default", "queue": queue, "job": [job.id],
        "next": "https://evil.example/"})
    assert response["Location"] == jobs_page("default", queue)


# -- cancel by job class --------------------------------------------------------------------
@BOTH
def test_cancel_a_job_class_asks_first_then_cancels_what_it_counted(connection, queue):
    records = [Record(n).dispatch(connection=connection, queue=queue) for n in range(3)]
    others = [Noop().dispatch(connection=connection, queue=queue) for _ in range(2)]
    browser = staff_client("canceller", KINDS["canceller"])
    asked = browser.post(url("cancel_job_class"), {
        "connection": connection, "queue": queue, "job_class": "tests.jobs.Record"})
    page = asked.content.decode()
    assert asked.status_code == 200 and get_transport(connection).size(queue).total == 5
    assert re.search(r"<strong>3</strong> jobs will be cancelled: 3 waiting", page)
    assert "<code class=\"jq-wrap\">tests.jobs.Record</code>" in page
    assert f'href="{html.escape(jobs_page(connection, queue))}" class="button cancel-link"' in page
    fields = form_fields(page)
    assert fields["upto"] == ["3"] and fields["job_class"] == ["tests.jobs.Record"]
    # Two more are queued while the page is read: the confirmation cancels 3, no more.
    late = [Record(n).dispatch(connection=connection, queue=queue) for n in (8, 9)]
    done = browser.post(url("cancel_job_class"), fields, follow=True)
    text = (f"Cancelled 3 waiting jobs of job class tests.jobs.Record of queue {queue} on "
            f"connection {connection}; asked 0 running jobs to stop.")
    assert messages_of(done) == [text]
    assert done.redirect_chain[-1][0] == jobs_page(connection, queue)
    left = [job.id for job in get_transport(connection).jobs(queue, 10)]
    assert sorted(left) == sorted(job.id for job in others + late)
    assert all(failures.get(job.id).outcome == "cancelled" for job in records)
    assert logged() == [("canceller", f"{connection}:{queue}", text)]


def test_a_first_click_or_a_get_only_asks(queue):
    Record(1).dispatch(connection="default", queue=queue)
    browser = staff_client("canceller", KINDS["canceller"])
    fields = {"connection": "default", "queue": queue, "job_class": "tests.jobs.Record"}
    for response in (browser.get(url("cancel_job_class"), fields),
                     browser.post(url("cancel_job_class"), {**fields, "post": "yes"}),
                     browser.post(url("cancel_job_class"), {**fields, "upto": "1"})):
        assert response.status_code == 200 and b"will be cancelled" in response.content
    assert get_transport("default").size(queue).total == 1 and logged() == []
    said = messages_of(browser.post(url("cancel_job_class"), {**fields, "job_class": " "},
                                    follow=True))
    assert said == ["Name a job class: nothing was cancelled."]


# -- the job page ---------------------------------------------------------------------------
@BOTH
def test_the_job_page_tells_a_jobs_state_and_progress(connection, queue):
    jobs = seed(connection, queue)
    browser = staff_client("canceller", KINDS["canceller"])
    running = jobs["running"][0]
    dashed = str(uuid.UUID(running))
    page = browser.get(url("job"), {"id": dashed.upper()}).content.decode()
    assert '<strong class="jq-state">running</strong>' in page
    assert '<progress max="100" value="75">' in page and "rows imported" in page
    assert f'<a href="{html.escape(jobs_page(connection, queue))}">{queue}</a>' in page
    assert BUTTONS.findall(page) == ["jq-cancel-one"]
    later = browser.get(url("job"), {"id": jobs["later"], "connection": connection})
    assert re.search(r"<th scope=\"row\">Due in</th><td>4m 5\ds</td>", later.content.decode())
    # Cancelled from its page: it is a record now, linked.
    fields = form_fields(later.content.decode(), "jq-cancel-one")
    done = browser.post(url("cancel_jobs"), fields, follow=True)
    assert done.redirect_chain[-1][0] == queue_jobs.job_url(jobs["later"], connection)
    page = done.content.decode()
    record = failures.get(jobs["later"])
    assert '<strong class="jq-state">cancelled</strong>' in page
    assert f'<a href="{url("changelist")}{record.id}/change/" class="jq-record">' in page
    assert "cancelled by admin:canceller before it ran" in page
    assert BUTTONS.findall(page) == [], "nothing left to cancel"


def test_the_job_page_says_what_it_does_not_know():
    browser = staff_client("viewer", KINDS["viewer"])
    unknown = browser.get(url("job"), {"id": uuid.uuid4().hex}).content.decode()
    assert '<strong class="jq-state">unknown</strong>' in unknown
    assert "never dispatched" in unknown
    bad = browser.get(url("job"), {"id": SCRIPT}).content.decode()
    assert "is not a job id" in bad and SCRIPT not in bad and 'id="jq-job"' not in bad


# -- the Queues page ------------------------------------------------------------------------
def test_the_queues_page_links_queues_finds_jobs_and_shows_progress(queue, monkeypatch):
    now = time.time()
    job_ids = [uuid.uuid4().hex for _ in range(3)]
    report("default", job_ids[0], message=SCRIPT)
    report("default", job_ids[2], done=5, total=None, message="")
    transport = get_transport("default")
    for n, current in enumerate([job_ids[:2], job_ids[2:]]):
        transport.register_worker(WorkerInfo(
            name=f"w{n}", host="web", pid=n, connection="default", queues=(queue,),
            concurrency=2, started_at=now, current=tuple(
                CurrentJob(job_id, "tests.jobs.Record", now - 5) for job_id in current)), 30)
    Record(1).dispatch(connection="default", queue=queue)
    reads = []
    real_read = transport.coordination.read
    monkeypatch.setattr(transport.coordination, "read",
                        lambda scope, names: reads.append(list(names)) or real_read(scope, names))
    page = staff_client("viewer", KINDS["viewer"]).get(url("queues")).content.decode()
    workers = page.split('<table id="jq-workers">')[1]
    assert '<progress max="100" value="75">' in workers and "3/4 75%" in workers
    assert html.escape(SCRIPT) in workers and SCRIPT not in page
    assert '<span class="jq-counted">5/?</span>' in workers
    assert workers.count("<progress") == 1, "no bar without a total, nothing without a report"
    for job_id in job_ids:
        assert f'href="{html.escape(queue_jobs.job_url(job_id, "default"))}"' in workers
    # One read for every current job of the connection, however many workers.
    assert [names for names in reads if any(n.startswith("status:") for n in names)] == [
        [status_name(job_id) for job_id in job_ids]]
    link = html.escape(jobs_page("default", queue))
    assert f'<td><a href="{link}" class="jq-jobs"' in page
    assert f'action="{url("job")}"' in page and 'name="id"' in page
    for n in range(2):
        transport.unregister_worker(f"w{n}")


def test_progress_a_store_does_not_answer_leaves_the_jobs_listed(queue, monkeypatch, caplog):
    from django_jobqueue.exceptions import TransportError

    job = Record(1).dispatch(connection="default", queue=queue)
    transport = get_transport("default")
    transport.reserve([queue], 1, 30, "w")
    transport.register_worker(WorkerInfo(
        name="w", host="web", pid=1, connection="default", queues=(queue,), concurrency=1,
        started_at=time.time(), current=(CurrentJob(job.id, "tests.jobs.Record", time.time()),)),
        30)
    report("default", job.id)

    def down(scope, names):
        if any(name.startswith("status:") for name in names):
            raise TransportError("the store is down")
        return {}

    monkeypatch.setattr(transport.coordination, "read", down)
    browser = staff_client("viewer", KINDS["viewer"])
    page = browser.get(jobs_page("default", queue)).content.decode()
    assert list(rows(page)) == [job.id] and "<progress" not in page
    assert "Progress not shown: the store is down" in page
    queues = browser.get(url("queues")).content.decode()
    assert job.id in queues.split('<table id="jq-workers">')[1] and "<progress" not in queues
    events = [record.jobqueue_event for record in caplog.records
              if getattr(record, "jobqueue_event", "") == "progress_unavailable"]
    assert events == ["progress_unavailable"] * 2
    transport.unregister_worker("w")
