"""The SIGKILL loop of scenarios 17 and 18: every ``every`` seconds a whole worker (its
process group) or one horse is SIGKILLed, preferring those that run a job, and a worker is
started for each one lost. Each kill is recorded (when, whether a whole worker, the pids it
took): the counts explain a killed run or a job run twice by these records, never by what
the workers claim. Between those kills, an *aim* can read the ledger's new lines every
5 ms and kill the worker of a job the moment it writes a line (scenario 18: just after a
job's end, before its worker has told the workflow or acked the job).

A whole worker is stopped first (SIGSTOP to its group), its members read (``pgrep -g``) and
only then killed, so that a horse forked between the read and the kill is not missed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.chaos.harness import FAST, QUEUE, Chaos

KILL_EVERY = 0.5
#: How often an aimed attack reads the ledger's new lines, between the loop's kills.
AIM_EVERY = 0.005

#: ``aim(kills)``: read what happened, kill (appending to ``kills``); whether it killed.
Aim = Callable[[list[dict[str, Any]]], bool]


def running_pids(chaos: Chaos) -> set[int]:
    """Processes with a start in the ledger and no finish: horses running a job."""
    events = chaos.events()
    done = {(e["id"], e["attempt"], e["pid"]) for e in events if e["event"] == "finish"}
    return {e["pid"] for e in events
            if e["event"] == "start" and (e["id"], e["attempt"], e["pid"]) not in done}


def kill_one(chaos: Chaos, rng: random.Random, kills: list[dict[str, Any]]) -> None:
    """SIGKILL a whole worker (half of the time) or one horse, one that runs a job if any."""
    live = chaos.alive()
    if not live:
        return
    running = running_pids(chaos)
    horses = {worker.pid: worker.horse_pids() for worker in live}
    if rng.random() < 0.5:
        worker = rng.choice([w for w in live if running & set(horses[w.pid])] or live)
        if kill_group(worker.pid, kills):
            worker.wait(10)
        return
    every_horse = sorted(pid for pids in horses.values() for pid in pids)
    candidates = sorted(running & set(every_horse)) or every_horse
    if not candidates:
        return
    victim = rng.choice(candidates)
    try:
        os.kill(victim, signal.SIGKILL)
    except ProcessLookupError:
        return
    kills.append({"t": time.time(), "worker": False, "pids": {victim}})


def kill_group(pgid: int, kills: list[dict[str, Any]], **note: Any) -> bool:
    """SIGKILL worker ``pgid`` with its horses (its process group); whether it was alive.
    Stopped first, so that the group read is the group killed: a horse forked after a read
    and before the kill would leave its run open, unexplained."""
    try:
        os.killpg(pgid, signal.SIGSTOP)
        pids = {pgid, *group(pgid)}
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:  # it died by itself meanwhile
        return False
    kills.append({"t": time.time(), "worker": True, "pids": pids, **note})
    return True


def kill_worker_of(chaos: Chaos, pid: int, kills: list[dict[str, Any]], **note: Any) -> bool:
    """SIGKILL the worker (process group) of horse ``pid``, if it is one of ``chaos``'s
    live workers; whether it did."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    worker = next((w for w in chaos.alive() if w.pid == pgid), None)
    if worker is None or not kill_group(pgid, kills, **note):
        return False
    worker.wait(10)
    return True


class Tail:
    """A file's lines written since the last call (whole lines only): a ledger's, parsed
    (:meth:`new`), or a worker log's (:meth:`lines`)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [line for line in data[:end].decode(errors="replace").splitlines() if line]

    def new(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines() if line.strip()]


def group(pgid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


def keep_workers(chaos: Chaos, count: int, horses: int,
                 queues: Iterable[str] = (QUEUE,)) -> None:
    """Reap the dead and start workers (``horses`` each, FAST leases) until ``count`` live."""
    for worker in chaos.workers:
        if worker.proc.poll() is not None:
            worker.wait(1)
    while len(chaos.alive()) < count:
        chaos.worker("--concurrency", str(horses), settings=FAST, queues=tuple(queues))


def attack(chaos: Chaos, workers: int, horses: int, seconds: float, *, seed: int = 17,
           queues: Iterable[str] = (QUEUE,), busy: Callable[[], Any] | None = None,
           every: float = KILL_EVERY, aim: Aim | None = None,
           calm: Callable[[], bool] | None = None) -> list[dict[str, Any]]:
    """The SIGKILL loop, every ``every`` s while ``busy()`` (by default: the queue holds a
    job) and at most ``seconds``; the kills, also kept beside the ledger (``kills.json``).
    Between two, ``aim(kills)`` every :data:`AIM_EVERY` s, when given, takes aimed shots.
    While ``calm()``, when given, only the aimed shots are taken."""
    queues = tuple(queues)
    busy = busy or chaos.queued
    rng, kills = random.Random(seed), []
    until = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < until and busy():
        if calm is None or not calm():
            kill_one(chaos, rng, kills)
        keep_workers(chaos, workers, horses, queues)
        next_at += every
        while (left := next_at - time.monotonic()) > 0:
            if aim is not None and aim(kills):
                keep_workers(chaos, workers, horses, queues)
            time.sleep(min(left, AIM_EVERY if aim is not None else left))  # the pacing
    (chaos.tmp / "kills.json").write_text(json.dumps(kills, default=sorted))
    return kills


def kill_figures(chaos: Chaos, kills: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kills": len(kills), "worker_kills": sum(k["worker"] for k in kills),
            "horse_kills": sum(not k["worker"] for k in kills),
            "workers_started": len(chaos.workers)}
