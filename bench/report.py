"""The one table, the targets of issue 5 as ratios of this run, and the JSON lines.

A row is a dict: ``system`` (``ours/redis``, ``rq/simple``, ``substrate``, ...),
``measurement`` (``enqueue``, ``enqueue-bulk``, ``drain-1``, ``drain-2``, ``rss-1``,
``rss-2``, ``fail``, ``retry``, ``limit``, ``scale``), ``value`` (median of the
repetitions), ``unit``, ``values`` (each repetition) and ``note`` (timeouts, errors).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

HIGHER_IS_BETTER = {"jobs/s": True, "ops/s": True, "s": False, "MB": False, "µs": False}
# Which limit each of our transports is held against.
LIMIT_OF = {"redis": "redis-ping", "mariadb": "mariadb-claim-delete",
            "sqlite": "sqlite-claim-delete"}


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
    if transport in ("sqlite", "mariadb") and measurement.startswith(("drain", "enqueue")):
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
    out = [{"target": name, "ratio": got, "wanted": want, "at_most": False,
            "status": "n/a" if got is None else ("PASS" if got >= want else "MISS")}
           for name, got, want in checks]
    for transport in ("redis", "mariadb"):
        spread = find(rows, f"ours/{transport}", "scale-spread")
        if spread is not None:  # only with --scale
            out.append({"target": f"{transport} reserve+ack flat from smallest to largest"
                        " queue (largest/smallest)", "ratio": spread, "wanted": 1.2,
                        "at_most": True, "status": "PASS" if spread <= 1.2 else "MISS"})
    return out


def targets_text(results: list[dict]) -> str:
    lines = ["Targets (issue 5; ratio = how many times better ours is, in this run):"]
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
