"""The side-by-side bench's own logic (``bench/``): latency records and percentiles, the
issue 17 targets and footnotes, and the MariaDB durability switch it starts servers with.
The bench itself runs from ``bench/run.py``, not here."""

from __future__ import annotations

import pytest

from bench import jobcount, latency, report
from tests.support.servers import mariadb, postgres


def test_stamps_round_trip_through_the_count_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(jobcount.ENV_VAR, str(tmp_path))
    jobcount.stamp(10.0)
    jobcount.stamp(11.5)
    assert jobcount.stamp_count(tmp_path) == 2
    (first_sent, first_started), (second_sent, _) = jobcount.stamps(tmp_path)
    assert (first_sent, second_sent) == (10.0, 11.5)
    assert first_started > 0


def test_a_record_being_written_is_not_read(tmp_path):
    (tmp_path / "latency").write_bytes(jobcount.STAMP.pack(1.0, 2.0) + b"\0\0\0")
    assert jobcount.stamps(tmp_path) == [(1.0, 2.0)]


def test_nearest_rank_percentiles():
    values = [float(n) for n in range(1, 101)]
    assert latency.percentile(values, 50) == 50.0
    assert latency.percentile(values, 99) == 99.0
    assert latency.percentile(values, 100) == 100.0
    assert latency.percentile([7.0], 95) == 7.0


def test_summary_ignores_the_warm_up_and_counts_unstarted_jobs_as_lower_bounds():
    sent = [100.0, 100.01, 100.02, 100.03]
    stamps = [(99.0, 99.5)] + [(s, s + 0.002) for s in sent[:3]]  # the last never started
    result = latency.summarise(stamps, sent, ended=101.03)
    assert result["missing"] == 1 and result["jobs"] == 3 and result["timeout"]
    assert result["latency_ms"]["p50"] == pytest.approx(2.0)
    assert result["latency_ms"]["max"] == pytest.approx(1000.0)


def _row(system, measurement, value, unit="jobs/s"):
    return {"system": system, "measurement": measurement, "value": value, "unit": unit,
            "values": [value], "note": ""}


def test_dispatch_is_held_against_the_bare_insert_and_huey():
    rows = [_row("ours/sqlite", "enqueue", 900), _row("substrate/sqlite", "orm-insert", 1000),
            _row("ours/sqlite", "enqueue-atomic", 700),
            _row("substrate/sqlite", "orm-insert-atomic", 1000),
            _row("ours/redis", "enqueue", 9000), _row("huey", "enqueue", 10000)]
    checks = {name: (got, want) for name, got, want in report.dispatch_checks(rows)}
    outside = next(v for k, v in checks.items() if k.startswith("sqlite") and "outside" in k)
    inside = next(v for k, v in checks.items() if k.startswith("sqlite") and "inside" in k)
    assert outside == (pytest.approx(0.9), 0.8)
    assert inside == (pytest.approx(0.7), 0.8)
    assert checks["redis dispatch one by one >= Huey's enqueue (ours/huey)"][0] == 0.9
    report.annotate(rows)
    assert rows[0]["vs_limit"] == pytest.approx(0.9)


def test_the_scheduler_and_unique_dispatch_are_held_against_their_own_baseline():
    rows = [_row("ours/redis", "drain-1-schedule", 970), _row("ours/redis",
                                                             "drain-1-noschedule", 1000),
            _row("ours/mariadb", "enqueue", 2000), _row("ours/mariadb", "enqueue-unique", 900)]
    checks = {name.split()[0]: (got, want) for name, got, want in report.schedule_checks(rows)}
    assert checks == {"redis": (pytest.approx(0.97), 0.98),
                      "mariadb": (pytest.approx(0.45), 0.5)}


def test_a_batch_is_held_against_the_same_jobs_dispatched_plain():
    rows = [_row("ours/redis", "plain-10k", 2.0, "s"), _row("ours/redis", "batch-10k", 2.2, "s"),
            _row("ours/redis", "plain-10k-drain", 1.5, "s"),
            _row("ours/redis", "batch-10k-drain", 1.8, "s"),
            _row("ours/mariadb", "plain-10k", 4.0, "s"),
            _row("ours/mariadb", "batch-10k", 5.0, "s"),
            _row("ours/sqlite", "batch-10k", 3.0, "s")]  # its plain run failed
    checks = {name.split()[0]: (got, want) for name, got, want in report.batch_checks(rows)}
    assert checks == {"redis": (pytest.approx(1.1), 1.15), "mariadb": (pytest.approx(1.25), 1.15),
                      "sqlite": (None, 1.15)}
    status = {t["target"].split()[0]: t["status"] for t in report.targets(rows)
              if "batch of 10k" in t["target"]}
    assert status == {"redis": "PASS", "mariadb": "MISS", "sqlite": "n/a"}
    report.annotate(rows)
    assert rows[3]["note"] == "1.20x plain"  # the part where the batch's time went
    assert rows[0]["note"] == ""


