"""How fast one-by-one ``Job.dispatch()`` is, beside the bare insert of the same row.

    python bench/dispatch_profile.py sqlite --n 2000 --runs 5
    python bench/dispatch_profile.py postgres --only dispatch-each --n 20000   # under py-spy
    python bench/dispatch_profile.py redis --only dispatch-each --cprofile
    python bench/dispatch_profile.py huey --n 2000      # needs only huey and redis installed

Targets ``sqlite``, ``mariadb`` and ``postgres`` run the database transport on the servers
of ``tests.support.servers`` (databases of their own, ``jobqueue_dispatch``; SQLite as
docs/transports.md configures it: WAL, ``IMMEDIATE``, default ``synchronous``) and measure:

- ``dispatch-each``: N ``BenchNoop().dispatch()``, each its own transaction (autocommit);
- ``dispatch-atomic``: the same N inside one ``transaction.atomic()``;
- ``insert-each`` / ``insert-atomic``: N ``QueuedJob.objects.create(...)`` of the row that
  dispatch writes (same payload text), the substrate limit.

``redis`` measures ``dispatch-each`` against a bare ``LPUSH`` of the same payload text, one
round trip per job; ``huey`` measures Huey's own one-by-one enqueue (a pickled ``LPUSH``) on
the same server, run from an interpreter that has Huey (our environment does not).

Measures alternate within each run and the table between them is emptied (untimed), so
machine noise hits every measure alike; the medians of ``--runs`` runs are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATABASE = "jobqueue_dispatch"
QUEUE = "default"
DATABASE_TARGETS = ("sqlite", "mariadb", "postgres")
TARGETS = (*DATABASE_TARGETS, "redis", "huey")
REDIS_PREFIX = "jqdispatch"


@dataclass(frozen=True)
class Rate:
    """One timed measure: ``n`` operations in ``seconds``."""

    measure: str
    n: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.n / self.seconds


# -- settings and stores ------------------------------------------------------------------
def configure(target: str, servers: dict[str, str]) -> None:
    """Django settings of their own: one database and one jobqueue connection, the target's."""
    from django.conf import settings

    databases: dict[str, Any] = {"default": _sqlite()}
    if target == "mariadb":
        databases["default"] = {
            "ENGINE": "django.db.backends.mysql", "HOST": servers["MYSQL_HOST"],
            "PORT": servers["MYSQL_PORT"], "USER": servers["MYSQL_USER"],
            "PASSWORD": servers["MYSQL_PASSWORD"], "NAME": DATABASE,
            "OPTIONS": {"charset": "utf8mb4"},
        }
    elif target == "postgres":
        databases["default"] = {
            "ENGINE": "django.db.backends.postgresql", "HOST": servers["PG_HOST"],
            "PORT": servers["PG_PORT"], "USER": servers["PG_USER"],
            "PASSWORD": servers["PG_PASSWORD"], "NAME": DATABASE,
        }
    if target == "redis":
        transport = {"TRANSPORT": "django_jobqueue.transports.redis.RedisTransport",
                     "OPTIONS": {"URL": servers["REDIS_URL"], "PREFIX": REDIS_PREFIX}}
    else:
        transport = {"TRANSPORT": "django_jobqueue.transports.database.DatabaseTransport",
                     "OPTIONS": {"DATABASE": "default"}}
    settings.configure(
        SECRET_KEY="bench-only", USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_jobqueue",
                        "bench"],
        DATABASES=databases,
        JOBQUEUE={"CONNECTIONS": {"default": transport}},
        LOGGING_CONFIG=None,
    )


def _sqlite() -> dict[str, Any]:
    state = REPO / ".test-servers" / "dispatch-profile"
    state.mkdir(parents=True, exist_ok=True)
    # As docs/transports.md tells users to configure it.
    return {
        "ENGINE": "django.db.backends.sqlite3", "NAME": str(state / "dispatch.sqlite3"),
        "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL;"},
    }


def create_database(target: str, servers: dict[str, str]) -> None:
    """The target's own database on the test server (the suite's stay untouched)."""
    from bench import harness

    if target == "mariadb":
        harness.create_mariadb_database(servers, DATABASE)
    elif target == "postgres":
        harness.create_pg_database(servers, DATABASE)


def set_up(target: str) -> None:
    from tests.support.servers import ensure_servers

    servers = ensure_servers()
    create_database(target, servers)
    configure(target, servers)
    import django

    django.setup()
    if target in DATABASE_TARGETS:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


# -- the measures -------------------------------------------------------------------------
def sample_payload() -> str:
    """The payload text a dispatch of ``BenchNoop()`` writes (a fresh id and time)."""
    from bench.jobs import BenchNoop
    from django_jobqueue import payload

    body = payload.new_payload(job=BenchNoop.name, data={"args": [], "kwargs": {}},
                               queue=QUEUE, connection="default", max_tries=1, timeout=None)
    return payload.dumps(body)


def dispatch_each(n: int) -> None:
    from bench.jobs import BenchNoop

    for _ in range(n):
        BenchNoop().dispatch()


