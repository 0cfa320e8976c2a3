"""The side-by-side bench of issue 5: django-jobqueue and its peers on the same servers.

    make bench                              # or: .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --quick   # small sizes, one repetition
    .venv/bin/python bench/run.py --systems ours,huey --only drain,substrate
    .venv/bin/python bench/run.py --quick --only latency,enqueue   # issue 17's measures
    .venv/bin/python bench/run.py --scale   # also reserve+ack at 1k..1M queued jobs
    .venv/bin/python bench/run.py --systems ours --only batch   # a batch beside plain jobs

Starts (or reuses) the servers of ``tests.support.servers`` on its own ports (below; set the
``JQ_*_PORT`` variables to change them; their files go to ``.test-servers/bench-servers``,
never shared with a test run's servers; MariaDB runs durable, as shipped), builds the
peers' virtualenv ``.venv-bench-peers`` once, and runs every measurement through
``bench/driver.py`` in the right virtualenv, ``--repeat`` times (repetitions interleaved
across systems, so machine noise hits all of them alike), each under a deadline. Prints
one table, its footnotes (every setting that is not a default) and the targets; ``--json
FILE`` appends one JSON line per row. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# Ports of the bench's own servers: not the test suite's defaults, so a bench run and a
# test run on the same machine never share (or flush) a server.
PORTS = {"JQ_REDIS_PORT": "26379", "JQ_MYSQL_PORT": "23306", "JQ_PG_PORT": "25432",
         "JQ_REDIS_CLUSTER_PORT": "27100"}
for _name, _port in PORTS.items():
    os.environ.setdefault(_name, _port)
# A bench measures MariaDB and PostgreSQL as they ship (flush at every commit, doublewrite;
# fsync, synchronous commits), not the tests' fast unsafe servers; and its servers keep their
# files apart from the tests' (a server of the other durability in the same directory would
# be stopped and restarted).
os.environ.setdefault("JQ_MYSQL_DURABLE", "1")
os.environ.setdefault("JQ_PG_DURABLE", "1")
os.environ.setdefault("JQ_TEST_SERVER_DIR", str(REPO / ".test-servers" / "bench-servers"))

from bench import driver, harness, peers_venv, report  # noqa: E402

SYSTEMS = ("ours", "rq", "celery", "dramatiq", "huey", "tasks_db")
MEASUREMENTS = ("enqueue", "drain", "fail", "retry", "latency", "substrate", "schedule",
                "limits", "batch")
# Issue 19: a generous concurrency limit's cost on ours' drains, beside plain ones.
LIMIT_VARIANTS = ("redis", "sqlite", "mariadb")
# Workflows: a batch's whole cost (dispatch and drain, to its callback) beside the same jobs
# dispatched plain, on every store.
BATCH_VARIANTS = ("redis", "sqlite", "mariadb", "postgresql")
# Issue 18: the scheduler's cost on ours' drains, with and without it in the same run (20
# entries due every second, against a worker started with --no-scheduler).
SCHEDULE_VARIANTS = ("redis", "sqlite")
SCHEDULE_ENTRIES = 20
# System -> (drain variants, variant(s) for the failure and retry paths).
VARIANTS = {
    "ours": (("redis", "mariadb", "sqlite"), ("redis",), ("redis",)),
    "rq": (("fork", "simple"), ("fork", "simple"), ("fork", "simple")),
    "celery": (("prefork",), ("prefork",), ("prefork",)),
    "dramatiq": (("redis",), ("redis",), ("redis",)),
    "huey": (("process",), ("process",), ("process",)),
    "tasks_db": (("sqlite", "mariadb"), ("sqlite", "mariadb"), ()),  # no retries
}
# Where ours is measured beyond the drain variants: one-by-one dispatch on PostgreSQL too,
# and the pickup latency on every transport. Each peer's latency runs at its defaults
# (Huey's consumer as shipped is one worker thread).
OURS_ENQUEUE = ("redis", "mariadb", "sqlite", "postgresql")
DATABASES = ("mariadb", "sqlite", "postgresql")
LATENCY_VARIANTS = {
    "ours": ("redis", "redis-cluster", "sqlite", "mariadb", "postgresql"),
    "rq": ("fork", "simple"), "celery": ("prefork",), "dramatiq": ("redis",),
    "huey": ("thread",), "tasks_db": ("sqlite", "mariadb"),
}
LATENCY_RATE = 100.0  # jobs/s, one at a time
FULL = {"enqueue": 10_000, "drain": 20_000, "fail": 5_000, "retry": 2_000, "latency": 1_000,
        "batch": 10_000}
QUICK = {"enqueue": 1_000, "drain": 2_000, "fail": 500, "retry": 200, "latency": 500,
         "batch": 1_000}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repetition")
    p.add_argument("--repeat", type=int, help="repetitions per figure (default 3; quick 1)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated")
    p.add_argument("--only", default=",".join(MEASUREMENTS),
                   help=f"comma-separated, of {','.join(MEASUREMENTS)}")
    p.add_argument("--procs", default="1,2", help="worker processes for the drain")
    p.add_argument("--latency-jobs", type=int, help="jobs of the latency measure (default"
                   " 1,000; quick 500), sent one at a time at 100/s")
    p.add_argument("--deadline", type=float, help="seconds per measurement (default 120;"
                   " quick 30); a run cut short reports the rate over the jobs it did")
    p.add_argument("--jobs", type=int, help="override the drain size")
    p.add_argument("--batch-jobs", type=int, help="jobs of the batch measure (default"
                   " 10,000; quick 1,000)")
    p.add_argument("--scale", action="store_true", help="reserve+ack at 1k..1M queued jobs")
    p.add_argument("--scale-sizes", default="1000,10000,100000,1000000")
    p.add_argument("--json", metavar="FILE", help="append one JSON line per row")
    p.add_argument("--label", default="", help="stored in each JSON line")
    p.add_argument("--workdir", default=str(REPO / ".test-servers" / "bench" / "runs"))
    return p.parse_args(argv)


def start_servers() -> dict[str, str]:
    from tests.support import servers

    os.environ.pop(servers.ENV_VAR, None)  # an inherited one would skip every check
    facts = servers.ensure_servers()  # publishes JQ_TEST_SERVERS for the drivers
    return facts


def run_driver(python: Path, system: str, args: list[str], timeout: float) -> dict:
    """One driver call in its own process group: past ``timeout`` the whole group (the
    driver and every worker it started) is killed and a timeout recorded."""
    cmd = [str(python), "-m", "bench.driver", system, *args]
    # Each system module picks its own Django settings; this process's must not leak in.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return {"error": f"driver killed after {timeout:.0f} s", "timeout": True}
    except BaseException:  # Ctrl-C: leave no worker behind
        _kill(proc)
        raise
    for line in reversed(out.splitlines()):
        if line.startswith(driver.PREFIX):
            return json.loads(line[len(driver.PREFIX):])
    return {"error": f"no result (exit {proc.returncode}): {err.strip()[-300:]}"}


def _kill(proc: subprocess.Popen) -> None:
    # The tree first: RQ's work horses start sessions of their own, out of the group.
    harness.kill_tree([proc.pid], grace=1.0)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = dict(QUICK if args.quick else FULL)
        if args.jobs:
            self.sizes["drain"] = args.jobs
        if args.latency_jobs:
            self.sizes["latency"] = args.latency_jobs
        if args.batch_jobs:
            self.sizes["batch"] = args.batch_jobs
        self.deadline = args.deadline or (30.0 if args.quick else 120.0)
        self.repeat = args.repeat or (1 if args.quick else 3)
        self.systems = [s for s in args.systems.split(",") if s]
        self.only = set(args.only.split(","))
        self.procs = [int(n) for n in args.procs.split(",")]
        self.samples: dict[tuple[str, str], list[dict]] = {}
        self.units: dict[tuple[str, str], str] = {}

    def python(self, system: str) -> Path:
        return Path(sys.executable) if system == "ours" else peers_venv.python()

    def plan(self) -> list[tuple[str, str, list[str]]]:
        """(system/variant, measurement, driver arguments) for one repetition."""
        plan, deadline = [], ["--deadline", str(self.deadline)]
        for system in self.systems:
            drains, fails, retries = VARIANTS[system]
            if "enqueue" in self.only:
                plan += self.enqueue_plan(system, drains)
            if "latency" in self.only:
                plan += [(f"{system}/{v}", "latency", [
                    "latency", "--variant", v, "--n", str(self.sizes["latency"]),
                    "--rate", str(LATENCY_RATE), *deadline])
                    for v in LATENCY_VARIANTS[system]]
            if "schedule" in self.only and system == "ours":
                plan += self.schedule_plan(deadline)
            if "limits" in self.only and system == "ours":
                plan += self.limits_plan(deadline)
            if "batch" in self.only and system == "ours":
                plan += self.batch_plan(deadline)
            for kind, variants, name in (("noop", drains, "drain"), ("fail", fails, "fail"),
                                         ("retry", retries, "retry")):
                if name not in self.only:
                    continue
                for v in variants:
                    for n in (self.procs if kind == "noop" else [1]):
                        label = f"drain-{n}" if kind == "noop" else kind
                        plan.append((f"{system}/{v}", label, [
                            "measure", "--kind", kind, "--variant", v, "--procs", str(n),
                            "--n", str(self.sizes[name]), *deadline]))
        return plan

    def schedule_plan(self, deadline: list[str]) -> list:
        """One-process drains without the scheduler and with a busy schedule, alternated
        (machine noise hits both alike)."""
        plan = []
        for v in SCHEDULE_VARIANTS:
            for label, how in (("drain-1-noschedule", "off"),
                               ("drain-1-schedule", str(SCHEDULE_ENTRIES))):
                plan.append((f"ours/{v}", label, [
                    "measure", "--kind", "noop", "--variant", v, "--procs", "1",
                    "--schedule", how, "--n", str(self.sizes["drain"]), *deadline]))
        return plan

    def limits_plan(self, deadline: list[str]) -> list:
        """Drains of plain jobs and of jobs under a limit never reached, alternated, with as
        many processes as the drains use most."""
        procs = str(max(self.procs))
        return [(f"ours/{v}", f"drain-{procs}-{kind}", [
            "measure", "--kind", kind, "--variant", v, "--procs", procs,
            "--n", str(self.sizes["drain"]), *deadline])
            for v in LIMIT_VARIANTS for kind in ("noop", "limited")]

    def batch_plan(self, deadline: list[str]) -> list:
        """Per store, the whole cost of ``n`` no-ops dispatched in one call and drained,
        plain and as one batch with an ``on_complete`` callback, alternated; with as many
        processes as the drains use most."""
        procs, n = str(max(self.procs)), self.sizes["batch"]
        return [(f"ours/{v}", whole_name(kind, n), [
            "whole", "--kind", kind, "--variant", v, "--procs", procs, "--n", str(n),
            *deadline]) for v in BATCH_VARIANTS for kind in ("plain", "batch")]

    def enqueue_plan(self, system: str, drains: tuple[str, ...]) -> list:
        """One-by-one and bulk enqueues; for ours on a database also inside one
        ``atomic()``, beside the bare ORM insert of the same rows (the substrate)."""
        n = ["--n", str(self.sizes["enqueue"])]
        # Where the variant is the store (ours, django-tasks-db), enqueue into each; a
        # peer's worker kind does not change how it enqueues.
        per_store = system in ("ours", "tasks_db")
        variants = OURS_ENQUEUE if system == "ours" else drains if per_store else drains[:1]
        plan = []
        for v in variants:
            label = f"{system}/{v}" if per_store else system
            for m, how in (("enqueue", []), ("enqueue-bulk", ["--bulk"])):
                plan.append((label, m, ["enqueue", *how, "--variant", v, *n]))
            if system == "ours":
                plan.append((label, "enqueue-unique", ["enqueue", "--unique", "--variant",
                                                       v, *n]))
            if system == "ours" and v in DATABASES:
                plan.append((label, "enqueue-atomic", ["enqueue", "--atomic", "--variant",
                                                       v, *n]))
                for m, how in (("orm-insert", []), ("orm-insert-atomic", ["--atomic"])):
                    plan.append((f"substrate/{v}", m, ["enqueue", "--orm", *how,
                                                       "--variant", v, *n]))
        return plan

    def record(self, system: str, measurement: str, result: dict) -> None:
        self.samples.setdefault((system, measurement), []).append(result)

    def run(self) -> list[dict]:
        plan = self.plan()
        workdir = Path(self.args.workdir)
        for rep in range(self.repeat):
            for n, (system, measurement, dargs) in enumerate(plan, 1):
                name = "ours" if system.startswith("substrate/") else system.split("/")[0]
                print(f"[{rep + 1}/{self.repeat}] {n}/{len(plan)} {system} {measurement}"
                      " ...", end=" ", flush=True)
                extra = ["--workdir", str(workdir / f"{system.replace('/', '-')}-"
                                          f"{measurement}-{rep}")]
                if dargs[0] == "enqueue":
                    extra = []
                # Fill and start-up come on top of the measurement's own deadline.
                result = run_driver(self.python(name), name, dargs + extra,
                                    self.deadline + 120)
                self.record(system, measurement, result)
                print(_summary(result), flush=True)
        return self.rows()

    def rows(self) -> list[dict]:
        rows = []
        for (system, measurement), results in self.samples.items():
            if measurement == "latency":
                rows += _latency_rows(system, results)
                continue
            if measurement.startswith(("plain-", "batch-")):
                rows += _whole_rows(system, measurement, results)
                continue
            unit = "s" if measurement == "retry" else "jobs/s"
            rows.append(_row(system, measurement, unit, results))
            if measurement.startswith("drain"):
                rss = [{"value": r["peak_rss_kb"] / 1024} for r in results
                       if r.get("peak_rss_kb")]
                rows.append(_row(system, "rss-" + measurement.split("-", 1)[1], "MB", rss))
        return rows


def whole_name(kind: str, n: int) -> str:
    """``batch-10k``, ``plain-10k``; ``batch-2500`` for a size that is no round thousand."""
    return f"{kind}-{n // 1000}k" if n % 1000 == 0 else f"{kind}-{n}"


def _whole_rows(system: str, measurement: str, results: list[dict]) -> list[dict]:
    """The whole cost in seconds (dispatch and drain), then each part alone, so that a
    batch's miss can be told to be in the one or the other."""
    rows = [_row(system, measurement, "s", results)]
    for part in ("dispatch", "drain"):
        parts = [{"value": r[f"{part}_s"]} for r in results
                 if f"{part}_s" in r and r["jobs"] >= r["wanted"]]
        rows.append(_row(system, f"{measurement}-{part}", "s", parts))
    for row in rows:  # every repetition has a figure: they pair with the plain ones
        row["complete"] = len(row["values"]) == len(results)
    return rows


