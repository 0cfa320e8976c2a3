"""What the tests share that is not a fixture: real servers (``servers``), waiting, settings
overrides, parameter lists, worker subprocesses, failure records, command runners, admin
clients, the headless browser and the ledger. Fixtures stay in ``tests/conftest.py`` and
use these modules."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
