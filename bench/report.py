"""The one table, its footnotes, the targets of issues 5, 17, 18 and 19 and of workflows
(ratios of this run, and the latency bounds), and the JSON lines.

A row is a dict: ``system`` (``ours/redis``, ``rq/simple``, ``substrate``,
``substrate/sqlite``, ...), ``measurement`` (``enqueue``, ``enqueue-bulk``,
``enqueue-atomic``, ``orm-insert``, ``orm-insert-atomic``, ``drain-1``, ``drain-2``,
``rss-1``, ``rss-2``, ``fail``, ``retry``, ``latency-p50`` ... ``latency-max``, ``limit``,
``scale``, ``plain-10k`` and ``batch-10k`` with their ``-dispatch`` and ``-drain`` parts),
``value`` (median of the repetitions), ``unit``, ``values`` (each repetition) and ``note``
(timeouts, errors; a batch row's ratio to its plain one); a batch's and a plain's rows say
whether every repetition has a figure (``complete``), so each pairs with the other's.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable

HIGHER_IS_BETTER = {"jobs/s": True, "ops/s": True, "s": False, "MB": False, "µs": False,
                    "ms": False}
# Which limit each of our transports is held against.
LIMIT_OF = {"redis": "redis-ping", "mariadb": "mariadb-claim-delete",
            "sqlite": "sqlite-claim-delete"}
# A one-by-one dispatch on a database is held against the bare ORM insert of its row.
INSERT_OF = {"enqueue": "orm-insert", "enqueue-atomic": "orm-insert-atomic"}
DATABASES = ("sqlite", "mariadb", "postgresql")
#: Issue 17: pickup latency p99 bounds in ms, idle workers, defaults.
LATENCY_P99_MS = {"redis": 5.0, "redis-cluster": 5.0, "sqlite": 50.0, "mariadb": 50.0,
                  "postgresql": 50.0}
DISPATCH_SHARE = 0.8
#: Workflows: a batch's whole cost at most this many times the same jobs' dispatched plain.
BATCH_OVER_PLAIN = 1.15
#: Every setting of the bench that is not the system's documented default, by the start of
#: the system label it applies to (printed under the table).
NOT_DEFAULT = {
    "ours": "runworker --concurrency N (default 1): N work horses, what the drain varies;"
            " failed jobs in queue_failed_jobs on MariaDB (FAILED_DATABASE); retry path"
            " max_tries=3, retry_after=0",
    "rq": "N x `rq worker` (N processes, what the drain varies); retry path Retry(max=2)",
    "rq/simple": "--worker-class SimpleWorker (the default Worker forks a horse per job)",
    "celery": "-c N (default: one process per CPU); task_ignore_result=True (no results"
              " backend); retry path autoretry_for, max_retries=2, default_retry_delay=0",
    "dramatiq": "--processes N (default: one per CPU), threads at the default 8;"
                " max_retries=0 (default 20, with backoff) but retry path max_retries=2,"
                " min_backoff=0, max_backoff=0",
    "huey/process": "-k process -w N (default: -k thread -w 1): N processes, what the drain"
                    " varies",
    "huey/thread": "the consumer as shipped: -k thread -w 1",
    "huey": "retry path retries=2, retry_delay=0",
    "tasks_db": "N x `db_worker` (N processes), --interval at its default 1 s",
}
#: How the servers run, whoever uses them.
SERVERS_NOTE = (
    "servers: MariaDB durable as shipped (innodb_flush_log_at_trx_commit=1, doublewrite"
    " on); SQLite as docs/transports.md configures it (WAL, IMMEDIATE, timeout 30,"
    " synchronous at its default FULL); PostgreSQL durable as shipped (fsync,"
    " synchronous_commit and full_page_writes on); Redis without persistence")


def find(rows: Iterable[dict], system: str, measurement: str) -> float | None:
    for row in rows:
        if row["system"] == system and row["measurement"] == measurement:
            return row["value"]
    return None


def _peer_rows(rows: list[dict], measurement: str, prefix: str = "") -> list[dict]:
    return [r for r in rows if r["measurement"] == measurement and r["value"]
            and not r["system"].startswith(("ours", "substrate")) and
            r["system"].startswith(prefix)]


def best(rows: list[dict], measurement: str, prefix: str = "") -> dict | None:
    """The peer row that does best at ``measurement`` (``prefix`` narrows the peers)."""
    candidates = _peer_rows(rows, measurement, prefix)
    if not candidates:
        return None
    higher = HIGHER_IS_BETTER[candidates[0]["unit"]]
    return (max if higher else min)(candidates, key=lambda r: r["value"])


def times_better(ours: float | None, peer: float | None, unit: str) -> float | None:
    """How many times better ours is (> 1: ours wins), whichever way the unit points."""
    if not ours or not peer:
        return None
    return ours / peer if HIGHER_IS_BETTER[unit] else peer / ours


def relevant_peer(rows: list[dict], row: dict) -> dict | None:
    transport = row["system"].split("/", 1)[1]
    measurement = row["measurement"]
    if transport in ("sqlite", "mariadb") and measurement.startswith(("drain", "enqueue",
                                                                       "latency")):
        return best(rows, measurement, f"tasks_db/{transport}")
    if measurement.startswith("rss"):
        return best(rows, measurement, "celery")
    if measurement == "fail":
        return best(rows, measurement, "rq")
    if measurement == "retry":
        return best(rows, measurement, "huey")
    return best(rows, measurement)


def annotate(rows: list[dict]) -> None:
    """Add ``vs_peer`` (and which peer) and ``vs_limit`` to our rows."""
    for row in rows:
        if not row["system"].startswith("ours/") or row["value"] is None:
            continue
        peer = relevant_peer(rows, row)
        if peer:
            row["vs_peer"] = times_better(row["value"], peer["value"], row["unit"])
            row["peer"] = peer["system"]
        transport = row["system"].split("/", 1)[1]
        limit = find(rows, "substrate", LIMIT_OF.get(transport, ""))
        # Only where the limit is the same work: a drain claims and deletes one job per
        # job; a one-by-one enqueue to Redis is one round trip.
        if limit and (row["measurement"].startswith("drain")
                      or (row["measurement"] == "enqueue" and transport == "redis")):
            row["vs_limit"] = row["value"] / limit
        insert = find(rows, f"substrate/{transport}", INSERT_OF.get(row["measurement"], ""))
        if insert and transport in DATABASES:
            row["vs_limit"] = row["value"] / insert
        ratio, pairs = batch_over_plain(rows, row)
        if ratio is not None:
            text = f"{ratio:.2f}x plain"
            if len(pairs) > 1:
                text += f" ({', '.join(f'{one:.2f}' for one in pairs)})"
            row["note"] = f"{text}; {row['note']}" if row.get("note") else text


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("s",):
        return f"{value:,.2f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def table(rows: list[dict]) -> str:
    head = ("system", "measurement", "value", "unit", "vs peer", "vs limit", "note")
    lines = [head]
    for r in rows:
        vs_peer = f"{r['vs_peer']:.2f}x {r['peer']}" if r.get("vs_peer") else ""
        vs_limit = f"{r['vs_limit']:.0%}" if r.get("vs_limit") else ""
        value = "n/a" if r.get("na") else _fmt(r["value"], r["unit"])
        lines.append((r["system"], r["measurement"], value, r["unit"], vs_peer, vs_limit,
                      r.get("note", "")))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        cells = [str(c).rjust(w) if i == 2 else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def targets(rows: list[dict]) -> list[dict]:
    """Each target of issue 5 as (name, ratio achieved, ratio wanted, PASS/MISS)."""
    checks: list[tuple[str, float | None, float]] = []

    def ratio(system: str, measurement: str, peer: dict | None) -> float | None:
        row = next((r for r in rows if r["system"] == system
                    and r["measurement"] == measurement), None)
        if not row or not peer:
            return None
        return times_better(row["value"], peer["value"], row["unit"])

    fastest = best(rows, "drain-1")
    checks.append((f"redis drain, 1 process >= 2x fastest peer "
                   f"({fastest['system'] if fastest else '?'})",
                   ratio("ours/redis", "drain-1", fastest), 2.0))
    ping = find(rows, "substrate", "redis-ping")
    ours = find(rows, "ours/redis", "drain-1")
    checks.append(("redis drain, 1 process >= 50% of Redis PING round trips",
                   ours / ping if ours and ping else None, 0.5))
    for db in ("sqlite", "mariadb"):
        checks.append((f"{db} drain, 1 process >= 4x django-tasks-db on {db}",
                       ratio(f"ours/{db}", "drain-1", best(rows, "drain-1", f"tasks_db/{db}")),
                       4.0))
    checks.append(("failure path >= 3x RQ's (best RQ worker)",
                   ratio("ours/redis", "fail", best(rows, "fail", "rq")), 3.0))
    checks.append(("retry path faster than huey's",
                   ratio("ours/redis", "retry", best(rows, "retry", "huey")), 1.0))
    for n in ("1", "2"):
        checks.append((f"worker RSS ({n} process) <= Celery's",
                       ratio("ours/redis", f"rss-{n}", best(rows, f"rss-{n}", "celery")), 1.0))
    checks += dispatch_checks(rows)
    checks += schedule_checks(rows)
    checks += limit_checks(rows)
    out = [{"target": name, "ratio": got, "wanted": want, "at_most": False,
            "status": "n/a" if got is None else ("PASS" if got >= want else "MISS")}
           for name, got, want in checks]
    out += latency_targets(rows)
    out += [{"target": name, "ratio": got, "wanted": want, "at_most": True,
             "status": "n/a" if got is None else ("PASS" if got <= want else "MISS")}
            for name, got, want in batch_checks(rows)]
    for transport in ("redis", "mariadb"):
        spread = find(rows, f"ours/{transport}", "scale-spread")
        if spread is not None:  # only with --scale
            out.append({"target": f"{transport} reserve+ack flat from smallest to largest"
                        " queue (largest/smallest)", "ratio": spread, "wanted": 1.2,
                        "at_most": True, "status": "PASS" if spread <= 1.2 else "MISS"})
    return out


def dispatch_checks(rows: list[dict]) -> list[tuple[str, float | None, float]]:
    """Issue 17: one-by-one dispatch >= 80 % of the bare ORM insert of the same row, on
    each database, outside and inside one atomic(); on Redis >= Huey's enqueue."""
    checks: list[tuple[str, float | None, float]] = []
    for db in DATABASES:
        for measurement, insert in INSERT_OF.items():
            ours = find(rows, f"ours/{db}", measurement)
            bare = find(rows, f"substrate/{db}", insert)
            where = "inside atomic()" if "atomic" in measurement else "outside atomic()"
            checks.append((f"{db} dispatch one by one {where} >= 80% of the bare ORM insert"
                           f" (ours/bare)", ours / bare if ours and bare else None,
                           DISPATCH_SHARE))
    huey = find(rows, "huey", "enqueue")
    ours = find(rows, "ours/redis", "enqueue")
    checks.append(("redis dispatch one by one >= Huey's enqueue (ours/huey)",
                   ours / huey if ours and huey else None, 1.0))
    return checks


