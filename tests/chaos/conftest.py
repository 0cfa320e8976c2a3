"""Fixtures of the chaos suite: ``chaos`` is a :class:`~tests.chaos.harness.Chaos` on the
parametrised connection (``indirect``), with its workers killed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import Chaos


@pytest.fixture
def chaos_factory(tmp_path: Path, redis_client: Any) -> Iterator[Any]:
    """For tests whose parameters are more than a connection: ``chaos_factory(name)``."""
    made: list[Chaos] = []

    def make(connection: str) -> Chaos:
        made.append(Chaos(connection, tmp_path))
        return made[-1]

    yield make
    for harness in made:
        harness.close()
        harness.transport.clear("chaos")


@pytest.fixture
def chaos(request: pytest.FixtureRequest, tmp_path: Path, redis_client: Any) -> Iterator[Chaos]:
    harness = Chaos(request.param, tmp_path)
    yield harness
    harness.close()
    harness.transport.clear("chaos")
