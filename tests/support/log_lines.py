"""The shape of one of our log lines: ``key=value`` pairs, a value a bare word or a
double-quoted string with ``\\"`` and ``\\\\`` escapes."""

from __future__ import annotations

import re

# One pair: a bare word, or a double-quoted string with \" and \\ escapes.
PAIR = r'[a-z_]+=(?:[^\s"=\\]+|"(?:[^"\\]|\\.)*")'
LINE = re.compile(rf"^{PAIR}(?: {PAIR})*$")
