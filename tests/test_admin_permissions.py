"""Who may do what in the failed-job admin: one matrix of users by pages and actions, with
forged POSTs of actions a user may not run changing nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from django_jobqueue import failures
from tests.support.admin import LOCAL_CONNECTIONS, USERS, action_post, client_for, failed, url
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue

VIEWERS = {"view_only", "retry_only", "purge_only", "superuser"}
RETRIERS = {"retry_only", "superuser"}
PURGERS = {"purge_only", "superuser"}

# name: (method, url builder, data builder, who may, changes the table)
ENDPOINTS = {
    "changelist": ("get", lambda o: url("changelist"), None, VIEWERS, False),
    "detail": ("get", lambda o: url("change", o.pk), None, VIEWERS, False),
    "overview": ("get", lambda o: url("overview"), None, VIEWERS, False),
    "groups": ("get", lambda o: url("groups"), None, VIEWERS, False),
    "queues": ("get", lambda o: url("queues"), None, VIEWERS, False),
    "raw_payload": ("get", lambda o: url("raw_payload", o.pk), None, {"superuser"}, False),
    "action_retry": ("post", lambda o: url("changelist"),
                     lambda o: action_post("retry_selected", o.pk, index="0"), RETRIERS, True),
    # The POSTs of the confirmation pages' "Yes, I'm sure" (with the fields they carry).
    "action_purge": ("post", lambda o: url("changelist"),
                     lambda o: action_post("purge_old", o.pk, **confirmed(o, days=30)),
                     PURGERS, True),
    "action_delete": ("post", lambda o: url("changelist"),
                      lambda o: action_post("delete_selected", o.pk, **confirmed(o)),
                      {"superuser"}, True),
    "delete_page": ("get", lambda o: url("delete", o.pk), None, {"superuser"}, False),
    "delete": ("post", lambda o: url("delete", o.pk), lambda o: {"post": "yes"},
               {"superuser"}, True),
    "detail_retry": ("post", lambda o: url("retry", o.pk), lambda o: {}, RETRIERS, True),
    "group_retry": ("post", lambda o: url("retry_group", o.fingerprint), lambda o: {},
                    RETRIERS, True),
    "group_purge_page": ("get", lambda o: url("purge_group", o.fingerprint), None, PURGERS,
                         False),
    "group_purge": ("post", lambda o: url("purge_group", o.fingerprint),
                    lambda o: confirmed(o), PURGERS, True),
}


def confirmed(row, days=None):
    """A confirmation page's fields for a deletion of ``row`` (its id as the mark)."""
    fields = {"post": "yes", "upto": str(row.pk)}
    if days is not None:
        cutoff = timezone.now() - dt.timedelta(days=days)
        fields.update(days=str(days), counted_days=str(days), cutoff=cutoff.isoformat())
    return fields


@pytest.mark.parametrize("store", STORES[:1], indirect=True)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("kind", USERS)
def test_permission_matrix(store, kind, endpoint):
    method, make_url, make_data, allowed_users, mutates = ENDPOINTS[endpoint]
    row = failed(age_hours=40 * 24)  # older than the 30-day purge default
    client = client_for(kind)
    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="memory"):
        if method == "get":
            response = client.get(make_url(row))
        else:
            response = client.post(make_url(row), make_data(row))
    allowed = kind in allowed_users
    remaining = failures.count()

    if kind in ("anonymous", "non_staff"):
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    elif not allowed:
        # Pages and buttons refuse (403); the changelist ignores a forged action it does not
        # offer this user and shows the list again (200) or sends back to it (302).
        if endpoint.startswith("action_") and kind in VIEWERS:
            assert response.status_code in (200, 302)
        else:
            assert response.status_code == 403
    elif method == "get":
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert "/admin/login/" not in response["Location"]
    assert remaining == (0 if allowed and mutates else 1)
