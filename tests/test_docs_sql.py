"""The SQL of docs/failed-jobs.md and README.md, run on the database each block is for.

Convention (stated in docs/failed-jobs.md): every fenced ``sql`` block is preceded by a line
``<!-- sql: DIALECT ... -->`` naming where it runs (``mysql``, ``postgresql``, ``sqlite``),
or ``<!-- sql: none -->`` for a block that is only shown. Statements end with ``;`` and each
starts with a ``-- Title`` comment; the title says what the statement does, and
:data:`EXPECT` checks exactly that on a table holding known rows.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from django_jobqueue.models import FailedJob

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "docs" / "failed-jobs.md", ROOT / "README.md"]
ALIASES = {"mysql": "mysql", "postgresql": "postgres", "sqlite": "default"}
MARKER = re.compile(r"^<!-- sql: ([a-z ]+) -->$")


@dataclass(frozen=True)
class Statement:
    page: str
    dialect: str
    title: str
    sql: str


def statements(path: Path) -> list[Statement]:
    """Every runnable statement of ``path``; AssertionError for an unmarked ``sql`` block."""
    found: list[Statement] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if line.strip() != "```sql":
            continue
        previous = next((lines[i] for i in range(n - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.match(previous.strip())
        assert marker, f"{path.name}:{n + 1}: a sql block without a '<!-- sql: ... -->' line"
        end = lines.index("```", n + 1)
        dialects = marker[1].split()
        if dialects == ["none"]:
            continue
        assert set(dialects) <= set(ALIASES), f"{path.name}:{n + 1}: unknown {dialects}"
        for text in "\n".join(lines[n + 1:end]).split(";"):
            body = [row for row in text.strip().splitlines() if row.strip()]
            if not body:
                continue
            assert body[0].startswith("-- "), f"{path.name}:{n + 1}: untitled: {body[0]}"
            sql = "\n".join(row for row in body if not row.lstrip().startswith("--"))
            found += [Statement(path.name, d, body[0][3:].strip(), sql) for d in dialects]
    return found


ALL = [s for page in PAGES for s in statements(page)]


@dataclass
class Result:
    rows: list[tuple[Any, ...]]
    rowcount: int
    left: set[int]  # ids still in the table afterwards


class Table:
    """Known rows: (queue, exception class, age); the first has id 123, like the guide's."""

    ROWS = [("default", "ValueError", dt.timedelta(minutes=10)),
            ("default", "ValueError", dt.timedelta(hours=2)),
            ("emails", "KeyError", dt.timedelta(hours=3)),
            ("emails", "KeyError", dt.timedelta(days=10)),
            ("old-queue", "OSError", dt.timedelta(days=40))]

    def __init__(self, alias: str, extra: int = 0) -> None:
        now = timezone.now().replace(microsecond=0)
        rows = [self.row(queue, exc, now - age) for queue, exc, age in self.ROWS]
        # Old enough to sort after the first four, younger than the last.
        rows += [self.row("bulk", "ValueError", now - dt.timedelta(days=20, seconds=i))
                 for i in range(extra)]
        for n, row in enumerate(rows):  # explicit ids: PostgreSQL's sequence would hit 123
            row.pk = 123 if n == 0 else 2000 + n
        FailedJob.objects.using(alias).bulk_create(rows)
        self.rows = list(FailedJob.objects.using(alias).order_by("-failed_at"))
        self.first = next(row for row in self.rows if row.pk == 123)

    @staticmethod
    def row(queue: str, exc: str, failed_at: dt.datetime) -> FailedJob:
        job_id = uuid.uuid4().hex
        return FailedJob(
            uuid=job_id, connection="default", queue=queue, failed_at=failed_at,
            payload=f'{{"id": "{job_id}", "job": "shop.jobs.Send"}}',
            exception=f"{exc}: it broke\n\nTraceback ...", exception_class=exc,
            message="it broke", job_class="shop.jobs.Send", attempts=1, errors=[],
            worker="w", fingerprint=(exc.encode().hex() * 8)[:40])

    def since(self, span: dt.timedelta) -> list[FailedJob]:
        return [row for row in self.rows if row.failed_at >= timezone.now() - span]

    def count(self, field: str, rows: list[FailedJob] | None = None) -> dict[str, int]:
        return dict(Counter(getattr(row, field) for row in self.rows if rows is None
                            or row in rows))


