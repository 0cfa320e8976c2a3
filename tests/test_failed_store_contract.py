"""The failed-job store contract (:class:`django_jobqueue.failures.base.FailedJobStore`),
written once and run on every store: the table on SQLite, MariaDB and PostgreSQL, the Redis
lists, and the fallback composite (table + Redis). A store of your own passes these by
adding its parameter to ``STORE_PARAMS``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from django_jobqueue.conf import DATABASE_STORE, FALLBACK_STORE, REDIS_STORE
from django_jobqueue.exceptions import FailedJobNotFound
from django_jobqueue.failures import FailedJobStore, PruneRequest
from django_jobqueue.failures.fingerprint import fill_fingerprint
from django_jobqueue.failures.retrying import push_again
from django_jobqueue.failures.stores import build
from django_jobqueue.transports import get_transport
from tests.support.factories import make
from tests.support.settings_overrides import jobqueue

_SQLITE = pytest.mark.django_db(transaction=True, databases=["default"])
_MARIADB = pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
_POSTGRES = pytest.mark.django_db(transaction=True, databases=["default", "postgres"])


def _table(alias: str) -> dict[str, Any]:
    return {"STORE": DATABASE_STORE, "OPTIONS": {"DATABASE": alias}}


STORE_PARAMS = [
    pytest.param(_table("default"), id="sqlite", marks=_SQLITE),
    pytest.param(_table("mysql"), id="mariadb", marks=_MARIADB),
    pytest.param(_table("postgres"), id="postgresql", marks=_POSTGRES),
    pytest.param({"STORE": REDIS_STORE, "OPTIONS": {}}, id="redis", marks=_SQLITE),
    # Its OPTIONS come from the session's cluster (see the fixture).
    pytest.param({"STORE": REDIS_STORE, "OPTIONS": {"CLUSTER": True}}, id="redis-cluster",
                 marks=_SQLITE),
    pytest.param({"STORE": FALLBACK_STORE, "OPTIONS": {
        "PRIMARY": _table("default"), "SECONDARY": {"STORE": REDIS_STORE, "OPTIONS": {}}}},
        id="fallback", marks=_SQLITE),
]


@pytest.fixture(params=STORE_PARAMS)
def failed_store(request: pytest.FixtureRequest, redis_client: Any) -> Iterator[FailedJobStore]:
    """The parametrised store, empty, with retries pushed to the empty memory connection."""
    config = request.param
    if config["OPTIONS"].get("CLUSTER"):
        url = request.getfixturevalue("redis_cluster")
        config = {**config, "OPTIONS": {"URL": url, "CLUSTER": True, "PREFIX": _fresh_prefix()}}
    with jobqueue(DEFAULT_CONNECTION="memory"):
        for queue in ("default", "a", "b"):
            get_transport("memory").clear(queue)
        store = build(config)
        yield store
        store.close()


def _fresh_prefix() -> str:
    # The session's cluster is not flushed between tests: each test gets keys of its own.
    return f"jqcontract{uuid.uuid4().hex[:8]}"


def stored(store: FailedJobStore, **options: Any) -> Any:
    """One failure recorded in ``store`` (fingerprinted, as the service does); its ref."""
    [item] = store.record_many([fill_fingerprint(make(**options))])
    return item.ref


def pushed(queue: str = "default") -> list[dict[str, Any]]:
    return [json.loads(job.payload) for job in
            get_transport("memory").reserve([queue], 100, 30, "contract")]


def test_it_declares_its_capabilities_and_passes_its_check(failed_store):
    assert failed_store.label and failed_store.check() == []
    assert failed_store in failed_store.parts() or len(failed_store.parts()) > 1
    for flag in ("supports_row_ids", "supports_full_prune", "supports_queryset"):
        assert isinstance(getattr(failed_store, flag), bool)


def test_record_many_keeps_order_and_a_job_id_stored_twice_once(failed_store):
    records = [fill_fingerprint(make(queue=q)) for q in ("a", "b", "a")]
    items = failed_store.record_many(records)
    assert [item.record.uuid for item in items] == [r.uuid for r in records]
    failed_store.record_many([records[0]])  # the same failure again, after a crash
    assert failed_store.count() == 3
    assert failed_store.record_many([]) == []


def test_get_by_ref_or_job_id_gives_the_record_and_where_it_is(failed_store):
    record = make(queue="a", exc="KeyError", message="order 7 missing")
    [item] = failed_store.record_many([fill_fingerprint(record)])
    for ref in (item.ref, record.uuid):
        found = failed_store.get(ref)
        assert (found.uuid, found.queue, found.exception_class, found.message) == (
            record.uuid, "a", "KeyError", "order 7 missing")
        assert found.store == item.store.label and found.ref == item.ref
        assert found.fingerprint == record.fingerprint and found.payload == record.payload
    for missing in ("f" * 32, "not-an-id"):
        with pytest.raises(FailedJobNotFound):
            failed_store.get(missing)


def test_select_is_newest_first_filtered_and_limited_and_count_agrees(failed_store):
    refs = [stored(failed_store, queue="a", age_hours=age) for age in (5, 1, 3)]
    stored(failed_store, queue="b", exc="OSError")
    assert [r.ref for r in failed_store.select(queue="a")] == [refs[1], refs[2], refs[0]]
    assert [r.ref for r in failed_store.select(2, queue="a")] == [refs[1], refs[2]]
    two_hours_ago = timezone.now() - dt.timedelta(hours=2)
    assert [r.ref for r in failed_store.select(queue="a", since=two_hours_ago)] == [refs[1]]
    assert [r.ref for r in failed_store.select(before=two_hours_ago)] == [refs[2], refs[0]]
    assert failed_store.count(queue="a") == 3 and failed_store.count() == 4
    assert failed_store.count(exception_class="OSError") == 1
    assert failed_store.queues() == ["a", "b"]


def test_refs_walk_oldest_first_and_skip_records_stored_meanwhile(failed_store):
    refs = [stored(failed_store, queue="a", age_hours=age) for age in (3, 2, 1)]
    walk = failed_store.refs(batch_size=2, queue="a")
    first = next(walk)
    stored(failed_store, queue="a")
    assert [first, *walk] == refs


def test_retry_pushes_again_then_deletes(failed_store):
    ref = stored(failed_store)
    old = failed_store.get(ref)
    new_id = failed_store.retry(ref, push_again)
    [payload] = pushed()
    assert payload["id"] == new_id and payload["retry_of"] == old.uuid
    with pytest.raises(FailedJobNotFound):
        failed_store.get(ref)


def test_a_push_that_fails_keeps_the_record(failed_store):
    ref = stored(failed_store)

    def refused(record):
        raise RuntimeError("the queue is down")

    with pytest.raises(RuntimeError):
        failed_store.retry(ref, refused)
    assert failed_store.get(ref).ref == ref
    with pytest.raises(FailedJobNotFound):
        failed_store.retry("f" * 32, push_again)


def test_forget_says_whether_it_was_there(failed_store):
    ref = stored(failed_store)
    assert failed_store.forget(ref) is True
    assert failed_store.forget(ref) is False
    assert failed_store.count() == 0


def test_prune_by_age_and_queue_with_a_dry_run_first(failed_store):
    for queue, days in [("a", 40), ("a", 50), ("b", 45), ("b", 1)]:
        stored(failed_store, queue=queue, age_hours=days * 24)
    month_ago = timezone.now() - dt.timedelta(days=30)
    plan = failed_store.prune(PruneRequest(before=month_ago, dry_run=True))
    assert plan.dry_run and plan.total == 3 and failed_store.count() == 4
    assert failed_store.prune(PruneRequest(before=month_ago, criteria={"queue": "a"})).total == 2
    assert failed_store.prune(PruneRequest(before=month_ago)).total == 1
    assert [r.queue for r in failed_store.select()] == ["b"]


def test_keep_and_other_criteria_only_where_supported(failed_store):
    for age in range(4):
        stored(failed_store, exc="KeyError", age_hours=age)
    if not failed_store.supports_full_prune:
        with pytest.raises(ValueError, match="only be pruned by age and queue"):
            failed_store.prune(PruneRequest(keep=1))
        with pytest.raises(ValueError):
            failed_store.prune(PruneRequest(criteria={"exception_class": "KeyError"}))
        return
    assert failed_store.prune(PruneRequest(
        keep=1, criteria={"exception_class": "KeyError"}, batch_size=1)).total == 3
    assert failed_store.count() == 1


def test_take_oldest_hands_over_then_deletes_and_keeps_on_a_failed_sink(failed_store):
    refs = [stored(failed_store, age_hours=age) for age in (3, 2, 1)]
    uuids = [failed_store.get(ref).uuid for ref in refs]

    def broken(records):
        raise RuntimeError("the primary is down")

    with pytest.raises(RuntimeError):
        failed_store.take_oldest(broken, batch=2)
    assert failed_store.count() == 3
    taken: list[Any] = []
    assert failed_store.take_oldest(taken.extend, batch=2) == 2
    assert sorted(r.uuid for r in taken) == sorted(uuids[:2])
    assert failed_store.count() == 1 and [r.ref for r in failed_store.select()] == refs[2:]


def test_a_fingerprint_is_claimed_once(failed_store):
    record = fill_fingerprint(make(exc="tests.errors.ContractOnly"))
    assert failed_store.claim_fingerprint(record) is True
    assert failed_store.claim_fingerprint(record) is False


def test_fingerprint_prefixes_and_stats(failed_store):
    for exc, hours in [("KeyError", 0), ("KeyError", 2), ("OSError", 30)]:
        stored(failed_store, queue="s", exc=exc, age_hours=hours)
    full = failed_store.select(exception_class="OSError")[0].fingerprint
    assert failed_store.fingerprints_starting(full[:6], 5) == [full]
    assert failed_store.count(fingerprint=full[:6]) == 1
    result = failed_store.stats(hours_since=timezone.now() - dt.timedelta(hours=24))
    assert result["total"] == 3
    assert [(g["exception_class"], g["count"]) for g in result["by_exception_class"]] == [
        ("KeyError", 2), ("OSError", 1)]
    assert result["by_fingerprint"][0]["count"] == 2
    assert sum(hour["count"] for hour in result["by_hour"]) == 2
    assert [(g["queue"], g["count"]) for g in result["by_queue"]] == [("s", 3)]


def test_a_remover_working_while_records_move_takes_nothing_else(failed_store):
    refs = [stored(failed_store, age_hours=age) for age in (4, 3, 2, 1)]
    uuids = [failed_store.get(ref).uuid for ref in refs]

    def meanwhile_retried_elsewhere(records):
        # The two handed over are deleted by another process (a retry, a prune) before
        # the mover deletes them itself: the two it never saw must stay.
        for record in records:
            failed_store.forget(record.uuid)

    failed_store.take_oldest(meanwhile_retried_elsewhere, batch=2)
    assert sorted(r.uuid for r in failed_store.select()) == sorted(uuids[2:])


@pytest.mark.parametrize("removal", ["forget", "retry", "prune", "take_oldest"])
def test_a_job_id_recorded_again_after_it_went_is_stored_once(failed_store, removal):
    record = fill_fingerprint(make())
    [item] = failed_store.record_many([record])
    if removal == "forget":
        failed_store.forget(item.ref)
    elif removal == "retry":
        failed_store.retry(item.ref, push_again)
    elif removal == "prune":
        failed_store.prune(PruneRequest(before=timezone.now() + dt.timedelta(hours=1)))
    else:
        failed_store.take_oldest(lambda records: None)
    assert failed_store.count() == 0
    failed_store.record_many([record])
    failed_store.record_many([record])  # and once more, as after a crash
    assert [r.uuid for r in failed_store.select()] == [record.uuid]
