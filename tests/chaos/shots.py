"""Scenario 18's aimed kills, between the SIGKILL loop's random ones
(:func:`tests.chaos.killing.attack`'s ``aim``): a worker is SIGKILLed (its process group)
at the moments a workflow moves on, read every 5 ms from two records.

- **After an end**: the moment a job writes its ``finish`` line to the ledger, before its
  worker has told its workflow (a child's count, a step's next push) and acked it. Aimed at
  each of the last ``last`` children of every batch to end and at one step of every even
  chain (chain ``n``'s step ``n // 2 % steps``, so each step, the last one too, in turn).
- **After a push**: the moment a worker logs ``chain_next`` or ``batch_callback``, written
  right after the push whose once-lock was granted and before the ack of the job whose end
  caused it. That job is taken up again and its end told again, and the push meets its
  lock. Aimed at every odd chain's pushes and at every callback.

Each job, step and callback is aimed at once: a job killed after every run would use up its
tries, and each shot costs its job a lease (2 s) before it is taken up again, which is why
not every step is aimed at. A shot *landed* when what it aimed at was told again: the job
aimed at after its end, or after a chain's push the step before, ran again after the kill;
after a callback's push, a child of its batch did (the batch was complete: only a child
whose end was not acked runs again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.chaos import killing, workflowcount
from tests.chaos.harness import Chaos
from tests.chaos.workflowcount import BatchPlan, ChainPlan


class Shots:
    """The ``aim`` of scenario 18's attack (see the module's docstring)."""

    def __init__(self, chaos: Chaos, batches: list[BatchPlan], chains: list[ChainPlan],
                 last: int) -> None:
        self.chaos, self.tail = chaos, killing.Tail(chaos.ledger)
        self.last = last
        self.sizes = {plan.id: len(plan.children) for plan in batches}
        self.ended: dict[str, set[str]] = {plan.id: set() for plan in batches}
        self.steps = {plan.steps[plan.number // 2 % len(plan.steps)] for plan in chains
                      if plan.number % 2 == 0}
        self.pushed_steps = {step for plan in chains if plan.number % 2 == 1
                             for step in plan.steps}
        self.aimed: set[str] = set()
        self.logs: dict[Path, killing.Tail] = {}

    def __call__(self, kills: list[dict[str, Any]]) -> bool:
        return self._after_ends(kills) | self._after_pushes(kills)

    def _after_ends(self, kills: list[dict[str, Any]]) -> bool:
        shot = False
        for e in self.tail.new():
            if e["event"] != "finish" or e["id"] in self.aimed or not self._end_aimed(e):
                continue
            if killing.kill_worker_of(self.chaos, e["pid"], kills, aimed=e["id"],
                                      after="end"):
                self.aimed.add(e["id"])
                shot = True
        return shot

    def _end_aimed(self, e: dict[str, Any]) -> bool:
        batch = e.get("batch")
        if batch in self.sizes:
            self.ended[batch].add(e["id"])
            return len(self.ended[batch]) > self.sizes[batch] - self.last
        return e["id"] in self.steps

    def _after_pushes(self, kills: list[dict[str, Any]]) -> bool:
        shot = False
        for worker in self.chaos.alive():
            tail = self.logs.setdefault(worker.log, killing.Tail(worker.log))
            for line in tail.lines():
                note = self._push_aimed(line)
                if note is not None and killing.kill_group(worker.pid, kills, **note):
                    self.aimed.add(note["aimed"])
                    worker.wait(10)
                    shot = True
                    break
        return shot

    def _push_aimed(self, line: str) -> dict[str, str] | None:
        found = workflowcount.pushed(line)
        if found is None:
            return None
        event, key, fields = found
        if key in self.aimed:
            return None
        if event == "chain_next":
            if key not in self.pushed_steps:
                return None
            return {"aimed": key, "after": "push", "told": fields.get("after", "")}
        return {"aimed": key, "after": "push", "batch": fields.get("batch", "")}


def landed(events: list[dict[str, Any]], kills: list[dict[str, Any]]) -> dict[str, int]:
    """Aimed kills, and those that landed, by moment (see the module's docstring)."""
    starts: dict[str, list[float]] = {}
    by_batch: dict[str, list[float]] = {}
    for e in events:
        if e["event"] == "start":
            starts.setdefault(e["id"], []).append(e["t"])
            if "batch" in e:
                by_batch.setdefault(e["batch"], []).append(e["t"])
    figures = {"after_end": 0, "after_end_landed": 0, "after_push": 0,
               "after_push_landed": 0}
    for k in kills:
        if "after" not in k:
            continue
        after = k["after"]
        if after == "end":
            again = starts.get(k["aimed"], ())
        elif k.get("told"):
            again = starts.get(k["told"], ())
        else:
            again = by_batch.get(k.get("batch", ""), ())
        figures[f"after_{after}"] += 1
        figures[f"after_{after}_landed"] += any(t > k["t"] for t in again)
    return figures
