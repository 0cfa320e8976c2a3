"""The failed-job admin and prune at a million rows on MariaDB (issue: "< 300 ms at p95").

    .venv/bin/python bench/admin_at_scale.py                 # 1,000,000 rows, 30 requests a page
    .venv/bin/python bench/admin_at_scale.py --rows 200000 --requests 10 --json out.jsonl
    .venv/bin/python bench/admin_at_scale.py --prune          # then time prune_failed_jobs --all
    make bench-admin BENCH_ARGS="--prune --refill"

What it does, in order:

1. Starts (or reuses) the test servers (``tests.support.servers``) and uses a MariaDB
   database of its own, ``jobqueue_bench`` (``JQ_BENCH_DATABASE``; created and migrated if
   missing), through ``bench/settings.py``: ``default`` and ``FAILED_DATABASE`` both point
   at it.
2. Fills ``queue_failed_jobs`` with ``--rows`` rows (``bench/failed_rows.py``: 20 queues,
   200 job classes, 50 exception classes, 500 fingerprints, 90 days, ~500-byte payloads,
   ~2 KB tracebacks). A table that already has exactly that many rows is reused, so reruns
   start at once; ``--refill`` empties and fills it again.
3. Logs a superuser in with Django's test ``Client`` (the real admin URLs, middleware and
   templates) and requests each page ``--warmups`` times unmeasured, then ``--requests``
   times: p50, p95 and max per page, the number of SQL queries, any ``COUNT(*)`` over the
   whole table, and, for a page over the budget (300 ms at p95), its slowest query with
   MariaDB's ``EXPLAIN``.
4. With ``--prune``: runs ``prune_failed_jobs --all`` over the whole table and reports the
   longest single statement (the issue's limit: 1 s); ``--refill-after`` fills it again.

Results are printed as a table and, with ``--json FILE``, appended as JSON lines (one per
page, ``label`` from ``--label``). Every measurement has a deadline: a page stops being
requested after ``--page-deadline`` seconds, each SQL statement is killed by MariaDB after
``JQ_BENCH_STATEMENT_DEADLINE`` seconds (60), and the prune stops after
``--prune-deadline`` seconds. Not part of pytest: it takes minutes and a few GB of disk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

BUDGET_MS = 300.0
STATEMENT_BUDGET_S = 1.0
ADMIN = "/admin/django_jobqueue/failedjob/"
# A COUNT(*) over the whole table: no WHERE, and no LIMITed subquery that bounds it.
_FULL_COUNT = re.compile(r"COUNT\(\*\)", re.IGNORECASE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--refill", action="store_true", help="empty and fill the table")
    parser.add_argument("--requests", type=int, default=30, help="measured requests a page")
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--pages", default="", help="comma-separated page names (default all)")
    parser.add_argument("--page-deadline", type=float, default=120.0, metavar="S")
    parser.add_argument("--prune", action="store_true", help="time prune_failed_jobs --all")
    parser.add_argument("--prune-deadline", type=float, default=1800.0, metavar="S")
    parser.add_argument("--refill-after", action="store_true", help="refill after --prune")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--label", default="", help="stored with each JSON line")
    return parser.parse_args(argv)


def setup_database() -> None:
    """Create the bench database if missing (as the test user), then ``django.setup()``
    and migrate it."""
    import MySQLdb

    from bench import settings

    server = settings.SERVERS
    conn = MySQLdb.connect(host=server["MYSQL_HOST"], port=int(server["MYSQL_PORT"]),
                           user=server["MYSQL_USER"], password=server["MYSQL_PASSWORD"])
    try:
        conn.cursor().execute(
            f"CREATE DATABASE IF NOT EXISTS `{settings.BENCH_DATABASE}`"
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ensure_rows(rows: int, refill: bool) -> None:
    from django.db import connection

    from bench import failed_rows

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM queue_failed_jobs")
        have = cursor.fetchone()[0]
        if have == rows and not refill:
            print(f"reusing queue_failed_jobs: {have:,} rows")
            return
        cursor.execute("TRUNCATE TABLE queue_failed_jobs")
        print(f"filling queue_failed_jobs with {rows:,} rows ...", flush=True)
        seconds = failed_rows.fill(
            cursor, rows, lambda n: print(f"  {n:,} rows", flush=True))
        cursor.execute("ANALYZE TABLE queue_failed_jobs")  # fresh statistics for the planner
        cursor.fetchall()
    print(f"filled {rows:,} rows in {seconds:.0f} s ({rows / seconds:,.0f} rows/s)")


def sample_values() -> dict[str, Any]:
    """Values to filter and look up by, taken from a row in the middle of the table."""
    from django_jobqueue.models import FailedJob

    middle = FailedJob.objects.order_by("pk").values_list("pk", flat=True)
    last = middle.last() or 0
    row = FailedJob.objects.filter(pk__gte=last // 2).order_by("pk").first()
    if row is None:
        raise SystemExit("queue_failed_jobs is empty: run with --refill")
    return {"id": row.pk, "uuid": row.uuid, "queue": row.queue, "job_class": row.job_class,
            "exception_class": row.exception_class}


def pages(sample: dict[str, Any]) -> dict[str, str]:
    """Page name -> URL, as the issue lists them."""
    import datetime as dt

    from django.utils import timezone
    from django.utils.http import urlencode

    now = timezone.now()
    since, until = now - dt.timedelta(days=14), now - dt.timedelta(days=7)
    week = urlencode({"failed_at__range__gte_0": f"{since:%Y-%m-%d}",
                      "failed_at__range__gte_1": "00:00:00",
                      "failed_at__range__lte_0": f"{until:%Y-%m-%d}",
                      "failed_at__range__lte_1": "23:59:59"})
    return {
        "changelist": ADMIN,
        "by queue": f"{ADMIN}?{urlencode({'queue': sample['queue']})}",
        "by exception class":
            f"{ADMIN}?{urlencode({'exception_class': sample['exception_class']})}",
        "by job class": f"{ADMIN}?{urlencode({'job_class': sample['job_class']})}",
        "by failed_at (7 days)": f"{ADMIN}?{week}",
        "search uuid": f"{ADMIN}?{urlencode({'q': sample['uuid']})}",
        "page 50": f"{ADMIN}?p=50",
        "detail": f"{ADMIN}{sample['id']}/change/",
        "overview": f"{ADMIN}overview/",
        "groups": f"{ADMIN}groups/",
        "queues": f"{ADMIN}queues/",
    }


def logged_in_client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    users = get_user_model()
    if not users.objects.filter(username="bench").exists():
        users.objects.create_superuser("bench", "bench@example.com", "bench-password")
    # A page whose query hits the statement deadline counts as a 500, not a crashed bench.
    client = Client(raise_request_exception=False)
    if not client.login(username="bench", password="bench-password"):
        raise SystemExit("could not log the bench superuser in")
    return client


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 30 samples is the 29th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def full_counts(queries: list[dict[str, str]]) -> list[str]:
    return [q["sql"] for q in queries if _FULL_COUNT.search(q["sql"])
            and "queue_failed_jobs" in q["sql"] and " WHERE " not in q["sql"].upper()
            and " LIMIT " not in q["sql"].upper()]


def measure_page(client: Any, name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times: list[float] = []
    slowest: dict[str, Any] = {"time": 0.0, "sql": ""}
    flagged: set[str] = set()
    queries = status = 0
    first = 0.0
    deadline = time.monotonic() + args.page_deadline
    for i in range(args.warmups + args.requests):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - began) * 1000
        status = response.status_code
        first = first if i else elapsed  # cold: what a cached page costs once a minute
        if i >= args.warmups:
            times.append(elapsed)
        queries = len(captured.captured_queries)
        flagged.update(full_counts(captured.captured_queries))
        for query in captured.captured_queries:
            if float(query["time"]) > float(slowest["time"]):
                slowest = {"time": float(query["time"]), "sql": query["sql"]}
        if time.monotonic() > deadline:
            break
    measured = times or [elapsed]
    return {"page": name, "url": url, "status": status, "n": len(times),
            "p50_ms": round(percentile(measured, 50), 1),
            "p95_ms": round(percentile(measured, 95), 1),
            "max_ms": round(max(measured), 1), "first_ms": round(first, 1), "queries": queries,
            "full_counts": sorted(flagged), "slowest_ms": round(slowest["time"] * 1000, 1),
            "slowest_sql": slowest["sql"]}


def explain(sql: str) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return list(cursor.fetchall())


HEADER = (f"{'page':<24}{'status':>7}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
          f"{'first ms':>10}{'queries':>9}{'slowest q ms':>14}")


def page_line(r: dict[str, Any]) -> str:
    mark = "  OVER" if r["p95_ms"] > BUDGET_MS or r["status"] != 200 else ""
    return (f"{r['page']:<24}{r['status']:>7}{r['n']:>4}{r['p50_ms']:>9}{r['p95_ms']:>9}"
            f"{r['max_ms']:>9}{r['first_ms']:>10}{r['queries']:>9}{r['slowest_ms']:>14}{mark}")


def report_pages(results: list[dict[str, Any]]) -> None:
    print(f"\n{HEADER}")
    for r in results:
        print(page_line(r))
    for r in results:
        for sql in r["full_counts"]:
            print(f"\n!! {r['page']}: COUNT(*) over the whole table: {sql[:300]}")
        if r["p95_ms"] > BUDGET_MS and r["slowest_sql"] not in ("", "None", None):
            print(f"\n{r['page']}: slowest query ({r['slowest_ms']} ms):\n  "
                  f"{r['slowest_sql'][:600]}")
            try:
                for row in explain(r["slowest_sql"]):
                    print("  EXPLAIN", row)
            except Exception as exc:  # an EXPLAIN that fails is only a note, not a failed bench
                print(f"  EXPLAIN failed: {exc}")


class PruneDeadline(Exception):
    """The prune ran past ``--prune-deadline``."""


def measure_prune(args: argparse.Namespace) -> dict[str, Any]:
    """``prune_failed_jobs --all`` over the whole table, timing every statement."""
    from django.core.management import call_command
    from django.db import connection

    from django_jobqueue import failures as service
    from django_jobqueue.failures.estimates import count_estimate

    longest: dict[str, dict[str, Any]] = {}
    statements = 0

    def timed(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal statements
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seconds = time.perf_counter() - began
            statements += 1
            verb = sql.split(None, 1)[0].upper()
            if seconds > longest.get(verb, {}).get("s", -1):
                longest[verb] = {"s": round(seconds, 3), "sql": sql[:200]}

    before = count_estimate(service.table().queryset())
    deadline = time.monotonic() + args.prune_deadline
    original = service.prune_report

    def bounded(**options: Any) -> Any:
        def progress(n: int) -> None:
            if time.monotonic() > deadline:
                raise PruneDeadline(f"stopped after {n:,} rows")
        return original(**{**options, "progress": progress})

    began, error = time.monotonic(), ""
    service.prune_report = bounded  # the command's own progress is only printing
    try:
        with connection.execute_wrapper(timed):
            call_command("prune_failed_jobs", "--all", verbosity=0)
    except PruneDeadline as exc:
        error = str(exc)
    finally:
        service.prune_report = original
    seconds = time.monotonic() - began
    left = service.table().queryset().order_by()[:1].count()
    worst = max(longest.values(), key=lambda v: v["s"], default={"s": 0, "sql": ""})
    return {"page": "prune --all", "rows_before_estimate": before, "seconds": round(seconds, 1),
            "statements": statements, "longest_by_verb": longest,
            "longest_s": worst["s"], "rows_left": left, "error": error}


def report_prune(result: dict[str, Any]) -> None:
    mark = "OVER (limit 1 s)" if result["longest_s"] > STATEMENT_BUDGET_S else "ok"
    print(f"\nprune --all: ~{result['rows_before_estimate']:,} rows in {result['seconds']} s,"
          f" {result['statements']} statements, longest {result['longest_s']} s: {mark}")
    for verb, info in sorted(result["longest_by_verb"].items()):
        print(f"  longest {verb:<8} {info['s']:>7} s  {info['sql'][:120]}")
    if result["rows_left"] or result["error"]:
        print(f"  !! not finished: {result['error'] or 'rows left'}")


def write_json(path: str, label: str, results: list[dict[str, Any]]) -> None:
    import datetime as dt

    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with open(path, "a", encoding="utf-8") as out:
        for result in results:
            out.write(json.dumps({"label": label, "at": stamp, **result}) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_database()
    ensure_rows(args.rows, args.refill)
    results: list[dict[str, Any]] = []
    if not args.skip_pages:
        client = logged_in_client()
        print(HEADER)
        wanted = {name.strip() for name in args.pages.split(",") if name.strip()}
        for name, url in pages(sample_values()).items():
            if wanted and name not in wanted:
                continue
            results.append(measure_page(client, name, url, args))
            print(page_line(results[-1]), flush=True)  # the table again at the end
        report_pages(results)
    if args.prune:
        prune = measure_prune(args)
        report_prune(prune)
        results.append(prune)
        if args.refill_after:
            ensure_rows(args.rows, refill=True)
    if args.json:
        write_json(args.json, args.label, results)
    over = [r for r in results if r.get("p95_ms", 0) > BUDGET_MS or r.get("status", 200) != 200
            or r.get("longest_s", 0) > STATEMENT_BUDGET_S]
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
