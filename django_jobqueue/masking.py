"""Masking secrets in stored payloads before a person sees them (admin, ``failed_jobs show``).

A value is masked when its key matches ``JOBQUEUE["SENSITIVE_KEYS"]`` (a regex searched
case-insensitively, in the spirit of Django's ``SafeExceptionReporterFilter``) at any depth,
or when it is a constructor argument the job class lists in ``sensitive_fields``. Positional
arguments are matched to their parameter names through the class's ``__init__`` signature;
the class is found through the job registry only, never by importing a name from a payload.
"""

from __future__ import annotations

import inspect
import json
import re
from functools import lru_cache
from typing import Any

from .conf import jobqueue_settings
from .exceptions import JobQueueError
from .jobs import resolve

MASK = "********************"


@lru_cache(maxsize=8)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def sensitive_key(key: str) -> bool:
    """Whether ``key`` matches ``SENSITIVE_KEYS`` (an empty pattern masks nothing)."""
    pattern = jobqueue_settings.SENSITIVE_KEYS
    return bool(pattern) and bool(_compiled(pattern).search(key))


def _masked(value: Any) -> Any:
    """``value`` with the values of every sensitive key replaced, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and sensitive_key(k) else _masked(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _parameter_names(cls: type) -> list[str]:
    """Names of the positional parameters of ``cls.__init__`` (``self`` left out)."""
    try:
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):  # a builtin or odd signature: no names to match
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds]


def _job_fields(job_name: Any) -> tuple[set[str], list[str]]:
    """The job class's ``sensitive_fields`` and positional parameter names (none for a
    class that is not registered: the key pattern still applies)."""
    try:
        cls = resolve(job_name)
    except JobQueueError:
        return set(), []
    return set(cls.sensitive_fields or ()), _parameter_names(cls)


def mask_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of a parsed payload with its secrets replaced by :data:`MASK`; the later
    steps a chain step carries are payloads too, each masked by its own job class."""
    masked = _masked(payload)
    _mask_chain_rest(payload, masked)
    data = payload.get("data")
    if not isinstance(data, dict):
        return masked
    fields, names = _job_fields(payload.get("job"))
    args, kwargs = data.get("args"), data.get("kwargs")
    out = masked["data"]
    if isinstance(args, list):
        out["args"] = [
            MASK if i < len(names) and (names[i] in fields or sensitive_key(names[i]))
            else out["args"][i]
            for i in range(len(args))
        ]
    if isinstance(kwargs, dict):
        out["kwargs"] = {k: MASK if k in fields else v for k, v in out["kwargs"].items()}
    return masked


def _mask_chain_rest(payload: dict[str, Any], masked: dict[str, Any]) -> None:
    # A step's ``chain.rest`` holds the next steps' arguments: the key pattern alone would
    # miss their classes' sensitive_fields and positional secrets.
    chain = payload.get("chain")
    rest = chain.get("rest") if isinstance(chain, dict) else None
    if isinstance(rest, list) and isinstance(masked.get("chain"), dict):
        masked["chain"]["rest"] = [mask_payload(step) if isinstance(step, dict) else
                                   _masked(step) for step in rest]


def masked_payload(raw: str) -> dict[str, Any] | None:
    """A stored payload parsed and masked; ``None`` if it is not a JSON object."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    return mask_payload(payload) if isinstance(payload, dict) else None


def masked_payload_text(raw: str) -> str:
    """A stored payload as indented JSON with its secrets masked. A payload that is not a
    JSON object is not shown at all: there is no telling which part of it is secret."""
    payload = masked_payload(raw)
    if payload is None:
        return f"(unreadable payload, {len(raw)} characters, hidden)"
    return json.dumps(payload, indent=2, sort_keys=True)