def _summary(result: dict) -> str:
    if result.get("error"):
        return "ERROR " + result["error"]
    if "na" in result:
        return "n/a"
    if "latency_ms" in result:
        text = ", ".join(f"{k} {v:,.1f}" for k, v in result["latency_ms"].items())
        text += f" ms ({result['jobs']}/{result['wanted']} started"
        return text + f" at {result['sent_rate']:.0f}/s)"
    text = f"{result['rate']:,.0f}/s"
    if "wanted" in result:
        text += f" ({result['jobs']}/{result['wanted']} in {result['seconds']:.2f} s"
        text += f", rss {result['peak_rss_kb'] / 1024:.0f} MB)"
        if "dispatch_s" in result:
            text += f"; dispatch {result['dispatch_s']:.2f} s + drain {result['drain_s']:.2f} s"
        if result.get("timeout"):
            text += " TIMEOUT"
    return text


def _row(system: str, measurement: str, unit: str, results: list[dict]) -> dict:
    """The median of the repetitions that produced a figure, with notes for the rest."""
    values, notes = [], []
    for r in results:
        if "value" in r:
            values.append(r["value"])
        elif "na" in r:
            return {"system": system, "measurement": measurement, "value": None,
                    "unit": unit, "values": [], "na": True, "note": r["na"]}
        elif r.get("error"):
            notes.append(r["error"][:80])
        elif unit == "s":
            if r.get("timeout") or r["jobs"] < r["wanted"]:
                notes.append(f"timeout: {r['jobs']}/{r['wanted']} done")
            else:
                values.append(r["seconds"])
        else:
            if r.get("timeout"):
                notes.append(f"deadline: {r['jobs']}/{r['wanted']} done")
            values.append(r["rate"])
    value = statistics.median(values) if values else None
    return {"system": system, "measurement": measurement, "value": value, "unit": unit,
            "values": values, "note": "; ".join(dict.fromkeys(notes))}


