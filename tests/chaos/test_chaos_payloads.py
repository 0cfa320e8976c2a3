"""Scenario 7: malformed payloads mixed with valid jobs.

One worker (same supervisor PID throughout) takes valid jobs interleaved with payloads pushed
straight into the store: Hypothesis-generated JSON, random bytes and text, truncated JSON,
names of importable callables (``os.system`` ...), unknown and non-Job class names, wrong
argument types, bad policy fields, huge arguments, deep nesting, invalid UTF-8. Every bad
one must become a failed row with a clear error class; every valid one must run; an audit
hook in the worker proves that no module a payload named was imported.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter

import pytest

from django_jobqueue.transports import PushItem
from tests.chaos import audit, jobs, payloads
from tests.chaos.harness import MARIADB_DB, QUEUE, TRANSPORTS, assert_sound, size

pytestmark = [pytest.mark.slow, MARIADB_DB]

VALID, BAD = size(100, 1000), size(100, 1000)
BIG = size(2 * 1024 * 1024, 10 * 1024 * 1024)


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_malformed_payloads_fail_cleanly_and_import_nothing(chaos, tmp_path):
    rng = random.Random(7)
    marker = tmp_path / "pwned"
    imports = tmp_path / "imports.jsonl"
    chaos.env["JQ_CHAOS_AUDIT"] = str(imports)
    kinds = payloads.kinds(str(marker), BIG, raw_bytes=chaos.connection == "redis")
    generated = iter(payloads.hypothesis_json(BAD // 4, seed=7))
    bad: dict[str, str] = {}
    valid_ids = []
    for i in range(max(VALID, BAD)):
        if i < VALID:  # valid jobs go through dispatch and its checks
            valid_ids.append(jobs.Step(i).dispatch(connection=chaos.connection, queue=QUEUE).id)
        if i < BAD:
            if i % 4 == 0:
                kind, raw = "hypothesis-json", json.dumps(next(generated))
            else:
                kind, make = kinds[(i - i // 4 - 1) % len(kinds)]
                raw = make(rng)
            if kind == "big-arguments" and i >= 3 * len(kinds):  # a few huge ones only
                kind, raw = "truncated-json", raw[:100]
            job_id = uuid.uuid4().hex
            bad[job_id] = kind
            chaos.transport.push(PushItem(job_id, QUEUE, raw))

    worker = chaos.worker("--burst", "--concurrency", "2")
    code = worker.wait(size(120, 900))
    rows = {row["uuid"]: row for row in chaos.failed_rows()}
    figures = chaos.tally([*valid_ids, *bad])
    entries = audit.imported(str(imports))
    loaded = {entry["module"] for entry in entries}
    horses = {e["pid"] for e in chaos.events("start")}
    classes = Counter(rows[i]["exception_class"].rsplit(".", 1)[-1] for i in bad if i in rows)
    figures.update(
        worker_exit=code,
        valid_done=sum(1 for i in valid_ids if i not in rows),
        bad_failed=sum(1 for i in bad if i in rows),
        error_classes=dict(classes),
        unclear=[(bad[i], rows[i]["exception_class"]) for i in bad
                 if i in rows and rows[i]["exception_class"] not in payloads.CLEAR_ERRORS][:5],
        horses_killed=len(chaos.events("killed")),
        loaded_in_horses=sorted({e["module"] for e in entries if e["pid"] in horses})[:20],
        canaries_loaded=sorted(loaded & set(payloads.CANARY_MODULES)),
        kinds=dict(Counter(bad.values())),
    )
    chaos.report("7-malformed-payloads", figures)
    assert code == 0, chaos.outputs()[-3000:]
    assert_sound(figures, hooks=False)
    assert figures["failed_hook_calls"] == {0: BAD}  # no instance: failed() cannot run
    assert figures["valid_done"] == VALID and figures["bad_failed"] == BAD
    assert figures["unclear"] == [] and figures["horses_killed"] == 0
    assert "django_jobqueue.worker.supervisor" in loaded  # the hook was live in the worker
    assert figures["canaries_loaded"] == [] and not chaos.events("canary_imported")
    assert not marker.exists()
    assert len(chaos.workers) == 1  # one supervisor PID from the first job to the last
