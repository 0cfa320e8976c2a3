"""What every peer adapter shares: where the servers are, and its own Redis database."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# ``bench/run.py`` publishes the servers it started (or found) in this variable, the way
# ``tests.support.servers`` hands them to its children; the peers' venv cannot import ``tests``.
SERVERS: dict[str, str] = json.loads(os.environ.get("JQ_TEST_SERVERS") or "{}")
BIN = Path(sys.executable).parent
# Each peer gets a Redis database of its own, so a reset is one FLUSHDB and no peer ever
# reads another's keys; ours uses database 0 under the ``jqbench`` prefix.
REDIS_DB = {"rq": 1, "celery": 2, "dramatiq": 3, "huey": 4}


def redis_url(peer: str) -> str:
    base = SERVERS.get("REDIS_URL") or "redis://127.0.0.1:{}/0".format(
        os.environ.get("JQ_REDIS_PORT", "16379"))
    return base.rsplit("/", 1)[0] + f"/{REDIS_DB[peer]}"


def flush(peer: str) -> None:
    import redis

    redis.Redis.from_url(redis_url(peer)).flushdb()


def variant() -> str:
    return os.environ.get("BENCH_VARIANT", "")
