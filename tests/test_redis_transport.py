"""Redis-only behaviour of the transport: wake-ups of idle workers and key layout."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from django_jobqueue.transports import PushItem, get_transport
from tests.support.waiting import wait_until


@pytest.fixture
def transport(redis_client):
    return get_transport("redis")


def _items(count: int) -> list[PushItem]:
    return [PushItem(uuid.uuid4().hex, "default", '{"job":"x"}') for _ in range(count)]


def test_wakeups_left_by_pushes_are_dropped_once_the_queue_is_empty(transport, redis_client):
    for item in _items(5):
        transport.push(item)
    notify = transport.keys("default")[-1]
    assert redis_client.llen(notify) == 5
    assert len(transport.reserve(["default"], 10, 30, "t")) == 5
    assert redis_client.llen(notify) == 0
    # So an idle worker blocks for its whole wait instead of spinning on stale wake-ups.
    started = time.monotonic()
    transport.wait(["default"], 0.3)
    assert time.monotonic() - started >= 0.25


def test_wakeups_pile_up_to_a_thousand_at_most(transport, redis_client):
    # Pushes trim the wake-up list only once it is long: it still never passes 1,000.
    notify = transport.keys("default")[-1]
    redis_client.rpush(notify, *[1] * 998)
    for item in _items(4):
        transport.push(item)
    assert redis_client.llen(notify) == 1000
    transport.push_many(_items(100))
    assert redis_client.llen(notify) == 1000


def test_a_push_after_the_server_lost_its_scripts_loads_them_again(transport, redis_client):
    transport.push(_items(1)[0])
    redis_client.script_flush()
    transport.push(_items(1)[0])
    assert transport.size("default").ready == 2


def test_a_bulk_push_wakes_every_idle_worker(transport, redis_client):
    woke: list[float] = []
    lock = threading.Lock()

    def idle_worker() -> None:
        transport.wait(["default"], 10)
        with lock:
            woke.append(time.monotonic())

    threads = [threading.Thread(target=idle_worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: redis_client.info("clients")["blocked_clients"] == 3, timeout=5)
    pushed = time.monotonic()
    transport.push_many(_items(3))
    for thread in threads:
        thread.join(5)
    assert len(woke) == 3
    assert max(woke) - pushed < 1.0  # not their 10 s timeout


def test_every_key_of_a_queue_shares_one_hash_tag(transport):
    keys = transport.keys("emails")
    tags = {key[key.index("{") : key.index("}") + 1] for key in keys}
    assert tags == {"{jqtest:emails}"}


def _push_bad_id_behind(transport, redis_client, good: PushItem) -> bytes:
    """Another client's entry whose id is not UTF-8, queued behind ``good``."""
    transport.push(good)
    bad = b"\xff\xfe-not-utf8"
    jobs, ready = transport.keys("default")[:2]
    redis_client.hset(jobs, bad, '{"job": "x"}')
    redis_client.zadd(ready, {bad: redis_client.zscore(ready, good.id) + 1})
    return bad


def test_an_id_that_is_not_utf8_affects_only_its_own_entry(transport, redis_client):
    good = _items(1)[0]
    bad = _push_bad_id_behind(transport, redis_client, good)
    taken = transport.reserve(["default"], 10, 30, "t")
    assert taken[0].id == good.id
    [odd] = taken[1:]
    assert odd.id.startswith("\udcff\udcfe")  # its bytes stay recognisable
    assert transport.renew(taken, 30) == []  # both leases still held, none lost
    assert transport.ack(odd) and transport.ack(taken[0])
    assert redis_client.hlen(transport.keys("default")[0]) == 0
    assert not redis_client.exists(transport.keys("default")[3])
    assert bad not in redis_client.hkeys(transport.keys("default")[0])


def test_an_expired_lease_of_an_id_that_is_not_utf8_is_collected_alone(transport, redis_client):
    good = _items(1)[0]
    _push_bad_id_behind(transport, redis_client, good)
    taken = transport.reserve(["default"], 10, 0.05, "t")
    assert len(taken) == 2
    wait_until(lambda: len(collected := transport.collect(["default"], 10, 30, "c")) == 2
               and collected, timeout=5)
    assert transport.size("default").reserved == 2


def test_an_unreadable_worker_entry_hides_no_real_worker(transport, redis_client):
    from django_jobqueue.transports.base import WorkerInfo

    info = WorkerInfo("w1", "host", 1, "redis", ("default",), 1, time.time())
    transport.register_worker(info, ttl=30)
    registry, expiry = transport.registry_keys()
    for name, entry in ((b"\xff", b"\xff{"), (b"odd", b"[1, 2]"), (b"nul", b"null")):
        redis_client.hset(registry, b"i:" + name, entry)
        redis_client.zadd(expiry, {name: (time.time() + 30) * 1000})
    assert [worker.name for worker in transport.workers()] == ["w1"]
