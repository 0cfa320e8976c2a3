"""Fingerprints: normalisation, application frames, storage, and NEW_FINGERPRINT_HANDLER."""

from __future__ import annotations

import importlib
import json
import threading

import pytest
from django.apps import apps
from django.db import connections
from django.utils.module_loading import import_string

from django_jobqueue import failures
from django_jobqueue import payload as payload_codec
from django_jobqueue.checks import check_settings
from django_jobqueue.exception_text import exception_text
from django_jobqueue.failures.fingerprint import (
    application_frame,
    fingerprint,
    normalise_message,
)
from django_jobqueue.failures.first_seen import claim_in_database
from django_jobqueue.failures.record import FailureRecord
from django_jobqueue.models import FailedJob, FailureFingerprint
from tests.support.factories import make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue, mysql_down

HANDLER = "tests.test_fingerprint.remember"
seen: list[FailureRecord] = []


def remember(record):
    seen.append(record)


def explode(record):
    raise RuntimeError("handler broke")


@pytest.fixture(autouse=True)
def _clear_seen():
    seen.clear()


def lookup_user(user_id):
    raise LookupError(f"user {user_id} not found")


def lookup_order(order_id):
    raise LookupError(f"user {order_id} not found")


def text_of(call, *args):
    try:
        call(*args)
    except Exception as exc:
        return exception_text(exc)
    raise AssertionError("no exception")


@pytest.mark.parametrize("messages", [
    ["user 42 not found", "user 9731 not found"],
    ["order 8f14e45f-ceea-467f-a8b6-7fc2b1e7f0a3 declined",
     "order 0b6a3e2e-1b7c-4d9a-9a55-0f3c2b1d4e5f declined"],
    ["object at 0x7f3a2b1c9d80 is gone", "object at 0x55d0c0ffee00 is gone"],
    ["KeyError 'alice' missing", 'KeyError "bob" missing'],
    ["checksum 9f86d081884c7d65 mismatch", "checksum 2c26b46b68ffc68f mismatch"],
    ["took 1.5s  then\ttimed out", "took 30.25s then timed out"],
])
def test_messages_differing_only_by_ids_share_a_fingerprint(messages):
    assert len({normalise_message(m) for m in messages}) == 1
    assert len({fingerprint("LookupError", m, "") for m in messages}) == 1


def test_words_are_kept():
    assert normalise_message("can't reach 'db1' isn't up") == "can't reach <str> isn't up"
    assert normalise_message("user 42 not found") != normalise_message("order 42 not found")


def test_class_and_frame_separate_fingerprints():
    a = text_of(lookup_user, 1)
    b = text_of(lookup_order, 2)
    assert application_frame(a).function == "lookup_user"
    same_frame = fingerprint("LookupError", "user 1 not found", a)
    assert same_frame == fingerprint("LookupError", "user 7 not found", text_of(lookup_user, 7))
    assert same_frame != fingerprint("LookupError", "user 1 not found", b)
    assert same_frame != fingerprint("KeyError", "user 1 not found", a)
    assert len(same_frame) == 40 and int(same_frame, 16) >= 0


def test_line_numbers_and_install_paths_do_not_matter():
    text = text_of(lookup_user, 1)
    moved = text.replace(", line ", ", line 1").replace('File "/', 'File "/srv/release-7/')
    assert fingerprint("E", "m", moved) == fingerprint("E", "m", text)


def parse_json():
    json.loads("{")


def parse_payload():
    payload_codec.loads("{")


def import_missing():
    import_string("no_such_module_xyz.thing")


@pytest.mark.parametrize(("call", "code"), [
    (parse_json, 'json.loads("{")'),                         # innermost: the stdlib's json
    (parse_payload, 'payload_codec.loads("{")'),             # ... django_jobqueue's code
    (import_missing, 'import_string("no_such_module_xyz.thing")'),  # ... site-packages
])
def test_innermost_application_frame_skips_libraries(call, code):
    frame = application_frame(text_of(call))
    assert (frame.function, frame.code) == (call.__name__, code)
    assert frame.file.endswith("tests/test_fingerprint.py")


def test_chained_causes_do_not_choose_the_frame():
    def outer():
        try:
            lookup_user(3)
        except LookupError as exc:
            raise ValueError("wrapped") from exc

    text = text_of(outer)
    assert "Caused by:" in text
    assert application_frame(text).function == "outer"


