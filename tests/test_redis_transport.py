"""Redis-only behaviour of the transport: wake-ups of idle workers and key layout."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from django_jobqueue.transports import PushItem, get_transport
from tests.conftest import wait_until


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
