"""Runs one measurement of one system, in that system's virtualenv, and prints its result.

    python -m bench.driver SYSTEM prepare
    python -m bench.driver SYSTEM enqueue --n 10000 [--bulk | --atomic | --unique] [--orm]
    python -m bench.driver SYSTEM measure --kind noop|fail|retry --n 20000 \\
        --variant V --procs 1 --deadline 120 --workdir DIR
    python -m bench.driver SYSTEM latency --n 1000 --rate 100 --variant V --deadline 120 \\
        --workdir DIR
    python -m bench.driver ours whole --kind plain|batch --n 10000 --variant V --procs 2 \\
        --deadline 120 --workdir DIR

``bench/run.py`` starts it with ``.venv/bin/python`` for ``ours`` and with
``.venv-bench-peers/bin/python`` for the peers. The last line of output is
``BENCH-RESULT {json}``. SYSTEM is ``ours`` (``bench/ours.py``) or a peer
(``bench/peers/<SYSTEM>_peer.py``). A system module provides:

- ``VARIANTS``: drain variants (worker kinds or transports), the first being the default
  used for the failure and retry paths; ``FAIL_VARIANTS``/``RETRY_VARIANTS`` may differ;
- ``prepare()``: one-off set-up (migrations);
- ``reset()``: empty the queues and the failed store;
- ``enqueue(n, bulk, variant)``: queue ``n`` no-op jobs the way an application would;
- ``enqueue_latency(sent, variant)``: queue one latency job carrying ``sent``, whose body
  calls ``jobcount.stamp(sent)`` first (``LATENCY_VARIANTS``: the variants measured);
- ours only, for the dispatch measures: ``enqueue_atomic(n, variant)`` (one
  ``transaction.atomic()`` around the ``n`` dispatches) and ``orm_insert(n, variant,
  atomic)`` (the bare ORM insert of the rows a dispatch writes);
- ``fill(kind, n, variant)``: queue ``n`` jobs of a kind as fast as possible (not timed);
- ours only, for the workflows bench: ``dispatch_whole(kind, n, variant)`` (``n`` no-ops in
  one call, plain or as one batch, timed; returns how many jobs the drain runs);
- ``workers(variant, procs)``: the worker command lines (one per process to start);
- ``failed_count(variant)``: how many jobs the system's failed store holds.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import harness, jobcount, latency  # noqa: E402  (after the path is set)

PREFIX = "BENCH-RESULT "


def system_module(name: str):
    return importlib.import_module("bench.ours" if name == "ours" else f"bench.peers.{name}_peer")


def worker_env(count_dir: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, jobcount.ENV_VAR: str(count_dir),
            "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
            "PYTHONUNBUFFERED": "1"}


def enqueue(mod, args) -> dict:
    variant = args.variant or mod.VARIANTS[0]
    mod.reset()
    began = time.perf_counter()
    if args.unique:
        mod.enqueue_unique(args.n, variant)
    elif args.orm:
        mod.orm_insert(args.n, variant, args.atomic)
    elif args.atomic:
        mod.enqueue_atomic(args.n, variant)
    else:
        mod.enqueue(args.n, args.bulk, variant)
    seconds = time.perf_counter() - began
    mod.reset()
    return {"jobs": args.n, "seconds": round(seconds, 4), "rate": round(args.n / seconds, 1)}


def empty_start(mod, args) -> tuple[Path, Path]:
    """Empty queues and count files for one measurement: its work and count directories."""
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-"))
    count_dir = workdir / "counts"
    mod.reset()
    jobcount.reset(count_dir)
    # The workers see the jobs count files through the environment, and the fill may
    # need it too (a system whose enqueue runs the job in-process when misconfigured).
    os.environ[jobcount.ENV_VAR] = str(count_dir)
    return workdir, count_dir


def measure(mod, args) -> dict:
    variant = args.variant or mod.VARIANTS[0]
    workdir, count_dir = empty_start(mod, args)
    filled = time.perf_counter()
    mod.fill(args.kind, args.n, variant)
    fill_s = time.perf_counter() - filled

    def started() -> int:
        return jobcount.count(count_dir, "started")

    if args.kind == "fail":
        def completed() -> int:
            return mod.failed_count(variant)
        gate_at = args.n
    else:
        def completed() -> int:
            return jobcount.count(count_dir, "done")
        gate_at = None
    outcome = harness.watch(
        mod.workers(variant, args.procs), env=worker_env(count_dir), wanted=args.n,
        started=started, completed=completed, deadline=args.deadline,
        log=workdir / f"{args.kind}-{variant}-{args.procs}.log", gate_at=gate_at,
        poll=0.002 if gate_at is None else 0.01,
    )
    result = outcome.as_dict()
    result.update(fill_s=round(fill_s, 3), attempts=started(), log=str(workdir))
    mod.reset()
    return result


def measure_whole(mod, args) -> dict:
    """The whole cost of ``n`` no-ops: their dispatch in one call (timed), then their drain
    (the clock from the first start to the last job done, as :func:`measure`'s; a batch's
    last job is its callback). ``seconds`` is the two added up."""
    variant = args.variant or mod.VARIANTS[0]
    workdir, count_dir = empty_start(mod, args)
    began = time.perf_counter()
    wanted = mod.dispatch_whole(args.kind, args.n, variant)
    dispatch_s = time.perf_counter() - began
    outcome = harness.watch(
        mod.workers(variant, args.procs), env=worker_env(count_dir), wanted=wanted,
        started=lambda: jobcount.count(count_dir, "started"),
        completed=lambda: jobcount.count(count_dir, "done"), deadline=args.deadline,
        log=workdir / f"{args.kind}-{variant}-{args.procs}.log",
    )
    result = outcome.as_dict()
    seconds = dispatch_s + outcome.seconds
    result.update(dispatch_s=round(dispatch_s, 4), drain_s=outcome.seconds,
                  seconds=round(seconds, 4), rate=round(args.n / seconds, 1), log=str(workdir))
    mod.reset()
    return result


def measure_latency(mod, args) -> dict:
    variant = args.variant or mod.LATENCY_VARIANTS[0]
    workdir, count_dir = empty_start(mod, args)
    try:
        return latency.measure(mod, variant, args.n, args.rate, args.deadline, count_dir,
                               worker_env(count_dir), workdir / f"latency-{variant}.log")
    finally:
        mod.reset()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("system")
    parser.add_argument("op", choices=["prepare", "enqueue", "measure", "latency", "variants",
                                          "whole"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--bulk", action="store_true")
    parser.add_argument("--atomic", action="store_true", help="all n in one atomic block")
    parser.add_argument("--orm", action="store_true", help="bare ORM inserts (ours)")
    parser.add_argument("--unique", action="store_true", help="unique jobs, a key each (ours)")
    parser.add_argument("--schedule", help="ours: 'off' (--no-scheduler) or N entries due"
                        " every second while the drain runs")
    parser.add_argument("--rate", type=float, default=100.0, help="latency: jobs/s sent")
    parser.add_argument("--kind", choices=["noop", "limited", "fail", "retry", "plain", "batch"],
                        default="noop", help="plain and batch: the whole op's")
    parser.add_argument("--variant")
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--workdir")
    args = parser.parse_args(argv)
    if args.variant:
        # Read at import by adapters whose settings depend on it (django-tasks-db's database).
        os.environ["BENCH_VARIANT"] = args.variant
    if args.schedule:
        os.environ["BENCH_SCHEDULE"] = args.schedule  # read by bench/settings_ours.py
    try:
        mod = system_module(args.system)
        if args.op == "prepare":
            mod.prepare()
            result: dict = {"ok": True}
        elif args.op == "variants":
            result = {"variants": list(mod.VARIANTS), "bulk": bool(mod.BULK)}
        elif args.op == "enqueue":
            if args.bulk and not mod.BULK:
                result = {"na": "no bulk enqueue API"}
            else:
                result = enqueue(mod, args)
        elif args.op == "latency":
            result = measure_latency(mod, args)
        elif args.op == "whole":
            result = measure_whole(mod, args)
        else:
            result = measure(mod, args)
    except Exception as exc:  # the orchestrator records it and goes on with the others
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
