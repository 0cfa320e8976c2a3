"""One way to print a time on every admin page: ``2026-12-06 14:03:27`` in the current time
zone. Django's default (``Dec. 6, 2026, 2 p.m.``) drops the seconds, which matter when
failures arrive in bursts, and differs between pages that format dates themselves and
pages that leave it to Django; every page here calls :func:`when` instead."""

from __future__ import annotations

import datetime as dt

from django.utils import dateformat, timezone

FORMAT = "Y-m-d H:i:s"
NONE = "-"


def when(value: dt.datetime | str | None) -> str:
    """``value`` (a datetime, or an ISO 8601 string as stored in the errors history) as
    ``FORMAT`` in the current time zone; text that is not a time is returned as it is."""
    if value is None or value == "":
        return NONE
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return dateformat.format(timezone.template_localtime(value), FORMAT)
