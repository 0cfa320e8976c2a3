"""Payloads: the versioned JSON document that travels through a transport.

A payload holds ``{"v", "id", "job", "data": {"args", "kwargs"}, "queue", "connection",
"max_tries", "timeout", "priority", "dispatched_at", "errors", "retry_of"}`` (payloads
written before 0.2 have no ``priority``: it was 0 or lost) and, when a job sets its own
policy per instance, ``"retry_after"`` (see ``Job.dispatch_overrides``). Arguments must be JSON;
``datetime``, ``date``, ``time``, ``UUID`` and ``Decimal`` values are encoded as tagged
objects and come back as the same type. Model instances are refused at dispatch: pass the
primary key and load the row in ``handle()``, so the job sees current data.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from typing import Any

from .conf import jobqueue_settings
from .exceptions import PayloadError

VERSION = 1
TAG = "__jq__"
_TAG_MARKER = f'"{TAG}"'


def _encode_special(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {TAG: "time", "v": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "v": str(value)}
    if isinstance(value, decimal.Decimal):
        return {TAG: "decimal", "v": str(value)}
    if isinstance(value, (set, frozenset)):
        raise PayloadError("sets are not JSON: pass a sorted list instead")
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        raise PayloadError(
            f"a model instance ({type(value).__name__}) cannot be a job argument: "
            "pass its primary key and load it in handle()"
        )
    raise PayloadError(f"{type(value).__name__} is not JSON-serialisable")


_DECODERS = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": decimal.Decimal,
}


# Built once: ``json.dumps`` with options of its own builds an encoder at every call.
_ENCODER = json.JSONEncoder(default=_encode_special, separators=(",", ":"), allow_nan=False)


_CANONICAL = json.JSONEncoder(default=_encode_special, separators=(",", ":"), allow_nan=False,
                              sort_keys=True)


def canonical(value: Any) -> str:
    """``value`` as JSON with sorted keys: equal arguments give equal text (unique keys)."""
    try:
        return _CANONICAL.encode(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"job arguments are not JSON: {exc}") from None


def _decode_special(obj: dict[str, Any]) -> Any:
    kind = obj.get(TAG)
    if kind is None:
        return obj
    try:
        return _DECODERS[kind](obj["v"])
    except (KeyError, ValueError, TypeError, decimal.InvalidOperation) as exc:
        raise PayloadError(f"bad tagged value {obj!r}: {exc}") from None


def _check_reserved_keys(value: Any) -> None:
    # A user dict with our tag key would be mistaken for a tagged value on the way back.
    if isinstance(value, dict):
        if TAG in value:
            raise PayloadError(f"the key {TAG!r} is reserved in job arguments")
        for item in value.values():
            _check_reserved_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_reserved_keys(item)


def _too_deep(data: Any, limit: int, tagged: bool = False) -> bool:
    """True if the arguments in ``data`` nest lists and dicts deeper than ``limit``
    (``tagged``: tagged values are still JSON objects, and count as the values they stand
    for)."""
    if not isinstance(data, dict):
        return False
    # The args list and kwargs dict themselves sit at depth -1: the values in them at 0
    # (any type: a payload read back may hold anything there).
    stack = [(data.get("args"), -1), (data.get("kwargs"), -1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if tagged and TAG in value:
                continue
            children: Any = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def dumps(payload: dict[str, Any], max_bytes: int | None = None,
          max_depth: int | None = None) -> str:
    """Serialise a payload, raising :class:`PayloadError` for arguments that are not JSON,
    nested deeper than ``max_depth`` or bigger than ``max_bytes``.

    One ``json.dumps`` pass: special types go through the ``default`` hook, so plain data
    pays nothing extra.
    """
    if max_depth is not None and _too_deep(payload.get("data"), max_depth):
        raise PayloadError(f"job arguments nest deeper than MAX_PAYLOAD_DEPTH={max_depth}")
    try:
        text = _ENCODER.encode(payload)
    except PayloadError:
        raise
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"job arguments are not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("job arguments are nested too deeply (or refer to themselves)") from None
    if _TAG_MARKER in text:
        _check_reserved_keys(payload.get("data"))
    if max_bytes is not None and len(text) > max_bytes:
        # Characters are a lower bound on bytes; measure exactly only when close.
        size = len(text.encode())
        if size > max_bytes:
            raise PayloadError(f"payload is {size} bytes, over MAX_PAYLOAD_BYTES={max_bytes}")
    return text


def loads(raw: str | bytes) -> dict[str, Any]:
    """Parse a stored payload; raise :class:`PayloadError` if it is not a valid payload."""
    try:
        if isinstance(raw, bytes):
            raw = raw.decode()
        # The object hook costs a call per dict: only pay it when a tagged value is present.
        hook = _decode_special if _TAG_MARKER in raw else None
        payload = json.loads(raw, object_hook=hook)
    except PayloadError:
        raise
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"payload is not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("payload is nested too deeply to parse") from None
    return _checked(payload)


def json_object(text: str | bytes | None) -> dict[str, Any] | None:
    """``text`` parsed as a JSON object; ``None`` when there is none, it is not JSON or not
    an object. For records other processes write (a status, a schedule's state), where an
    unreadable one counts as none."""
    try:
        value = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def checked(document: Any, raw: str) -> dict[str, Any]:
    """``document``, parsed from ``raw`` by plain ``json.loads`` (tagged values left as
    JSON), if :func:`loads` would accept ``raw``; else :class:`PayloadError`. For the
    supervisor, which reads a payload once and never rebuilds the job's arguments."""
    if _TAG_MARKER in raw:
        _check_tags(document)
    return _checked(document, tagged=True)


def _check_tags(value: Any) -> None:
    """Raise :class:`PayloadError` where :func:`loads` could not decode a tagged value."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            _decode_special(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _checked(payload: Any, tagged: bool = False) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("job"), str):
        raise PayloadError("payload is not a job payload (no 'job' name)")
    data = payload.get("data") or {}
    if not isinstance(data, dict):
        raise PayloadError("payload 'data' is not an object")
    # Dispatch refuses such arguments; a payload written some other way is refused here
    # too, whatever depth this Python's JSON parser happens to cope with.
    limit = jobqueue_settings.MAX_PAYLOAD_DEPTH
    if limit and _too_deep(data, limit, tagged):
        raise PayloadError(f"job arguments nest deeper than MAX_PAYLOAD_DEPTH={limit}")
    _check_policy(payload)
    return payload


def _check_policy(payload: dict[str, Any]) -> None:
    """Refuse policy fields that the worker could not apply (dispatch never writes them):
    they fail the job at once with a clear error instead of crashing a work horse."""
    max_tries = payload.get("max_tries")
    if max_tries is not None and (type(max_tries) is not int or max_tries < 1):
        raise PayloadError(f"payload 'max_tries' must be an integer >= 1, not {max_tries!r:.40}")
    timeout = payload.get("timeout")
    if timeout is not None and (
        type(timeout) not in (int, float) or not 0 < timeout < math.inf
    ):
        raise PayloadError(f"payload 'timeout' must be a positive number, not {timeout!r:.40}")
    if payload.get("retry_after") is not None:
        from .retry import retry_after_from_json

        try:
            retry_after_from_json(payload["retry_after"])
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"payload 'retry_after' is unusable: {exc}") from None


def decode_data(payload: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The constructor arguments of a payload parsed by :func:`loads`."""
    data = payload.get("data") or {}
    args, kwargs = data.get("args", []), data.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise PayloadError("payload arguments are malformed")
    return args, kwargs


def new_payload(
    *,
    job: str,
    data: dict[str, Any],
    queue: str,
    connection: str,
    max_tries: int,
    timeout: float | None,
    retry_of: str | None = None,
    job_id: str | None = None,
    priority: int = 0,
) -> dict[str, Any]:
    """A fresh payload, with a new id unless ``job_id`` is given."""
    return {
        "v": VERSION,
        "id": job_id or uuid.uuid4().hex,
        "job": job,
        "data": data,
        "queue": queue,
        "connection": connection,
        "max_tries": max_tries,
        "timeout": timeout,
        "priority": priority,
        "dispatched_at": dt.datetime.now(dt.UTC).isoformat(),
        "errors": [],
        "retry_of": retry_of,
    }