def limit_checks(rows: list[dict]) -> list[tuple[str, float | None, float]]:
    """Issue 19: a drain of jobs under a generous concurrency limit costs at most 15 % more
    than a plain drain (as rates: limited/plain >= 1/1.15)."""
    checks: list[tuple[str, float | None, float]] = []
    for row in rows:
        label, measurement = row.get("system", ""), row.get("measurement", "")
        if not (label.startswith("ours/") and measurement.startswith("drain-")
                and measurement.endswith("-limited")):
            continue
        plain = find(rows, label, measurement.removesuffix("-limited") + "-noop")
        limited = find(rows, label, measurement)
        checks.append((f"{label.removeprefix('ours/')} drain under a generous concurrency"
                       " limit costs at most 15% more (limited/plain rate)",
                       limited / plain if limited and plain else None, round(1 / 1.15, 3)))
    return checks


def batch_checks(rows: list[dict]) -> list[tuple[str, float | None, float]]:
    """Workflows: a batch of N no-ops, dispatched in one call and drained until its
    ``on_complete`` callback has run, costs at most 15 % more time than the same N
    dispatched plain (one ``dispatch_many``) and drained (as times: batch/plain <= 1.15)."""
    checks: list[tuple[str, float | None, float]] = []
    for row in rows:
        label, measurement = row.get("system", ""), row.get("measurement", "")
        plain_name = _plain_of(measurement)
        if not (label.startswith("ours/") and plain_name
                and not measurement.endswith(("-dispatch", "-drain"))):
            continue
        checks.append((f"{label.removeprefix('ours/')} batch of {measurement.split('-')[1]}"
                       " no-ops costs at most 15% more than plain ones, dispatch and drain"
                       " (batch/plain time)", batch_over_plain(rows, row)[0],
                       BATCH_OVER_PLAIN))
    return checks