def _latency_rows(system: str, results: list[dict]) -> list[dict]:
    """p50/p95/p99/max rows, each the median of the repetitions' figures."""
    notes = [r["error"][:80] for r in results if r.get("error")]
    notes += [f"{r['missing']}/{r['wanted']} never started (counted as a lower bound)"
              for r in results if r.get("missing")]
    measured = [r["latency_ms"] for r in results if "latency_ms" in r]
    rows = []
    for pct in ("p50", "p95", "p99", "max"):
        values = [m[pct] for m in measured]
        rows.append({"system": system, "measurement": f"latency-{pct}", "unit": "ms",
                     "value": statistics.median(values) if values else None,
                     "values": values, "note": "; ".join(dict.fromkeys(notes))})
    return rows


def substrate_rows(facts: dict[str, str], seconds: float) -> list[dict]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_ours")
    from bench import settings_ours, substrate

    limits = substrate.measure(facts, settings_ours.MARIADB_NAME, settings_ours.STATE, seconds)
    return [{"system": "substrate", "measurement": name, "value": value, "unit": "ops/s",
             "values": [value], "note": ""} for name, value in limits.items()]


def scale_rows(sizes: list[int]) -> list[dict]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_ours")
    import django

    django.setup()
    from bench import scale

    rows = []
    for connection in ("redis", "mariadb"):
        print(f"scale: {connection} ...", flush=True)
        costs = scale.measure(connection, sizes)
        for size, us in costs.items():
            rows.append({"system": f"ours/{connection}", "measurement": f"scale-{size}",
                         "value": us, "unit": "µs", "values": [us], "note": ""})
        if costs:
            spread = max(costs.values()) / min(costs.values())
            rows.append({"system": f"ours/{connection}", "measurement": "scale-spread",
                         "value": spread, "unit": "x", "values": [spread],
                         "note": "largest/smallest per-op cost (target <= 1.20)"})
    return rows


