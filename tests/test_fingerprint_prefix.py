"""Fingerprints given by prefix (as the commands and the admin show them: 12 hex digits), on
the database stores and the Redis store: through the service and through the commands."""

from __future__ import annotations

import json
import re

import pytest

from django_jobqueue import failures
from django_jobqueue.failures.estimates import groups
from django_jobqueue.failures.fingerprint import fingerprint
from django_jobqueue.transports import get_transport
from tests.support.commands import command, refused
from tests.support.factories import kinds_sharing_a_prefix, make
from tests.support.params import STORES
from tests.support.settings_overrides import jobqueue


@pytest.fixture(params=[pytest.param(p.values[0], id=p.id) for p in STORES]
                + [pytest.param("redis", id="redis-store")])
def any_store(request, redis_client):
    """Each database store (``FAILED_DATABASE``), then the Redis store
    (``FAILED_STORE = "redis"``), with retries pushed to the empty memory connection."""
    if request.param == "redis":
        settings = jobqueue(FAILED_STORE="redis", DEFAULT_CONNECTION="memory")
    else:
        settings = jobqueue(FAILED_DATABASE=request.param, DEFAULT_CONNECTION="memory")
    with settings:
        get_transport("memory").clear("default")
        yield request.param


def shown_prefixes() -> dict[str, int]:
    """``{12-digit fingerprint: count}`` from ``failed_jobs_stats``'s "Top fingerprints"."""
    out, _ = command("failed_jobs_stats")
    section = out.split("Top fingerprints:\n", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in section.splitlines()[1:]]
    return {row[0]: int(row[1]) for row in rows}


@pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])
def test_the_shown_prefix_selects_its_kind_in_every_command(any_store):
    for _ in range(2):
        failures.record(make(exc="KeyError"))
    failures.record(make(exc="OSError"))
    shown = shown_prefixes()
    [prefix] = [p for p, n in shown.items() if n == 2]
    assert len(prefix) == 12
    out, _ = command("failed_jobs", "--fingerprint", prefix, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["exception_class"] for row in rows] == ["KeyError", "KeyError"]
    assert rows[0]["fingerprint"].startswith(prefix)
    out, _ = command("failed_jobs", "--fingerprint", prefix.upper())
    assert len(out.splitlines()) == 3  # header and two rows
    out, _ = command("retry_failed_jobs", "--fingerprint", prefix[:6], "--dry-run")
    assert out == "Would retry 2 failed jobs (default 2).\n"
    out, _ = command("retry_failed_jobs", "--fingerprint", prefix)
    assert out == "Retried 2 failed jobs (default 2).\n"
    assert len(get_transport("memory").reserve(["default"], 10, 30, "t")) == 2


@pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])
def test_service_functions_take_a_prefix(any_store):
    record = make(exc="KeyError")
    failures.record(record)
    failures.record(make(exc="OSError"))
    full = record.fingerprint
    assert failures.count(fingerprint=full[:12]) == 1
    if any_store == "redis":
        found = failures.part("redis").select(fingerprint=full[:5])
        assert [r.uuid for r in found] == [record.uuid]
        return
    assert failures.count(fingerprint=full[:4]) == 1
    assert [row.uuid for row in failures.select(fingerprint=full[:8])] == [record.uuid]
    table = failures.table()
    assert [g["fingerprint"] for g in groups(table.filter(fingerprint=full[:8]))] == [full]
    assert failures.prune(fingerprint=full[:12]) == 1
    assert failures.count() == 1


@pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])
def test_an_ambiguous_prefix_lists_the_candidates(any_store):
    first, second = kinds_sharing_a_prefix()
    failures.record(make(exc=first))
    failures.record(make(exc=second))
    prefix = fingerprint(first, "it broke", "", "tests.jobs.Record")[:4]
    error = refused("failed_jobs", "--fingerprint", prefix, match="is ambiguous")
    assert error.returncode == 2
    candidates = re.findall(r"\b[0-9a-f]{40}\b", str(error))
    assert sorted(candidates) == candidates and len(candidates) == 2
    assert all(c.startswith(prefix) for c in candidates)
    refused("retry_failed_jobs", "--fingerprint", prefix, match="is ambiguous")
    with pytest.raises(failures.FingerprintLookupError) as raised:
        failures.part("redis").select(fingerprint=prefix) if any_store == "redis" else (
            failures.count(fingerprint=prefix))
    assert raised.value.candidates == candidates
    # One more digit than they share tells them apart.
    shared = next(i for i, (a, b) in enumerate(zip(*candidates, strict=True)) if a != b)
    longer = candidates[0][:shared + 1]
    out, _ = command("failed_jobs", "--fingerprint", longer, "--json")
    assert [json.loads(line)["fingerprint"] for line in out.splitlines()] == [candidates[0]]


@pytest.mark.django_db(transaction=True, databases=["default", "mysql", "postgres"])
def test_a_prefix_matching_nothing_says_so(any_store):
    taken = make()
    failures.record(taken)
    unused = next(p for p in ("0000", "1111", "2222")
                  if not taken.fingerprint.startswith(p))
    for name in ("failed_jobs", "retry_failed_jobs"):
        error = refused(name, "--fingerprint", unused + "abcd",
                        match=f"no failed job has a fingerprint starting with {unused}abcd")
        assert error.returncode == 2


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.parametrize("bad", ["abc", "xyz1", "a" * 41, "12 34"])
def test_malformed_fingerprints_are_refused_before_reading(bad):
    for name in ("failed_jobs", "retry_failed_jobs"):
        refused(name, "--fingerprint", bad, match="is not a fingerprint")
