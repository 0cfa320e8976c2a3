"""Records kept for jobs that did not fail (cancelled, expired) in the failed-job admin: a
filter, a label, no fingerprint group, a line of their own on the overview; and they retry
like any record."""

from __future__ import annotations

import pytest

from django_jobqueue import failures, transports
from tests.support.admin import LOCAL_CONNECTIONS, client_for, failed, messages_of, url
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue

pytestmark = pytest.mark.parametrize("store", STORES[:1], indirect=True)
CANCELLED = "django_jobqueue.exceptions.JobCancelled"
EXPIRED = "django_jobqueue.exceptions.JobExpired"


@pytest.fixture
def local():
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="memory"):
        transports.get_transport("memory").clear("default")
        yield
        transports.get_transport("memory").clear("default")


@pytest.fixture
def three(store, local):
    """A failure, a cancelled job and an expired one."""
    return {"failed": failed(), "cancelled": failed(exc=CANCELLED, message="cancelled by "
                                                    "admin:alice before it ran"),
            "expired": failed(exc=EXPIRED, message="expired before it started")}


def test_the_list_labels_them_and_filters_by_outcome(three):
    client = client_for("view_only")
    html = client.get(url("changelist")).content.decode()
    assert html.count('class="jq-outcome jq-outcome-cancelled"') == 1
    assert html.count('class="jq-outcome jq-outcome-expired"') == 1
    assert "jq-outcome-failed" not in html and "?outcome=cancelled" in html
    for outcome in three:
        page = client.get(url("changelist"), {"outcome": outcome}).content.decode()
        shown = {name for name, other in three.items() if url("change", other.pk) in page}
        assert shown == {outcome}, outcome


def test_the_detail_page_says_it_did_not_fail_and_it_retries(three):
    client = client_for("retry_only")
    html = client.get(url("change", three["cancelled"].pk)).content.decode()
    assert "cancelled by an operator: it did not fail" in html
    assert "failed for good" in client.get(url("change", three["failed"].pk)).content.decode()
    done = client.post(url("retry", three["cancelled"].pk), follow=True)
    assert messages_of(done)[0].startswith(f"Retried failed job #{three['cancelled'].pk} as job")
    assert transports.get_transport("memory").size("default").ready == 1
    assert failures.count(outcome="cancelled") == 0


def test_no_group_and_a_line_of_their_own_on_the_overview(three):
    client = client_for("view_only")
    groups = client.get(url("groups")).content.decode()
    assert f'id="fp-{three["failed"].fingerprint}"' in groups
    assert three["cancelled"].fingerprint == three["expired"].fingerprint == ""
    overview = client.get(url("overview")).content.decode()
    assert "Last 30 days: <strong>3</strong>" in overview
    assert ('Of these, <a href="/admin/django_jobqueue/failedjob/?outcome=cancelled">1 '
            'cancelled</a> and <a href="/admin/django_jobqueue/failedjob/?outcome=expired">1 '
            'expired</a>: kept with the failed jobs, but they did not fail') in overview
    assert 'jq-outcome-cancelled">cancelled</span>' in overview  # in the by-class table
