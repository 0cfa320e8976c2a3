"""Coordination primitives shared by workers on every host: see :mod:`.base`.

Each transport gives the primitives of its own store as ``transport.coordination``.
"""

from __future__ import annotations

from .base import Admission, Advance, Coordination, Guard, Lock, Permit, Permits, Taken
from .tallies import Tallies, Tally

__all__ = [
           "Admission",
           "Advance",
           "Coordination",
           "Guard",
           "Lock",
           "Permit",
           "Permits",
           "Taken",
           "Tallies",
           "Tally",
]