def batch_over_plain(rows: list[dict], row: dict) -> tuple[float | None, list[float]]:
    """A batch row's time over its plain row's: the median of each repetition's ratio
    (a batch run just after its plain one, so a noisy minute weighs on both), or the
    ratio of the medians when a repetition of either failed; and the repetitions'
    ratios. None for a row that is no batch's, or without a plain figure."""
    plain = next((r for r in rows if r["system"] == row["system"]
                  and r["measurement"] == _plain_of(row["measurement"])), None)
    if plain is None or not plain["value"] or not row["value"]:
        return None, []
    ours, theirs = row.get("values") or [], plain.get("values") or []
    if not (row.get("complete") and plain.get("complete") and len(ours) == len(theirs)
            and all(theirs)):
        return row["value"] / plain["value"], []
    pairs = [one / other for one, other in zip(ours, theirs, strict=True)]
    return statistics.median(pairs), pairs


def _plain_of(measurement: str) -> str:
    """The plain counterpart of a batch measurement (``batch-10k-drain`` ->
    ``plain-10k-drain``), or "" for any other."""
    return "plain-" + measurement.removeprefix("batch-") if measurement.startswith(
        "batch-") else ""


def schedule_checks(rows: list[dict]) -> list[tuple[str, float | None, float]]:
    """Issue 18: the scheduler costs a drain under 2 %; a unique dispatch at most twice a
    plain one (as rates: ours/plain >= 0.5)."""
    checks: list[tuple[str, float | None, float]] = []
    for store in ("redis", "sqlite"):
        on = find(rows, f"ours/{store}", "drain-1-schedule")
        off = find(rows, f"ours/{store}", "drain-1-noschedule")
        if on is not None or off is not None:
            checks.append((f"{store} drain with 20 entries due every second >= 98% of the"
                           " drain with --no-scheduler (on/off)",
                           on / off if on and off else None, 0.98))
    for store in ("redis", "mariadb", "sqlite", "postgresql"):
        unique = find(rows, f"ours/{store}", "enqueue-unique")
        plain = find(rows, f"ours/{store}", "enqueue")
        if unique is not None:
            checks.append((f"{store} unique dispatch costs at most 2x a plain one"
                           " (unique/plain rate)", unique / plain if plain else None, 0.5))
    return checks


