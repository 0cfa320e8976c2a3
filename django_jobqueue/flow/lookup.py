"""Finding a job by its id alone, on one connection or on every one: what cancelling and
``job_status`` start from."""

from __future__ import annotations

from django.db import DatabaseError

from ..conf import jobqueue_settings
from ..exceptions import ConfigurationError, JobQueueError
from ..status import known_queues, queues_of
from ..transports import FoundJob, Transport, get_transport

#: What a store that does not answer raises.
UNANSWERED = (JobQueueError, DatabaseError)


def connections_to_search(connection: str | None) -> list[str]:
    """``[connection]`` (``ConfigurationError`` if it is not configured), or every
    configured connection when ``None``: a job id names no connection."""
    if connection is None:
        return list(jobqueue_settings.CONNECTIONS)
    jobqueue_settings.connection(connection)
    return [connection]


def searchable(name: str, named: bool) -> Transport | None:
    """The transport of connection ``name`` if it can look jobs up; a connection the
    caller ``named`` that cannot is a ``ConfigurationError``, others are passed over."""
    transport = get_transport(name)
    if transport.finds_jobs:
        return transport
    if named:
        raise ConfigurationError(
            f"jobqueue connection {name!r}: {type(transport).__name__} cannot look jobs up")
    return None


def locate(
    job_id: str, connection: str | None = None, unanswered: list[Exception] | None = None
) -> tuple[Transport, FoundJob] | None:
    """Where job ``job_id`` is queued, taken or waiting: its transport and what the store
    holds; ``None`` when no queue of the connections searched (see
    :func:`connections_to_search`) has it.

    Each connection is asked for the queues worth looking at (:func:`queues_of`). A store
    that does not answer is passed over while another may have the job; if none has it,
    that store's error is raised ("not there" would be a guess), or added to
    ``unanswered`` when the caller has other places to look.
    """
    declared = known_queues()
    errors: list[Exception] = []
    for name in connections_to_search(connection):
        transport = searchable(name, named=connection is not None)
        if transport is None:
            continue
        try:
            found = transport.find(job_id, queues_of(transport, declared))
        except UNANSWERED as exc:
            errors.append(exc)
            continue
        if found is not None:
            return transport, found
    if errors and unanswered is None:
        raise errors[0]
    if unanswered is not None:
        unanswered += errors
    return None
