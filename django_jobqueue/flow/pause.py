"""Pausing a queue of one connection: workers take no new jobs from it, running jobs finish,
and dispatch still queues jobs there (they wait, counted as ready, until it is resumed).

A pause is a durable value in the connection's coordination store
(:attr:`~django_jobqueue.transports.Transport.coordination`): scope :data:`FLOW_SCOPE`, name
``paused:<queue>``, a small JSON object ``{"at": <epoch seconds>, "by": "<who>"}``. So it
survives restarts of workers and of the store, every worker of the connection sees it, and
it works on every store (memory, SQLite, MariaDB, PostgreSQL, Redis, Redis Cluster; on Redis
all pauses share the hash slot of :data:`FLOW_SCOPE`, so :func:`paused` is one ``MGET``).

``manage.py pause_queue`` / ``resume_queue``, the admin's Queues page and ``queue_status``
call these functions; workers call :func:`paused` for the queues they serve.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..coordination import Advance, Coordination
from ..logutil import log_event
from ..transports import get_transport
from .names import FLOW_SCOPE, paused_name

logger = logging.getLogger(__name__)

#: The coordination scope of flow-control values.


@dataclass(frozen=True)
class Pause:
    """A paused queue of one connection, since when and by whom."""

    connection: str
    queue: str
    #: Epoch seconds (the clock of the host that paused it); ``0.0`` when the stored value
    #: could not be read (the queue still counts as paused).
    paused_at: float
    #: Who paused it, e.g. ``"admin:alice"`` or ``"command"``; ``""`` when unknown.
    by: str


def pause_queue(queue: str, connection: str | None = None, *, by: str = "") -> Pause:
    """Pause ``queue`` on ``connection`` (default: ``DEFAULT_CONNECTION``): workers take no
    new jobs from it; jobs they run already finish; dispatch still queues jobs there.

    Pausing a paused queue keeps the first pause (its time and who) and returns it; one
    whose stored value cannot be read is paused afresh. Raises ``ConfigurationError`` for an
    unknown connection, ``ValueError`` for an empty queue name and ``TransportError`` when
    the store does not answer."""
    co = _coordination(queue, connection)
    pause = Pause(co.connection, queue, time.time(), by)
    taken = co.take(Advance(FLOW_SCOPE, paused_name(queue), None, _stored(pause)))
    if not taken.granted and taken.current is not None:
        found = _read(co.connection, queue, taken.current)
        if found.paused_at:
            return found  # paused already: the first pause stands
        co.write(FLOW_SCOPE, paused_name(queue), _stored(pause))  # unreadable: replace it
    log_event(logger, logging.INFO, "queue_paused", connection=co.connection, queue=queue,
              by=by)
    return pause


def resume_queue(queue: str, connection: str | None = None) -> bool:
    """Let workers take jobs from ``queue`` on ``connection`` again; False when it was not
    paused (nothing changes). Raises as :func:`pause_queue` does."""
    co = _coordination(queue, connection)
    name = paused_name(queue)
    # Read first to answer "was it paused?": the contract's write does not say.
    if not co.read(FLOW_SCOPE, [name]):
        return False
    co.write(FLOW_SCOPE, name, None)
    log_event(logger, logging.INFO, "queue_resumed", connection=co.connection, queue=queue)
    return True


def paused(connection: str, queues: Sequence[str]) -> dict[str, Pause]:
    """The paused ones of ``queues`` on ``connection``, by queue name, in one read of the
    store. A stored value that cannot be read counts as a pause (``paused_at`` 0.0, ``by``
    ""): a pause never vanishes because of what it holds. Raises ``ConfigurationError`` for
    an unknown connection and ``TransportError`` when the store does not answer."""
    co = get_transport(connection).coordination
    names = {paused_name(queue): queue for queue in queues}
    found = co.read(FLOW_SCOPE, list(names))
    return {names[name]: _read(co.connection, names[name], found[name])
            for name in names if name in found}


def _coordination(queue: str, connection: str | None) -> Coordination:
    # Any other text is a queue: those that hold no jobs yet can be paused ahead of them.
    if not isinstance(queue, str) or not queue:
        raise ValueError(f"a queue name is a non-empty string, not {queue!r}")
    return get_transport(connection).coordination


def _stored(pause: Pause) -> str:
    return json.dumps({"at": pause.paused_at, "by": pause.by}, separators=(",", ":"))


def _read(connection: str, queue: str, text: str) -> Pause:
    """The pause stored as ``text``; an unreadable one is a pause of unknown time and author."""
    try:
        data = json.loads(text)
        at, by = float(data["at"]), data.get("by", "")
    except (ValueError, TypeError, KeyError):
        return Pause(connection, queue, 0.0, "")
    if not math.isfinite(at) or at <= 0 or not isinstance(by, str):
        return Pause(connection, queue, 0.0, "")
    return Pause(connection, queue, at, by)
