"""The ``tests.chaos`` app of the worker subprocesses (``tests.chaos.settings``)."""

from __future__ import annotations

import os

from django.apps import AppConfig


class ChaosConfig(AppConfig):
    name = "tests.chaos"
    label = "chaos"

    def ready(self) -> None:
        # Only where a ledger is kept (every chaos worker): the slot lines go there.
        if os.environ.get("JQ_LEDGER"):
            from tests.chaos import slots

            slots.install()
