"""Text and JSON views of failed jobs for the commands (no queries here)."""

from __future__ import annotations

import datetime as dt
import signal
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from ..failures import FailureRecord
from ..masking import masked_payload, masked_payload_text
from .cli import block, one_line, plural

FIELDS = ("uuid", "connection", "queue", "job_class", "exception_class", "message",
          "attempts", "failed_at", "worker", "fingerprint")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain left-aligned table (numbers right-aligned)."""
    cells = [[one_line(value) for value in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    # Counts line up on the right; "?" stands for a count that could not be read.
    numeric = [any(isinstance(row[i], int) for row in rows)
               and all(isinstance(row[i], int) or row[i] == "?" for row in rows)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])


def when(value: dt.datetime | None) -> str:
    """A timestamp in the current time zone, to the second."""
    if value is None:
        return "-"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def summary(item: FailureRecord) -> dict[str, Any]:
    """The list fields of a failed job, for ``--json``: ``id`` is what ``failed_jobs show``,
    ``failed_jobs forget`` and ``retry_failed_jobs`` take (the failed-job id where the
    store has row ids, else the job id) and ``store`` where it is kept."""
    data = {name: getattr(item, name) for name in FIELDS}
    data["id"] = item.id
    data["store"] = item.store
    return data


def list_rows(items: Sequence[FailureRecord]) -> str:
    """The ``failed_jobs`` table."""
    rows = [
        [item.id, item.store, when(item.failed_at), item.connection, item.queue,
         item.job_class, item.exception_class, item.attempts, one_line(item.message, 60)]
        for item in items
    ]
    return table(["ID", "Store", "Failed at", "Connection", "Queue", "Job", "Exception",
                  "Tries", "Message"], rows)


def death(item: Any) -> str | None:
    """How a killed work horse ended, or ``None`` if it was not killed."""
    if item.exit_code is None and item.term_signal is None and item.max_rss_kb is None:
        return None
    parts = []
    if item.exit_code is not None:
        parts.append(f"exit code {item.exit_code}")
    if item.term_signal is not None:
        try:
            name = signal.Signals(item.term_signal).name
        except ValueError:
            name = "unknown"
        parts.append(f"signal {item.term_signal} ({name})")
    if item.max_rss_kb is not None:
        parts.append(f"max RSS {item.max_rss_kb} KiB")
    return ", ".join(parts)


def details(item: FailureRecord, lineage: Sequence[Any], same: int) -> dict[str, Any]:
    """Everything about one failed job, for ``failed_jobs show --json``."""
    data = summary(item)
    masked = masked_payload(item.payload)
    data["payload"] = masked if masked is not None else masked_payload_text(item.payload)
    data.update(
        exception=item.exception, errors=item.errors, exit_code=item.exit_code,
        term_signal=item.term_signal, max_rss_kb=item.max_rss_kb,
        retry_of=[{"uuid": step.uuid, "failed_id": step.failed_id, "store": step.store}
                  for step in lineage],
        same_fingerprint=same,
    )
    return data


def show(item: FailureRecord, lineage: Sequence[Any], same: int) -> str:
    """Everything about one failed job, for a person."""
    title = (f"Failed job #{item.id}" if isinstance(item.id, int) else "Failed job"
             ) + f" ({item.store} store)"
    facts = [
        ("Job id", item.uuid), ("Job class", item.job_class),
        ("Connection", item.connection), ("Queue", item.queue),
        ("Failed at", when(item.failed_at)), ("Attempts", item.attempts),
        ("Worker", item.worker or "-"),
        ("Fingerprint", f"{item.fingerprint or '-'} (shared by {plural(same, 'failed job')})"),
    ]
    if (killed := death(item)) is not None:
        facts.append(("Work horse", killed))
    for step in lineage:
        where = (f"failed job #{step.failed_id}" if isinstance(step.failed_id, int)
                 else f"in the {step.store} store" if step.failed_id is not None
                 else "not known now: a store did not answer" if step.store == "unavailable"
                 else "no longer stored")
        facts.append(("Retry of", f"{step.uuid} ({where})"))
    width = max(len(label) for label, _ in facts) + 1
    lines = [title, *(f"  {(label + ':').ljust(width)} {one_line(value)}"
                      for label, value in facts)]
    lines += ["", "Exception:", indent(block(item.exception))]
    lines += ["", f"Errors of each attempt ({len(item.errors or [])}):"]
    for error in item.errors or []:
        lines.append(
            "  #{} {} {}: {} (worker {})".format(*(one_line(error.get(key, "-"), 200) for key in
                                                   ("attempt", "at", "exception_class",
                                                    "message", "worker"))))
    lines += ["", "Payload (secrets masked):", indent(block(masked_payload_text(item.payload)))]
    return "\n".join(lines)


def indent(text: str) -> str:
    return "\n".join("  " + line if line.strip() else "" for line in text.splitlines())


def stats(result: dict[str, Any], since: dt.datetime | None) -> str:
    """The ``failed_jobs_stats`` report."""
    scope = f"since {when(since)}" if since else "all time"
    lines = [f"Failed jobs ({scope}): {result['total']}"]
    fallback = result.get("fallback")
    lines.append(f"Waiting in the fallback store: {'unknown' if fallback is None else fallback}")
    for key, title in (("by_queue", "queue"), ("by_job_class", "job_class"),
                       ("by_exception_class", "exception_class")):
        lines += ["", f"By {title.replace('_', ' ')}:", indent(table(
            [title, "count", "days", "first", "last"],
            [[g[title], g["count"], g["days"], when(g["first"]), when(g["last"])]
             for g in result[key]]))]
    lines += ["", "Top fingerprints:", indent(table(
        ["fingerprint", "count", "last", "exception", "message"],
        [[g["fingerprint"][:12], g["count"], when(g["last"]), g["exception_class"],
          one_line(g["message"], 50)] for g in result["by_fingerprint"]]))]
    lines += ["", "Per hour (last 24 h):", indent(table(
        ["hour", "failures"],
        [[timezone.localtime(h["hour"]).strftime("%Y-%m-%d %H:00"), h["count"]]
         for h in result["by_hour"]]))]
    return "\n".join(lines)
