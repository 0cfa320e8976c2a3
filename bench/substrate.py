"""What the hardware allows, measured with the same servers and clients as the bench:
Redis round trips per second from Python (plain and pipelined), and a one-row
claim+delete loop on MariaDB and on SQLite, the least a database queue does per job.

Each loop runs for ``seconds`` and every client has a socket timeout, so a stuck server
costs a bounded wait, not a hung run.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PIPELINE = 100
ROWS = 200_000  # a fast loop may claim them all: it then stops early (see _loop)


def _loop(step: Callable[[], int], seconds: float) -> float:
    """Rate of ``step`` over ``seconds``, or over the time until it returns 0 (nothing
    left to claim)."""
    done, began = 0, time.perf_counter()
    end = began + seconds
    while time.perf_counter() < end:
        got = step()
        if not got:
            break
        done += got
    return done / (time.perf_counter() - began)


def redis_limits(url: str, seconds: float) -> dict[str, float]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    client.ping()

    def pipelined() -> int:
        pipe = client.pipeline(transaction=False)
        for _ in range(PIPELINE):
            pipe.ping()
        pipe.execute()
        return PIPELINE

    return {"redis-ping": _loop(lambda: client.ping() and 1, seconds),
            "redis-ping-pipelined": _loop(pipelined, seconds)}


def _fill(cursor: Any, sql: str, rows: int) -> None:
    batch = [("x" * 200,)] * 1000
    for _ in range(rows // len(batch)):
        cursor.executemany(sql, batch)


def mariadb_limit(server: dict[str, str], database: str, seconds: float) -> float:
    import MySQLdb

    conn = MySQLdb.connect(host=server["MYSQL_HOST"], port=int(server["MYSQL_PORT"]),
                           user=server["MYSQL_USER"], password=server["MYSQL_PASSWORD"],
                           database=database, read_timeout=30, write_timeout=30)
    cursor = conn.cursor()
    cursor.execute("DROP TABLE IF EXISTS bench_claim")
    cursor.execute("CREATE TABLE bench_claim (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
                   " payload VARCHAR(400) NOT NULL) ENGINE=InnoDB")
    _fill(cursor, "INSERT INTO bench_claim (payload) VALUES (%s)", ROWS)
    conn.commit()

    def claim() -> int:
        cursor.execute("SELECT id, payload FROM bench_claim ORDER BY id LIMIT 1"
                       " FOR UPDATE SKIP LOCKED")
        rows = cursor.fetchall()
        if not rows:
            conn.commit()
            return 0
        (row_id, _payload), = rows
        cursor.execute("DELETE FROM bench_claim WHERE id = %s", (row_id,))
        conn.commit()
        return 1

    try:
        return _loop(claim, seconds)
    finally:
        cursor.execute("DROP TABLE bench_claim")
        conn.close()


def sqlite_limit(path: Path, seconds: float) -> float:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    # The same settings as our SQLite connection (bench/settings_ours.py), which are those
    # docs/transports.md gives users: WAL, the write lock taken at BEGIN, timeout 30 s; the
    # synchronous level is SQLite's default (FULL), as no user is told to lower it.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE bench_claim (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    conn.execute("BEGIN")
    _fill(conn, "INSERT INTO bench_claim (payload) VALUES (?)", ROWS)
    conn.execute("COMMIT")

    def claim() -> int:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT id, payload FROM bench_claim ORDER BY id LIMIT 1").fetchone()
        if row is None:
            conn.execute("COMMIT")
            return 0
        conn.execute("DELETE FROM bench_claim WHERE id = ?", (row[0],))
        conn.execute("COMMIT")
        return 1

    try:
        return _loop(claim, seconds)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def measure(servers: dict[str, str], database: str, state: Path,
            seconds: float) -> dict[str, float]:
    """Ops/s of each limit, by name."""
    limits = redis_limits(servers["REDIS_URL"], seconds)
    limits["mariadb-claim-delete"] = mariadb_limit(servers, database, seconds)
    limits["sqlite-claim-delete"] = sqlite_limit(state / "substrate.sqlite3", seconds)
    return limits
