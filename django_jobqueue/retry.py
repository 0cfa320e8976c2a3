"""The retry policy: a pure function of (policy, exception, attempts) to "retry in T" or "give up".

``retry_after`` on a Job may be:

- a number: the same delay (seconds) before every retry;
- a list or tuple: the delay before the 1st, 2nd, ... retry; the last value repeats, so RQ's
  ``Retry(max=3, interval=[10, 30, 60])`` is ``max_tries = 4; retry_after = [10, 30, 60]``;
- a backoff object such as :class:`ExponentialBackoff`, or any callable ``(retry) -> seconds``
  where ``retry`` counts from 1.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .exceptions import ENDINGS, DontRetry

RetryAfter = float | int | Sequence[float | int] | Callable[[int], float]


@dataclass(frozen=True)
class ExponentialBackoff:
    """``base * factor ** (retry - 1)`` seconds, capped at ``cap``, with optional jitter.

    ``jitter`` is the fraction of the delay drawn at random ("equal jitter" with 0.5: the
    delay lies between half and all of the computed value), which spreads a burst of
    failures so their retries do not arrive together.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 3600.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.cap < 0 or not 0 <= self.jitter <= 1:
            raise ValueError(
                "ExponentialBackoff needs base >= 0, factor >= 1, cap >= 0, 0 <= jitter <= 1"
            )

    def __call__(self, retry: int, rng: random.Random | None = None) -> float:
        # Cap the exponent before raising to it, so retry 10_000 cannot overflow a float.
        exponent = min(max(retry - 1, 0), 1024)
        try:
            delay = min(self.base * self.factor**exponent, self.cap)
        except OverflowError:
            delay = self.cap
        if self.jitter:
            spread = delay * self.jitter
            delay = delay - spread + (rng or random).random() * spread
        return delay


def retry_after_to_json(value: RetryAfter) -> Any:
    """``retry_after`` as it travels in a payload: a number, a list, or an exponential
    backoff as ``{"backoff": "exponential", ...}``. Other callables cannot travel."""
    if isinstance(value, ExponentialBackoff):
        return {"backoff": "exponential", **asdict(value)}
    if isinstance(value, bool) or callable(value):
        raise ValueError(f"retry_after {value!r} cannot be stored in a payload")
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    return float(value)


def retry_after_from_json(value: Any) -> RetryAfter:
    """The inverse of :func:`retry_after_to_json`; ``ValueError`` for anything else."""
    if isinstance(value, dict) and value.get("backoff") == "exponential":
        fields = {k: value[k] for k in ("base", "factor", "cap", "jitter") if k in value}
        if all(_is_number(v) for v in fields.values()):
            return ExponentialBackoff(**{k: float(v) for k, v in fields.items()})
    elif isinstance(value, list) and all(_is_number(v) for v in value):
        return [float(v) for v in value]
    elif _is_number(value):
        return float(value)
    raise ValueError(f"not a stored retry_after: {value!r:.100}")


def _is_number(value: Any) -> bool:
    """A finite int or float (a NaN or infinite delay cannot be scheduled)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Decision:
    """What happens after a failed attempt: ``retry`` after ``delay`` seconds, or give up."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


def delay_for(retry_after: RetryAfter, retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
    if callable(retry_after):
        value = retry_after(retry)
    elif isinstance(retry_after, (list, tuple)):
        if not retry_after:
            return 0.0
        value = retry_after[min(retry, len(retry_after)) - 1]
    else:
        value = retry_after
    delay = float(value)
    if not math.isfinite(delay):
        # Cannot be scheduled (the transports store due times as numbers): the caller's
        # broken-policy path retries without delay, as for a retry_after that raises.
        raise ValueError(f"retry_after gave {delay!r} seconds for retry {retry}")
    return max(delay, 0.0)


def is_unrecoverable(exc: BaseException, dont_retry: Sequence[type[BaseException]]) -> bool:
    """True when ``exc`` must fail the job at once, whatever tries remain."""
    return isinstance(exc, (DontRetry, *ENDINGS)) or (
        bool(dont_retry) and isinstance(exc, tuple(dont_retry)))


def decide(
    *,
    attempts: int,
    max_tries: int,
    retry_after: RetryAfter,
    unrecoverable: bool = False,
) -> Decision:
    """Decide the fate of a job whose attempt number ``attempts`` (from 1) just failed."""
    if unrecoverable:
        return Decision(False, reason="unrecoverable")
    if attempts >= max_tries:
        return Decision(False, reason=f"max_tries ({max_tries}) reached")
    return Decision(True, delay=delay_for(retry_after, attempts))