def latency_targets(rows: list[dict]) -> list[dict]:
    """Issue 17: pickup latency p99 bounds, an absolute figure (ms), not a ratio."""
    out = []
    for transport, bound in LATENCY_P99_MS.items():
        p99 = find(rows, f"ours/{transport}", "latency-p99")
        status = "n/a" if p99 is None else ("PASS" if p99 <= bound else "MISS")
        out.append({"target": f"{transport} pickup latency p99, ms", "ratio": p99,
                    "wanted": bound, "at_most": True, "status": status})
    return out


def footnotes(rows: list[dict]) -> str:
    """Every setting of this run that is not a documented default, for the systems in it."""
    systems = {r["system"] for r in rows}
    lines = ["Not defaults (everything else is):"]
    for prefix, text in NOT_DEFAULT.items():
        if any(s == prefix or s.startswith(prefix + "/") for s in systems):
            lines.append(f"  {prefix}: {text}")
    lines.append(f"  {SERVERS_NOTE}")
    return "\n".join(lines)


def targets_text(results: list[dict]) -> str:
    lines = ["Targets (issues 5, 17, 18, 19 and workflows; ratio = how many times better ours"
             " is, in this run, or for a bound 'at most' the ratio or ms it must not pass):"]
    for t in results:
        got = "-" if t["ratio"] is None else f"{t['ratio']:.2f}"
        want = f"want {'<=' if t['at_most'] else '>='} {t['wanted']:g}"
        lines.append(f"  {t['status']:<4}  {got:>6} ({want})  {t['target']}")
    return "\n".join(lines)


def write_json(path: str, rows: list[dict], target_rows: list[dict], meta: dict) -> None:
    with open(path, "a") as f:
        for row in rows:
            f.write(json.dumps({**meta, **row}) + "\n")
        for t in target_rows:
            f.write(json.dumps({**meta, "system": "target", **t}) + "\n")
