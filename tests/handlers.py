"""Exception and work-horse-killed handlers used by worker tests (they write to the ledger)."""

from __future__ import annotations

from tests.support import ledger


def first(job, exc_type, exc_value, tb):
    ledger.write("handler", name="first", exc=exc_type.__name__, attempt=job.attempt)


def stopper(job, exc_type, exc_value, tb):
    ledger.write("handler", name="stopper", exc=exc_type.__name__)
    return False


def never(job, exc_type, exc_value, tb):
    ledger.write("handler", name="never")


def killed(job, retpid, ret_val, rusage):
    ledger.write(
        "killed_handler", job=type(job).__name__, retpid=retpid, ret_val=ret_val,
        maxrss=rusage.ru_maxrss, attempt=job.attempt,
    )
