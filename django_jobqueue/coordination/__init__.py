"""Coordination primitives shared by workers on every host: see :mod:`.base`.

Each transport gives the primitives of its own store as ``transport.coordination``.
"""

from __future__ import annotations

from .base import Advance, Coordination, Guard, Lock, Taken

__all__ = ["Advance", "Coordination", "Guard", "Lock", "Taken"]
