"""Users, failed jobs, requests and page parsing for the admin tests."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_jobqueue import failures
from tests.support.factories import make

# The queue page asks every shared connection for its sizes: only the test's own databases.
LOCAL_CONNECTIONS = {
    "default": {"TRANSPORT": "django_jobqueue.transports.database.DatabaseTransport",
                "OPTIONS": {"DATABASE": "default"}},
    "memory": {"TRANSPORT": "django_jobqueue.transports.memory.MemoryTransport"},
}

PERMS = {
    "anonymous": None,
    "non_staff": [],
    "staff_no_perms": [],
    "view_only": ["view_failedjob"],
    "retry_only": ["view_failedjob", "retry_failedjob"],
    "purge_only": ["view_failedjob", "purge_failedjob"],
    "superuser": [],
}
USERS = list(PERMS)


@contextlib.contextmanager
def workflows_on_default() -> Iterator[None]:
    """The test's own connections, jobs on SQLite (the database transport, its default
    queue empty before and after), failures recorded without the default exception
    handler: where the workflow admin tests run their chains and batches with
    ``testing.work(connection="default")``."""
    from django_jobqueue.transports import get_transport
    from tests.support.settings_overrides import jobqueue

    with jobqueue(CONNECTIONS=LOCAL_CONNECTIONS, DEFAULT_CONNECTION="default",
                  DEFAULT_EXCEPTION_HANDLER=False):
        get_transport("default").clear("default")
        yield
        get_transport("default").clear("default")


def user(kind: str, **extra: Any) -> User | None:
    """A user of ``kind`` (see ``PERMS``); ``None`` for anonymous."""
    if kind == "anonymous":
        return None
    account = User.objects.create_user(
        username=kind, password="pw", is_staff=kind != "non_staff",
        is_superuser=kind == "superuser", **extra)
    codes = PERMS[kind] or []
    account.user_permissions.set(Permission.objects.filter(
        content_type__app_label="django_jobqueue", codename__in=codes))
    return account


def client_for(kind: str, **options: Any) -> Client:
    client = Client(**options)
    account = user(kind)
    if account is not None:
        client.force_login(account)
    return client


def staff_client(kind: str, codenames: list[str] | None, **options: Any) -> Client:
    """A browser logged in as staff user ``kind`` with ``codenames`` (app permissions),
    a superuser when ``kind`` is ``"superuser"``; not logged in when ``codenames`` is None."""
    browser = Client(**options)
    if codenames is None:
        return browser
    account = User.objects.create_user(username=kind, password="pw", is_staff=True,
                                       is_superuser=kind == "superuser")
    account.user_permissions.set(Permission.objects.filter(
        content_type__app_label="django_jobqueue", codename__in=codenames))
    browser.force_login(account)
    return browser


def failed(**options: Any) -> Any:
    """A failed-job row recorded through the service (``tests.support.factories.make`` options):
    the model instance the admin shows."""
    return failures.table().queryset().get(pk=failures.record(make(**options)).id)


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:django_jobqueue_failedjob_{name}", args=args)


def action_post(action: str, *pks: int, across: bool = False, **extra: Any) -> dict[str, Any]:
    """The POST of a changelist action (as sent from a confirmation page: no ``index``)."""
    return {"action": action, "_selected_action": [str(pk) for pk in pks],
            "select_across": "1" if across else "0", **extra}


def messages_of(response: Any) -> list[str]:
    """The messages a (followed) admin response shows."""
    return [str(m) for m in response.context["messages"]] if response.context else []


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


class _FormFields(HTMLParser):
    """The named ``<input>`` values of one form (``form_id``), as a browser would post them
    when its hidden fields are sent (submit buttons and checkboxes left out)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.inside = found.get("id") == self.form_id
        elif (tag == "input" and self.inside and found.get("name")
              and found.get("type") not in ("submit", "checkbox")):
            self.fields.setdefault(found["name"], []).append(found.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def form_fields(html: str, form_id: str = "jq-confirm") -> dict[str, list[str]]:
    """What the confirmation page's form posts (its hidden and text inputs), for ``Client.post``."""
    parser = _FormFields(form_id)
    parser.feed(html)
    assert parser.fields, f"no form #{form_id} with inputs in the page"
    return parser.fields


def breadcrumbs(html: str) -> str:
    """The breadcrumbs' text, tags stripped, spaces collapsed and each separator as ">":
    a ``<div>`` with ``&rsaquo;`` (Django 5.2, and this app's pages) or an ``<ol>`` of
    ``<li>`` (Django 6's own pages)."""
    match = re.search(r'<(div|ol) class="breadcrumbs">(.*?)</\1>', html, re.S)
    assert match, "no breadcrumbs"
    crumbs = match.group(2).replace("</li>", " &rsaquo; ") if match.group(1) == "ol" else (
        match.group(2))
    text = re.sub(r"<[^>]+>", " ", crumbs).replace("&rsaquo;", ">").replace("\u203a", ">")
    return " ".join(text.split()).rstrip(" >")
