"""A paginator that never counts a big table row by row."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from ..failures.estimates import count_estimate


class EstimatedCountPaginator(Paginator):
    """``count`` is exact up to 10,000 rows, an estimate above (see
    :func:`~django_jobqueue.failures.estimates.count_estimate`): the last pages of a huge
    changelist may be empty, which beats a multi-second ``COUNT(*)`` on every page load."""

    @cached_property
    def count(self) -> int:
        return count_estimate(self.object_list)