def by_count(result: Result, table: Table) -> None:
    assert dict(result.rows) == table.count("exception_class")
    assert [n for _, n in result.rows] == sorted((n for _, n in result.rows), reverse=True)


def by_hour(result: Result, table: Table) -> None:
    recent = table.since(dt.timedelta(hours=24))
    hours = Counter(row.failed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:00") for row in recent)
    assert [(str(hour), n) for hour, n in result.rows] == sorted(hours.items())


def per_queue_days(result: Result, table: Table) -> None:
    days: dict[str, set[dt.date]] = {}
    for row in table.rows:
        days.setdefault(row.queue, set()).add(row.failed_at.astimezone(dt.UTC).date())
    expected = {q: (table.count("queue")[q], len(d)) for q, d in days.items()}
    assert {q: (total, n) for q, total, n in result.rows} == expected


def dashboard(result: Result, table: Table) -> None:
    week = table.since(dt.timedelta(days=7))
    assert {q: n for q, n, _, _ in result.rows} == table.count("queue", week)
    assert [n for _, n, _, _ in result.rows] == sorted((r[1] for r in result.rows), reverse=True)


def deleted(*queues_or_ages: str) -> Callable[[Result, Table], None]:
    def check(result: Result, table: Table) -> None:
        gone = {row.pk for row in table.rows if row.queue in queues_or_ages}
        assert result.rowcount == len(gone) and result.left == {r.pk for r in table.rows} - gone

    return check


def keep_newest(result: Result, table: Table) -> None:
    newest = {row.pk for row in table.rows[:1000]}
    assert len(table.rows) > 1000 and result.left == newest
    assert result.rowcount == len(table.rows) - 1000


EXPECT: dict[str, Callable[[Result, Table], None]] = {
    "View all failed jobs": lambda r, t: [row[0] for row in r.rows] == [x.pk for x in t.rows],
    "Failed jobs by queue": lambda r, t: dict(r.rows) == t.count("queue"),
    "Recent failures": lambda r, t: [row[0] for row in r.rows] == [
        x.pk for x in t.since(dt.timedelta(hours=1))],
    "View specific failure": lambda r, t: [row[:3] for row in r.rows] == [
        (123, "default", t.first.exception)],
    "View full payload": lambda r, t: r.rows == [(t.first.payload,)],
    "Most common failure reasons": by_count,
    "The guide's form still works: the exception text starts with the class": by_count,
    "Failures by hour": by_hour,
    "Failure rate by queue": per_queue_days,
    "Kinds of failure, largest first": lambda r, t: {fp: n for fp, _, n in r.rows} == (
        t.count("fingerprint")),
    "Failed jobs summary for dashboard": dashboard,
    "Delete failed jobs older than 30 days": deleted("old-queue"),
    "Delete all failed jobs from a specific queue": deleted("old-queue"),
    "Keep only the last 1000 failed jobs": keep_newest,
}


def test_every_page_marks_its_sql_and_every_dialect_is_covered():
    assert {s.page for s in ALL} == {p.name for p in PAGES}
    titles = {s.title for s in ALL}
    assert titles <= set(EXPECT), f"no expectation for {sorted(titles - set(EXPECT))}"
    for title in EXPECT.keys() & {s.title for s in ALL if s.page == "failed-jobs.md"}:
        assert {s.dialect for s in ALL if s.title == title} == set(ALIASES), title


@pytest.mark.django_db(databases=["default", "mysql", "postgres"])
@pytest.mark.parametrize("statement", ALL, ids=[f"{s.page}-{s.dialect}-{s.title[:40]}"
                                                 for s in ALL])
def test_statement_runs_and_does_what_its_title_says(statement):
    alias = ALIASES[statement.dialect]
    table = Table(alias, extra=1000 if "1000" in statement.title else 0)
    with connections[alias].cursor() as cursor:
        cursor.execute(statement.sql)
        rows = list(cursor.fetchall()) if cursor.description else []
        rowcount = cursor.rowcount
    left = set(FailedJob.objects.using(alias).values_list("pk", flat=True))
    check = EXPECT[statement.title]
    assert check(Result(rows, rowcount, left), table) in (None, True), (
        f"{statement.sql}\nreturned {rows[:10]} (rowcount {rowcount})")