@contextlib.contextmanager
def redis_cluster(bench: Bench):
    """The Redis Cluster of ``tests.support.servers.cluster``, started for ours' cluster
    latency (and stopped after) unless one already answers on its ports."""
    from tests.support.servers import cluster, state_dir

    wanted = "ours" in bench.systems and "latency" in bench.only
    if not wanted or cluster.serving():
        yield
        return
    home = state_dir() / "redis-cluster"
    shutil.rmtree(home, ignore_errors=True)  # a node's old nodes.conf would not join
    print(f"starting a Redis Cluster on 127.0.0.1:{cluster.base_port()} ...", flush=True)
    nodes = cluster.start(home)
    try:
        yield
    finally:
        cluster.stop(nodes)


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    began = time.monotonic()
    facts = start_servers()
    peers = [s for s in bench.systems if s != "ours"]
    versions = {}
    if peers:
        peers_venv.ensure()
        versions = peers_venv.versions()
    print("peers:", ", ".join(f"{k} {v}" for k, v in versions.items()) or "none")
    for system in bench.systems:
        result = run_driver(bench.python(system), system, ["prepare"], 300)
        if "error" in result:
            print(f"prepare {system}: {result['error']}")
    rows: list[dict] = []
    if "substrate" in bench.only:
        print("substrate limits ...", flush=True)
        rows += substrate_rows(facts, 2.0 if args.quick else 5.0)
    with redis_cluster(bench):
        rows += bench.run()
    if args.scale:
        rows += scale_rows([int(n) for n in args.scale_sizes.split(",")])
    report.HIGHER_IS_BETTER["x"] = False
    report.annotate(rows)
    target_rows = report.targets(rows)
    print()
    print(report.table(rows))
    print()
    print(report.footnotes(rows))
    print()
    print(report.targets_text(target_rows))
    print(f"\n{'quick' if args.quick else 'full'} run, {bench.repeat} repetition(s),"
          f" {time.monotonic() - began:.0f} s")
    if args.json:
        meta = {"label": args.label, "commit": commit(), "host": socket.gethostname(),
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "quick": args.quick, "repeat": bench.repeat, "versions": versions}
        report.write_json(args.json, rows, target_rows, meta)
        print(f"appended {len(rows) + len(target_rows)} JSON lines to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
