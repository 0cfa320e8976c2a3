"""A module that must never be imported by a worker: hostile payloads name it.

If anything imports it (a payload name resolved by import instead of through the registry),
it leaves a mark in the ledger, and the audit hook sees the import too.
"""

from tests.support import ledger

ledger.write("canary_imported")


class Evil:
    def __init__(self, *args, **kwargs):
        ledger.write("canary_called")

    def handle(self):
        ledger.write("canary_called")