def dispatch_atomic(n: int) -> None:
    from django.db import transaction

    with transaction.atomic():
        dispatch_each(n)


def insert_each(n: int) -> None:
    import uuid

    from django_jobqueue.models import QueuedJob

    text = sample_payload()
    create = QueuedJob.objects.create
    for _ in range(n):
        now = time.time()
        create(uuid=uuid.uuid4().hex, queue=QUEUE, payload=text, priority=0, available_at=now,
               created_at=now)


def insert_atomic(n: int) -> None:
    from django.db import transaction

    with transaction.atomic():
        insert_each(n)


def lpush_each(n: int) -> None:
    from django_jobqueue.transports import get_transport

    client = get_transport("default").client
    key, text = f"{REDIS_PREFIX}:bare-lpush", sample_payload()
    for _ in range(n):
        client.lpush(key, text)


def huey_each(n: int) -> None:
    from huey import RedisHuey

    from tests.support.servers import facts

    huey = RedisHuey("jqdispatch", url=facts()["REDIS_URL"])

    @huey.task()
    def noop() -> None:
        """Never runs: only its enqueue is measured."""

    for _ in range(n):
        noop()


MEASURES: dict[str, dict[str, Callable[[int], None]]] = {
    **{target: {"dispatch-each": dispatch_each, "insert-each": insert_each,
                "dispatch-atomic": dispatch_atomic, "insert-atomic": insert_atomic}
       for target in DATABASE_TARGETS},
    "redis": {"dispatch-each": dispatch_each, "lpush-each": lpush_each},
    "huey": {"huey-each": huey_each},
}


def empty_store(target: str) -> None:
    """Untimed, between measures: every measure starts on an empty table (or queue)."""
    if target in DATABASE_TARGETS:
        from django_jobqueue.models import QueuedJob

        QueuedJob.objects.all().delete()
        return
    import redis

    from tests.support.servers import facts

    client = redis.Redis.from_url(facts()["REDIS_URL"])
    keys = [*client.scan_iter(f"{REDIS_PREFIX}:*"), *client.scan_iter("huey.*jqdispatch*")]
    if keys:
        client.delete(*keys)
    client.close()


def timed(name: str, measure: Callable[[int], None], n: int) -> Rate:
    started = time.perf_counter()
    measure(n)
    return Rate(name, n, time.perf_counter() - started)


def warm_up(target: str, measures: dict[str, Callable[[int], None]]) -> None:
    """Connections opened, scripts loaded, caches filled: not part of any figure."""
    for measure in measures.values():
        measure(50)
    empty_store(target)


def profiled(measure: Callable[[int], None], n: int) -> None:
    profile = cProfile.Profile()
    profile.runcall(measure, n)
    stats = pstats.Stats(profile).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def run(target: str, names: list[str], n: int, runs: int) -> dict[str, list[Rate]]:
    measures = {name: MEASURES[target][name] for name in names}
    warm_up(target, measures)
    rates: dict[str, list[Rate]] = {name: [] for name in names}
    for turn in range(runs):
        # Alternate the order too, so neither side always runs right after a clean table.
        order = names if turn % 2 == 0 else names[::-1]
        for name in order:
            rates[name].append(timed(name, measures[name], n))
            empty_store(target)
    return rates


def report(target: str, rates: dict[str, list[Rate]]) -> None:
    medians = {name: statistics.median(r.per_second for r in found)
               for name, found in rates.items()}
    for name, found in rates.items():
        each = ", ".join(f"{r.per_second:,.0f}" for r in found)
        print(f"{target:9} {name:16} median {medians[name]:>9,.0f}/s   runs: {each}")
    for kind in ("each", "atomic"):
        ours, bare = medians.get(f"dispatch-{kind}"), medians.get(f"insert-{kind}")
        if ours and bare:
            print(f"{target:9} dispatch/insert ({kind}): {ours / bare:.0%}")
    if medians.get("dispatch-each") and medians.get("lpush-each"):
        print(f"{target:9} dispatch/lpush: {medians['dispatch-each'] / medians['lpush-each']:.0%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--n", type=int, default=2000, help="operations per measure and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", action="append", help="measure(s) to run (default: all)")
    parser.add_argument("--cprofile", action="store_true",
                        help="profile the single --only measure once instead of timing it")
    args = parser.parse_args()
    names = args.only or list(MEASURES[args.target])
    unknown = sorted(set(names) - set(MEASURES[args.target]))
    if unknown:
        parser.error(f"{args.target} has no measure {', '.join(unknown)}")
    if args.target != "huey":
        set_up(args.target)
    if args.cprofile:
        if len(names) != 1:
            parser.error("--cprofile takes exactly one --only measure")
        warm_up(args.target, {names[0]: MEASURES[args.target][names[0]]})
        profiled(MEASURES[args.target][names[0]], args.n)
        empty_store(args.target)
        return 0
    report(args.target, run(args.target, names, args.n, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
