"""Job code that fights back: scenario 8 (hostile exceptions), 9 (timeouts the job does not
cooperate with) and 2 (jobs that allocate past the worker's memory limit)."""

from __future__ import annotations

import re

import pytest

from django_jobqueue.conf import jobqueue_settings
from tests.chaos import jobs
from tests.chaos.harness import (
    FAILED_DB,
    MARIADB_DB,
    TRANSPORTS,
    assert_sound,
    dispatch_all,
    percentile,
    size,
)
from tests.support.admin import LOCAL_CONNECTIONS, client_for, url
from tests.support.settings_overrides import jobqueue

pytestmark = [pytest.mark.slow, MARIADB_DB]

HOSTILE_KINDS = ["huge", "unprintable", "controls", "bad-utf8"]
# Raw control characters a log line must never carry (newlines end lines; tabs are kept).
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u2028\u2029]")


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_hostile_exceptions_are_stored_capped_logged_escaped(chaos):
    each = size(2, 10)
    ids = dispatch_all((jobs.Hostile(i, kind=kind) for kind in HOSTILE_KINDS
                        for i in range(each)), chaos.connection)
    ids += dispatch_all((jobs.Step(i) for i in range(each)), chaos.connection)
    worker = chaos.worker("--burst", "--concurrency", "2")
    code = worker.wait(size(120, 300))
    figures = chaos.tally(ids, max_tries=1)
    rows = chaos.failed_rows()
    log = worker.log.read_bytes().decode("utf-8", "backslashreplace")
    cap = jobqueue_settings.MAX_EXCEPTION_CHARS
    longest = max(len(row["exception"]) for row in rows)
    with jobqueue(FAILED_DATABASE=FAILED_DB, CONNECTIONS=LOCAL_CONNECTIONS,
                  DEFAULT_CONNECTION="memory"):
        from django_jobqueue.models import FailedJob

        client = client_for("superuser")
        pages = [client.get(url("change", pk)).content.decode("utf-8", "backslashreplace")
                 for pk in FailedJob.objects.using(FAILED_DB).values_list("pk", flat=True)]
    figures.update(
        worker_exit=code,
        rows=len(rows),
        longest_exception_chars=longest,
        exception_cap=cap,
        longest_message_chars=max(len(row["message"]) for row in rows),
        raw_controls_in_log=len(RAW_CONTROLS.findall(log)),
        admin_pages=len(pages),
        raw_script_in_admin=sum("<script>alert(" in page for page in pages),
        classes=sorted({row["exception_class"] for row in rows}),
    )
    chaos.report("8-hostile-exceptions", figures)
    assert code == 0, chaos.outputs()[-3000:]
    assert_sound(figures)
    assert figures["failed"] == each * len(HOSTILE_KINDS) and figures["done"] == each
    assert longest <= cap + 100 and figures["longest_message_chars"] <= 2000
    assert figures["raw_controls_in_log"] == 0
    assert figures["raw_script_in_admin"] == 0 and "&lt;script&gt;" in "".join(pages)


STUBBORN = [("busy", jobs.Stubborn), ("sleep", jobs.Stubborn),
            ("alarm-blocked", jobs.Stubborn), ("async-blocking", jobs.AsyncStubborn)]


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_uncooperative_jobs_never_run_past_timeout_plus_grace(chaos):
    each, timeout = size(2, 25), 1.0
    grace = jobqueue_settings.TIMEOUT_GRACE
    stubborn = [cls(i, how=how, timeout=timeout) for how, cls in STUBBORN for i in range(each)]
    ids = dispatch_all(stubborn, chaos.connection)
    followers = dispatch_all((jobs.Step(i) for i in range(len(stubborn))), chaos.connection)
    worker = chaos.worker("--burst", "--concurrency", "2")
    code = worker.wait(size(120, 600))
    figures = chaos.tally([*ids, *followers], max_tries=1)
    ends = {e["id"]: e["t"] for e in [*chaos.events("error"), *chaos.events("killed")]}
    overruns: dict[str, list[float]] = {}
    for start in chaos.events("start"):
        if start["id"] in ids and start["id"] in ends:
            how = stubborn[ids.index(start["id"])].options["how"]
            overruns.setdefault(how, []).append(ends[start["id"]] - start["t"] - timeout)
    every_overrun = [o for values in overruns.values() for o in values]
    rows = {row["uuid"]: row for row in chaos.failed_rows()}
    figures.update(
        worker_exit=code,
        timeout=timeout,
        grace=grace,
        timed_out=sum(1 for i in ids if "JobTimeout" in rows.get(i, {}).get("exception_class", "")),
        overrun_p50=percentile(every_overrun, 50),
        overrun_p99=percentile(every_overrun, 99),
        overrun_max_by_kind={how: round(max(v), 3) for how, v in overruns.items()},
        followers_done=sum(1 for i in followers if i not in rows),
    )
    chaos.report("9-uncooperative-timeouts", figures)
    assert code == 0, chaos.outputs()[-3000:]
    assert_sound(figures)
    assert figures["timed_out"] == len(ids) and figures["followers_done"] == len(followers)
    assert len(every_overrun) == len(ids)
    assert max(every_overrun) <= grace + 0.5, overruns


@pytest.mark.parametrize("chaos", TRANSPORTS, indirect=True)
def test_memory_hogs_are_killed_counted_and_recorded(chaos):
    count, tries, limit = size(4, 100), 3, 100
    ids = dispatch_all((jobs.Hog(i, mb=2 * limit, max_tries=tries) for i in range(count)),
                       chaos.connection)
    worker = chaos.worker("--burst", "--concurrency", "2", "--memory-limit", str(limit))
    code = worker.wait(size(120, 900))
    figures = chaos.tally(ids, max_tries=tries)
    rows = chaos.failed_rows()
    killed = chaos.events("killed")
    figures.update(
        worker_exit=code,
        memory_limit_mb=limit,
        attempts=len(chaos.events("start")),
        work_horse_killed_rows=sum(r["exception_class"].endswith("WorkHorseKilled") for r in rows),
        rows_with_max_rss=sum(bool(r["max_rss_kb"]) for r in rows),
        min_recorded_rss_mb=min((r["max_rss_kb"] or 0) // 1024 for r in rows) if rows else None,
        killed_handler_calls=len(killed),
        supervisor_pids={k["supervisor"] for k in killed} == {worker.pid},
    )
    chaos.report("2-oom-memory-limit", figures)
    assert code == 0, chaos.outputs()[-3000:]
    assert_sound(figures)
    assert figures["attempts"] == count * tries == figures["killed_handler_calls"]
    assert figures["work_horse_killed_rows"] == count == figures["rows_with_max_rss"]
    assert figures["failed_hook_calls"] == {1: count}
    assert figures["supervisor_pids"]  # one supervisor, alive from the first kill to the last
