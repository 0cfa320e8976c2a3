"""The shop's partners, simulated, with the limits real ones have: a shop platform whose API
allows one open session per shop (a second one gets 409 Conflict), and a marketplace whose
API answers 429 Too Many Requests beyond five calls a second. Also the shop's own order
book (what happened to an order, in order) and the merchandising team's inbox, which the
workflows of ``shop/jobs.py`` write to and the demo reads back.

Their state is kept in files under ``<project>/.partners``, so that a worker's work horses,
separate processes, share it as they would share the real services. The flow-control jobs
of ``shop/jobs.py`` keep within these limits; were a limit not held, a job would fail and
the demo would say so.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

#: Calls the marketplace accepts in any second.
MARKETPLACE_CALLS_PER_SECOND = 5


class SessionBusy(Exception):
    """409 Conflict: the shop platform has a session open for this shop already."""


class TooManyRequests(Exception):
    """429 Too Many Requests: the marketplace's rate was passed."""


def _state_dir() -> Path:
    path = Path(settings.BASE_DIR) / ".partners"
    path.mkdir(exist_ok=True)
    return path


@contextmanager
def shop_session(shop: str) -> Iterator[None]:
    """An API session with the shop platform for ``shop``; ``SessionBusy`` if one is open."""
    path = _state_dir() / f"session-{shop}"
    try:
        path.open("x").close()  # created only if it does not exist, atomically
    except FileExistsError:
        raise SessionBusy(f"shop {shop}: a sync session is open already (409 Conflict)") \
            from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def marketplace_call(marketplace: str, sku: str) -> None:
    """One call to ``marketplace``'s API; ``TooManyRequests`` past its rate."""
    with (_state_dir() / f"calls-{marketplace}").open("a+") as log:
        fcntl.flock(log, fcntl.LOCK_EX)  # released when the file closes
        log.seek(0)
        now = time.time()
        recent = [float(at) for at in log.read().split() if now - float(at) < 1.0]
        if len(recent) >= MARKETPLACE_CALLS_PER_SECOND:
            raise TooManyRequests(f"{marketplace}: more than {MARKETPLACE_CALLS_PER_SECOND}"
                                  f" calls in a second (429), refused {sku}")
        log.seek(0)
        log.truncate()
        log.write(" ".join(repr(at) for at in [*recent, now]))


def record_order_event(order_id: int, event: str) -> None:
    """Append ``event`` to the order's history (one line each, appended whole)."""
    with (_state_dir() / f"order-{order_id}").open("a") as history:
        history.write(event + "\n")


def order_events(order_id: int) -> list[str]:
    """What happened to the order so far, oldest first."""
    path = _state_dir() / f"order-{order_id}"
    return path.read_text().splitlines() if path.exists() else []


def tell_merchandising(message: dict) -> None:
    """Post ``message`` to the merchandising team's inbox (a JSON line)."""
    with (_state_dir() / "merchandising-inbox").open("a") as inbox:
        inbox.write(json.dumps(message) + "\n")


def merchandising_inbox() -> list[dict]:
    """Every message posted to the merchandising team, oldest first."""
    path = _state_dir() / "merchandising-inbox"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def reset() -> None:
    """Demo only: forget the sessions, calls, orders and messages an earlier run left."""
    shutil.rmtree(Path(settings.BASE_DIR) / ".partners", ignore_errors=True)
