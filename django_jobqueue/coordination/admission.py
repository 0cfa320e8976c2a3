"""The rule of :meth:`~.base.Coordination.admit`, as a pure function of the live holders.

The memory and database stores read the live holders, call :func:`decide` and write its
grants, all inside their lock or transaction; Redis runs the same rule in Lua
(:mod:`.redis_permits`), and the contract tests hold the three to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Admission, Permit

#: name -> {holder: seconds its permit has left}
Holders = dict[str, dict[str, float]]


def decide(groups: Sequence[Sequence[Permit]],
           live: Holders) -> tuple[list[Admission], dict[tuple[str, str], float]]:
    """The answer to each group, and the grants to write: ``{(name, holder): ttl}``.

    ``live`` is read before and is not changed: the groups are decided against a copy
    that each granted group's permits join, so they count against the groups after it.
    """
    held = {name: dict(holders) for name, holders in live.items()}
    grants: dict[tuple[str, str], float] = {}
    answers = []
    for group in groups:
        answer, granted = _decide_group(group, held)
        answers.append(answer)
        for (name, holder), ttl in granted.items():
            held.setdefault(name, {})[holder] = ttl
            grants[(name, holder)] = ttl
    return answers, grants


def _decide_group(group: Sequence[Permit],
                  held: Holders) -> tuple[Admission, dict[tuple[str, str], float]]:
    # The group's own earlier permits count against its later ones (two of one name).
    trial: Holders = {}
    for position, permit in enumerate(group):
        holders = trial.get(permit.name)
        if holders is None:
            holders = trial[permit.name] = dict(held.get(permit.name, {}))
        if permit.holder not in holders and len(holders) >= permit.limit:
            free_in = min(holders.values()) if holders else None
            return Admission(False, position, free_in), {}
        holders[permit.holder] = permit.ttl
    return Admission(True), {(p.name, p.holder): p.ttl for p in group}