def test_without_an_application_frame_the_job_class_stands_in():
    killed = "work horse pid 123 was killed by signal 9 (SIGKILL)"
    other = "work horse pid 4567 was killed by signal 9 (SIGKILL)"
    assert fingerprint("WorkHorseKilled", killed, "", "shop.jobs.A") == fingerprint(
        "WorkHorseKilled", other, "", "shop.jobs.A")
    assert fingerprint("WorkHorseKilled", killed, "", "shop.jobs.A") != fingerprint(
        "WorkHorseKilled", killed, "", "shop.jobs.B")
    # With an application frame, the frame says where, whichever job ran it.
    text = text_of(lookup_user, 1)
    assert fingerprint("LookupError", "m", text, "shop.jobs.A") == fingerprint(
        "LookupError", "m", text, "shop.jobs.B")


def test_old_redis_entries_without_fingerprint_still_load():
    data = make().to_json_dict()
    del data["fingerprint"]
    record = FailureRecord.from_json_dict(data)
    assert record.fingerprint == ""


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_recording_stores_the_fingerprint_and_announces_new_ones_once(store):
    with jobqueue(FAILED_DATABASE=store, DEFAULT_CONNECTION="memory",
                  NEW_FINGERPRINT_HANDLER=HANDLER):
        first = failures.record(make(exc="KeyError"))
        again = failures.record(make(exc="KeyError"))
        other = failures.record(make(exc="OSError"))
    rows = {row.pk: row.fingerprint for row in FailedJob.objects.using(store)}
    assert rows[first.id] == rows[again.id] == first.fingerprint != rows[other.id]
    assert (first.new_fingerprint, again.new_fingerprint, other.new_fingerprint) == (
        True, False, True)
    assert [r.exception_class for r in seen] == ["KeyError", "OSError"]
    assert FailureFingerprint.objects.using(store).count() == 2


@pytest.mark.parametrize("store", STORES, indirect=True)
def test_a_raising_handler_is_logged_and_changes_nothing(store, caplog):
    with jobqueue(FAILED_DATABASE=store, NEW_FINGERPRINT_HANDLER="tests.test_fingerprint.explode"):
        recorded = failures.record(make())
    assert recorded.store == "database" and recorded.new_fingerprint
    assert FailedJob.objects.using(store).count() == 1
    assert "event=fingerprint_handler_raised" in caplog.text


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_concurrent_claims_have_one_winner():
    record = make()
    record.fingerprint = "f" * 40
    results, barrier = [], threading.Barrier(6)

    def claim():
        try:
            barrier.wait()
            results.append(claim_in_database("mysql", record))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]


@pytest.mark.django_db(transaction=True, databases=["default", "mysql"])
def test_fallback_entries_are_announced_when_moved_not_before(redis_client):
    with mysql_down(), jobqueue(FAILED_DATABASE="mysql", NEW_FINGERPRINT_HANDLER=HANDLER):
        recorded = failures.record(make())
        assert recorded.store == "redis" and not recorded.new_fingerprint
    stored = json.loads(redis_client.lindex("jqtest:queue:failed:default", 0))
    assert stored["fingerprint"] == recorded.fingerprint
    with jobqueue(FAILED_DATABASE="mysql", NEW_FINGERPRINT_HANDLER=HANDLER):
        assert seen == []
        assert failures.move_fallback() == 1
        assert [r.uuid for r in seen] == [stored["uuid"]]
    assert FailedJob.objects.using("mysql").get().fingerprint == recorded.fingerprint


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_redis_primary_claims_with_a_set(redis_client):
    with jobqueue(FAILED_STORE="redis", NEW_FINGERPRINT_HANDLER=HANDLER):
        assert failures.record(make()).new_fingerprint
        assert not failures.record(make()).new_fingerprint
    assert len(seen) == 1
    assert redis_client.scard("jqtest:queue:failed-fingerprints") == 1


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_migration_backfills_old_rows():
    recorded = {failures.record(make(exc=exc)).fingerprint for exc in ("KeyError", "KeyError",
                                                                          "OSError")}
    FailedJob.objects.update(fingerprint="")
    FailureFingerprint.objects.all().delete()
    migration = importlib.import_module("django_jobqueue.migrations.0002_fingerprints")
    editor = type("Editor", (), {"connection": connections["default"]})()
    migration.backfill(apps, editor)
    # The same fingerprints as recording computes, and all of them count as seen.
    assert set(FailedJob.objects.values_list("fingerprint", flat=True)) == recorded
    assert set(FailureFingerprint.objects.values_list("fingerprint", flat=True)) == recorded
    assert len(recorded) == 2


@pytest.mark.parametrize("path", ["no.such.handler", "tests.test_fingerprint.seen", 42])
def test_bad_handler_is_a_check_error(path):
    with jobqueue(NEW_FINGERPRINT_HANDLER=path):
        assert "django_jobqueue.E012" in {m.id for m in check_settings()}
    with jobqueue(NEW_FINGERPRINT_HANDLER=HANDLER):
        assert "django_jobqueue.E012" not in {m.id for m in check_settings()}
