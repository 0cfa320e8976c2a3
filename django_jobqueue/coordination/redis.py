"""Coordination in Redis: each lock or value is a string key, changed by Lua scripts.

Keys carry the hash tag of their scope, ``{prefix:scope}``, the tag of the queue of that
name: a guard scoped by a queue lives in the queue's Cluster slot, so a guarded push is one
script. Locks expire by Redis's own clock. Permits are sorted sets (:mod:`.redis_permits`),
tallies pairs of hashes (:mod:`.redis_tallies`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .base import Advance, Coordination, Guard, Lock, Taken, stored_name
from .redis_lua import RELEASE, RENEW, TAKE_SCRIPT
from .redis_permits import RedisPermits
from .redis_tallies import RedisTallies


def key_of(prefix: str, scope: str, name: str, kind: str = "co") -> str:
    """The key of ``name`` in ``scope``: in the hash slot of the queue named ``scope``.
    ``kind`` keeps apart a lock or value (``co``), the permits (``permits``) and the tally
    (``tally``, ``tally-members``) of a name."""
    return f"{prefix}:{{{prefix}:{stored_name(scope)}}}:{kind}:{stored_name(name)}"


def guard_args(guard: Guard) -> list[Any]:
    """The four arguments of the Lua ``take()`` for ``guard``."""
    if isinstance(guard, Lock):
        return ["lock", guard.holder, max(int(guard.ttl * 1000), 1), ""]
    assert isinstance(guard, Advance)
    if guard.expected is None:
        return ["advance", "0", "", guard.new]
    return ["advance", "1", guard.expected, guard.new]


def taken_from(answer: Sequence[Any]) -> Taken:
    """``take_all()``'s ``{granted, value[, position]}`` as a :class:`Taken`."""
    current = answer[1] if len(answer) > 1 else None
    if isinstance(current, bytes):
        current = current.decode()
    refused_by = int(answer[2]) if len(answer) > 2 else None
    return Taken(bool(int(answer[0])), current, refused_by)


class RedisCoordination(Coordination):
    """Locks and values under ``prefix`` in the Redis that ``client()`` returns (the
    transport's client, made on first use)."""

    def __init__(self, connection: str, prefix: str, client: Callable[[], Any],
                 guarded: Callable[[Callable[[], Any]], Any]) -> None:
        super().__init__(
            connection,
            RedisPermits(lambda scope, name: key_of(prefix, scope, name, "permits"), self._run),
            RedisTallies(lambda scope, name, kind: key_of(prefix, scope, name, kind),
                         self._run, self._call))
        self.prefix = prefix
        self._client = client
        # The transport's error translation: a Redis that is down is a TransportError.
        self._guarded = guarded
        self._scripts: dict[str, Any] = {}

    def _script(self, name: str, source: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._client().register_script(source)
        return script

    def _run(self, name: str, source: str, keys: list[str], args: list[Any]) -> Any:
        script = self._script(name, source)
        return self._guarded(lambda: script(keys=keys, args=args, client=self._client()))

    def _call(self, command: Callable[[Any], Any]) -> Any:
        """Run one command on the client, its errors translated."""
        return self._guarded(lambda: command(self._client()))

    def take(self, guard: Guard) -> Taken:
        key = key_of(self.prefix, guard.scope, guard.name)
        return taken_from(self._run("take", TAKE_SCRIPT, [key], guard_args(guard)))

    def release(self, scope: str, name: str, holder: str) -> bool:
        key = key_of(self.prefix, scope, name)
        return bool(self._run("release", RELEASE, [key], [holder]))

    def renew(self, scope: str, name: str, holder: str, ttl: float) -> bool:
        key = key_of(self.prefix, scope, name)
        return bool(self._run("renew", RENEW, [key], [holder, max(int(ttl * 1000), 1)]))

    def read(self, scope: str, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        keys = [key_of(self.prefix, scope, name) for name in names]
        # One scope is one slot, so a Cluster answers this MGET from one node.
        values = self._guarded(lambda: self._client().mget(keys))
        return {name: value.decode() if isinstance(value, bytes) else value
                for name, value in zip(names, values, strict=True) if value is not None}

    def write(self, scope: str, name: str, value: str | None, ttl: float | None = None) -> None:
        key = key_of(self.prefix, scope, name)
        if value is None:
            self._guarded(lambda: self._client().delete(key))
        elif ttl is None:
            self._guarded(lambda: self._client().set(key, value))
        else:
            self._guarded(lambda: self._client().set(key, value, px=max(int(ttl * 1000), 1)))
