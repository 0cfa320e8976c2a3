"""Fill ``queue_failed_jobs`` with many realistic rows, fast (for ``admin_at_scale.py``).

The spread is that of a real site: 500 kinds of failure (one fingerprint each, tied to one
of ~50 exception classes and ~200 job classes, each job class on one of 20 queues), picked
with a long tail (a few kinds make most failures), ``failed_at`` over 90 days and rising
with the id as it does in a real table, ~500-byte payloads and ~2 KB exception texts with
a traceback. Rows go in with ``LOAD DATA LOCAL INFILE`` in chunks (several times faster
than INSERTs), or multi-row INSERTs where the server refuses local files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

QUEUES = 20
JOB_CLASSES = 200
EXCEPTION_CLASSES = 50
KINDS = 500
DAYS = 90
CHUNK = 50_000
COLUMNS = ("connection", "queue", "payload", "exception", "failed_at", "uuid", "job_class",
           "exception_class", "message", "attempts", "errors", "worker", "exit_code",
           "term_signal", "max_rss_kb", "fingerprint")
NULL = "\\N"  # LOAD DATA's NULL


@dataclass(frozen=True)
class Kind:
    """One kind of failure: what every row of it shares."""

    fingerprint: str
    exception_class: str
    job_class: str
    queue: str
    message: str
    traceback: str  # already escaped for LOAD DATA


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def kinds(seed: int = 7) -> list[Kind]:
    rng = random.Random(seed)
    queues = [f"queue-{i:02d}" for i in range(QUEUES)]
    jobs = [f"shop.jobs.app{i % 12:02d}.Job{i:03d}" for i in range(JOB_CLASSES)]
    builtin = ["ValueError", "KeyError", "TimeoutError", "ConnectionError", "RuntimeError"]
    errors = builtin + [f"shop.errors.Error{i:02d}" for i in range(EXCEPTION_CLASSES - 5)]
    result = []
    for k in range(KINDS):
        job = jobs[rng.randrange(JOB_CLASSES)]
        exc = errors[k % EXCEPTION_CLASSES]
        frames = "".join(
            f'  File "/srv/shop/app{k % 12:02d}/module{f}.py", line {rng.randrange(10, 900)},'
            f" in step_{f}\n    result = handler_{f}(order, attempt=attempt, retry=False)\n"
            for f in range(16)  # ~2 KB, as a real Django traceback
        )
        message = f"order {{n}} failed in step {k % 16}: upstream answered 5{k % 100:02d}"
        text = f"Traceback (most recent call last):\n{frames}{exc}: "
        result.append(Kind(hashlib.sha1(f"kind-{k}".encode()).hexdigest(), exc, job,
                           queues[jobs.index(job) % QUEUES], message, _escape(text)))
    return result


def _line(kind: Kind, n: int, at: dt.datetime, uuid: str) -> str:
    message = kind.message.format(n=n)
    payload = json.dumps({
        "uuid": uuid, "job": kind.job_class, "queue": kind.queue, "attempts": 3,
        "args": [n, "customer@example.com"], "kwargs": {"note": "x" * 320, "amount": n % 997},
    })
    errors = json.dumps([{"attempt": a, "at": at.isoformat(), "exception_class":
                          kind.exception_class, "message": message} for a in (1, 2, 3)])
    fields = ("default", kind.queue, payload, kind.traceback + message,
              at.strftime("%Y-%m-%d %H:%M:%S.%f"), uuid, kind.job_class, kind.exception_class,
              message, "3", errors, f"web-{n % 4}.{1000 + n % 50}", NULL, NULL, NULL,
              kind.fingerprint)
    return "\t".join(fields) + "\n"


def lines(rows: int, now: dt.datetime, seed: int = 11) -> Iterator[str]:
    """``rows`` rows, oldest first, the newest a minute before ``now`` (naive UTC)."""
    rng = random.Random(seed)
    all_kinds = kinds()
    weights = [1 / (rank + 1) for rank in range(KINDS)]  # a long tail
    start = now - dt.timedelta(days=DAYS)
    step = (DAYS * 86400 - 60) / rows
    for n, kind in enumerate(rng.choices(all_kinds, weights, k=rows)):
        yield _line(kind, n, start + dt.timedelta(seconds=n * step), f"{rng.getrandbits(128):032x}")


def fill(cursor: object, rows: int, progress: Callable[[int], None]) -> float:
    """Insert ``rows`` rows through ``cursor`` (a DB-API cursor on MariaDB); seconds taken."""
    began = time.monotonic()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    chunk: list[str] = []
    done = 0
    for line in lines(rows, now):
        chunk.append(line)
        if len(chunk) == CHUNK:
            done += _load(cursor, chunk)
            chunk = []
            progress(done)
    if chunk:
        done += _load(cursor, chunk)
        progress(done)
    return time.monotonic() - began


def _load(cursor, chunk: list[str]) -> int:  # type: ignore[no-untyped-def]
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as out:
        out.writelines(chunk)
    try:
        cursor.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE queue_failed_jobs CHARACTER SET utf8mb4"
            f" ({', '.join(COLUMNS)})", [out.name])
    except Exception as exc:  # the server refuses local files: INSERT instead
        if "local" not in str(exc).lower() and "1148" not in str(exc):
            raise
        _insert(cursor, chunk)
    finally:
        os.unlink(out.name)
    cursor.execute("COMMIT")
    return len(chunk)


def _insert(cursor, chunk: list[str]) -> None:  # type: ignore[no-untyped-def]
    def value(field: str) -> str | None:
        if field == NULL:
            return None
        return field.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")

    rows = [[value(f) for f in line.rstrip("\n").split("\t")] for line in chunk]
    sql = (f"INSERT INTO queue_failed_jobs ({', '.join(COLUMNS)}) VALUES"
           f" ({', '.join(['%s'] * len(COLUMNS))})")
    for start in range(0, len(rows), 1000):  # mysqlclient makes these multi-row INSERTs
        cursor.executemany(sql, rows[start:start + 1000])
