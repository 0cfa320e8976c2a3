"""A job registry of the test's own: classes a test defines (say, with a ``schedule`` that a
system check must refuse) are gone when it ends, so no other test sees them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_jobqueue import jobs


@pytest.fixture
def own_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, type[jobs.Job]]]:
    registry = dict(jobs._registry)
    monkeypatch.setattr(jobs, "_registry", registry)
    yield registry
