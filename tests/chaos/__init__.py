"""The reliability suite (issue 6): real workers, real servers, injected faults, a ledger.

Installed as the ``tests.chaos`` app only in the worker subprocesses (``tests.chaos.settings``),
so its ``jobs`` module is autodiscovered there; the test process imports it directly.
"""
