"""Changelist filters whose choices are cheap to compute on a big table."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import failures
from ..failures.criteria import as_q, resolve_fingerprint
from ..failures.estimates import distinct_values
from ..failures.record import OUTCOMES
from . import source
from .display import breakable

CHOICES_LIMIT = 100


class ValuesFilter(admin.SimpleListFilter):
    """Exact match on an indexed column; the choices are its first ``CHOICES_LIMIT``
    distinct values, read from the column's index (a value past the cap still filters when
    given in the URL, e.g. from a link on the overview page)."""

    field: ClassVar[str] = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        # Class paths in a 240 px sidebar: wrap them at their dots.
        values = distinct_values(source.rows(), self.field, CHOICES_LIMIT)
        return [(value, breakable(value)) for value in values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value is not None else queryset


def values_filter(field: str, title: str) -> type[ValuesFilter]:
    """A :class:`ValuesFilter` on ``field`` with ``field`` as its URL parameter."""
    name = "".join(part.title() for part in field.split("_")) + "Filter"
    return type(name, (ValuesFilter,), {"field": field, "title": title, "parameter_name": field})


class ChosenFilter(admin.SimpleListFilter):
    """A filter reached by links from other pages, on values a table holds thousands of:
    it lists only the value chosen (its first 12 characters), so it is hidden until one
    is. A value that names nothing is said as a warning, and no row is shown."""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value[:12])] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        try:
            return self.narrow(queryset, value)
        except ValueError as exc:
            messages.warning(request, str(exc))
            return queryset.none()

    def narrow(self, queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
        """``queryset``'s rows of ``value``; ``ValueError`` saying why it names nothing."""
        raise NotImplementedError


class FingerprintFilter(ChosenFilter):
    """Reached from the groups page and the detail page."""

    title = "fingerprint"
    parameter_name = "fingerprint"

    def narrow(self, queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
        # The 12 digits shown on every page, or any unambiguous prefix, as in the commands,
        # resolved among the table's fingerprints: the rows this filter narrows.
        full = resolve_fingerprint(value, failures.table().fingerprints_starting)
        return queryset.filter(fingerprint=full)


class BatchFilter(ChosenFilter):
    """The records of one batch's jobs, reached from the batch page."""

    title = "batch"
    parameter_name = "batch"

    def narrow(self, queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
        return queryset.filter(as_q(batch=value.replace("-", "").lower()))


class OutcomeFilter(admin.SimpleListFilter):
    """Failed, or kept without failing: cancelled, expired (by exception class: the rows of
    one outcome besides "failed" are one index range)."""

    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(outcome, outcome) for outcome in OUTCOMES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value not in OUTCOMES:  # none chosen, or a made-up one in the URL: every row
            return queryset
        return queryset.filter(as_q(outcome=value))


class HeldChainFilter(admin.SimpleListFilter):
    """Chain steps that failed for good: each holds the steps after it, and retrying it
    resumes its chain."""

    title = "chains"
    parameter_name = "chain_held"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1", "failed steps holding the rest")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "1":
            return queryset
        return queryset.filter(as_q(chain_held=True, outcome="failed"))


def failed_at_filter() -> Any:
    """A date-time range filter on ``failed_at`` (django-admin-rangefilter), or Django's
    own date filter where that package is not installed."""
    try:
        from rangefilter.filters import DateTimeRangeFilterBuilder
    except ImportError:  # the "admin" extra is optional
        return "failed_at"
    return ("failed_at", DateTimeRangeFilterBuilder(title="failed at"))