def test_a_batch_is_held_against_the_plain_run_beside_it_when_every_repetition_ran():
    plain = {**_row("ours/redis", "plain-10k", 2.0, "s"), "values": [1.0, 2.0, 4.0],
             "complete": True}
    batch = {**_row("ours/redis", "batch-10k", 2.2, "s"), "values": [1.1, 4.0, 4.2],
             "complete": True}
    ratio, pairs = report.batch_over_plain([plain, batch], batch)
    assert pairs == pytest.approx([1.1, 2.0, 1.05]) and ratio == pytest.approx(1.1)
    batch["complete"] = False  # a repetition failed: no pairs, the medians
    assert report.batch_over_plain([plain, batch], batch) == (pytest.approx(1.1), [])


def test_latency_targets_are_absolute_bounds():
    rows = [_row("ours/redis", "latency-p99", 4.0, "ms"),
            _row("ours/mariadb", "latency-p99", 60.0, "ms")]
    status = {t["target"].split()[0]: t["status"] for t in report.latency_targets(rows)}
    assert status["redis"] == "PASS"
    assert status["mariadb"] == "MISS"
    assert status["postgresql"] == "n/a"


def test_footnotes_name_the_non_defaults_of_the_systems_run():
    text = report.footnotes([_row("huey/thread", "latency-p99", 1.0, "ms"),
                             _row("dramatiq/redis", "drain-1", 1.0)])
    assert "huey/thread" in text and "dramatiq" in text
    assert "celery" not in text
    assert "innodb_flush_log_at_trx_commit=1" in text


@pytest.mark.parametrize(("value", "durable"), [("1", True), ("", False), ("0", False)])
def test_mariadb_durability_follows_the_environment(monkeypatch, value, durable):
    monkeypatch.setenv(mariadb.DURABLE_VAR, value)
    assert mariadb.durable() is durable
    flush = "1" if durable else "2"
    assert f"--innodb-flush-log-at-trx-commit={flush}" in mariadb.durability_args(durable)


@pytest.mark.parametrize(("running", "durable", "wrong"),
                         [(1, "1", False), (2, "1", True), (1, "", True), (2, "", False),
                          (None, "1", False)])
def test_a_server_of_the_other_durability_is_noticed(monkeypatch, running, durable, wrong):
    monkeypatch.setenv(mariadb.DURABLE_VAR, durable)
    settings = None if running is None else (running, "/elsewhere/mariadbd.pid")
    monkeypatch.setattr(mariadb, "running_settings", lambda port: settings)
    assert mariadb.wrong_durability(1) is wrong


def test_a_server_of_the_other_durability_that_is_not_ours_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(mariadb.DURABLE_VAR, "1")
    monkeypatch.setattr(mariadb, "running_settings",
                        lambda port: (2, "/elsewhere/mariadbd.pid"))  # not tmp_path's
    with pytest.raises(RuntimeError, match="another durability"):
        mariadb.start(1, tmp_path)


@pytest.mark.parametrize(("fsync", "durable", "wrong"),
                         [(True, "1", False), (False, "1", True), (True, "", True),
                          (False, "", False), (None, "1", False)])
def test_a_postgres_of_the_other_durability_is_noticed(monkeypatch, fsync, durable, wrong):
    monkeypatch.setenv(postgres.DURABLE_VAR, durable)
    monkeypatch.setattr(postgres, "_running_fsync", lambda port: fsync)
    assert postgres.wrong_durability(1) is wrong


def test_a_postgres_of_the_other_durability_that_is_not_ours_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(postgres.DURABLE_VAR, "1")
    monkeypatch.setattr(postgres, "_running_fsync", lambda port: False)
    monkeypatch.setattr(postgres, "_give_to_server_user", lambda path: None)
    with pytest.raises(RuntimeError, match="another durability"):
        postgres.start(1, tmp_path)  # no postmaster.pid there: not ours
