"""``python -m tests.chaos.mover BATCH``: move the Redis fallback into the table, one batch at
a time, printing ``moved N`` after each batch, until nothing is left (scenario 6 SIGKILLs it
halfway). Runs with ``tests.chaos.settings`` and the worker's JOBQUEUE overrides."""

from __future__ import annotations

import sys

import django

if __name__ == "__main__":
    django.setup()
    from django_jobqueue import failures

    batch = int(sys.argv[1])
    while moved := failures.move_fallback(batch=batch):
        print(f"moved {moved}", flush=True)
    print("done", flush=True)
