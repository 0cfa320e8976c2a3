"""What a setting may hold: each ``JOBQUEUE`` key declares one of these next to its default
(:data:`django_jobqueue.conf.SETTINGS`), and the system checks ask it what is wrong with a value.

A shape only looks at the value: whether a dotted path imports or a database answers is the
checks' business, since those have side effects.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """``value`` found at ``where`` (``""`` for the setting itself, else ``"['default']..."``)
    is not ``expected``."""

    expected: str
    value: Any
    where: str = ""
    #: A guess at what was meant (``"Did you mean 'redis'?"``), when there is one.
    hint: str | None = None

    def inside(self, key: str) -> Problem:
        return Problem(self.expected, self.value, f"[{key!r}]{self.where}", self.hint)

    def describe(self, name: str) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return (f"JOBQUEUE[{name!r}]{self.where} must be {self.expected},"
                f" not {shown} ({type(self.value).__name__}).")


class Shape:
    """The base: ``expected`` says in words what is allowed."""

    expected = "?"

    def problem(self, value: Any) -> Problem | None:
        return None if self.accepts(value) else Problem(self.expected, value)

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError


def is_number(value: Any) -> bool:
    """A finite int or float; ``True`` is not a number here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Number(Shape):
    """A number (an integer when ``integer``) above ``above`` or at least ``at_least``."""

    above: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    integer: bool = False
    nullable: bool = False

    @property
    def expected(self) -> str:  # type: ignore[override]
        kind = "an integer" if self.integer else "a number"
        bounds = [f"> {self.above:g}" if self.above is not None else "",
                  f">= {self.at_least:g}" if self.at_least is not None else "",
                  f"<= {self.at_most:g}" if self.at_most is not None else ""]
        text = " ".join([kind, *(b for b in bounds if b)])
        return f"{text} or None" if self.nullable else text

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if not is_number(value) or (self.integer and not isinstance(value, int)):
            return False
        return not ((self.above is not None and value <= self.above)
                    or (self.at_least is not None and value < self.at_least)
                    or (self.at_most is not None and value > self.at_most))


class Flag(Shape):
    expected = "True or False"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class Text(Shape):
    """A string; ``empty=False`` refuses ``""``; ``regex`` wants one that compiles."""

    empty: bool = True
    regex: bool = False

    @property
    def expected(self) -> str:  # type: ignore[override]
        if self.regex:
            return "a regular expression (a string that re.compile() accepts)"
        return "a string" if self.empty else "a non-empty string"

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, str) or (not self.empty and not value):
            return False
        if self.regex:
            try:
                re.compile(value)
            except re.error:
                return False
        return True


@dataclass(frozen=True)
class Choice(Shape):
    choices: tuple[str, ...]

    @property
    def expected(self) -> str:  # type: ignore[override]
        return " or ".join(repr(c) for c in self.choices)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.choices

    def problem(self, value: Any) -> Problem | None:
        if self.accepts(value):
            return None
        close = (difflib.get_close_matches(value, self.choices, n=1)
                 if isinstance(value, str) else [])
        return Problem(self.expected, value, hint=f"Did you mean {close[0]!r}?" if close else None)


@dataclass(frozen=True)
class Either(Shape):
    """One of two shapes (a value of 0.1's form, or today's)."""

    first: Shape
    second: Shape

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"{self.first.expected}, or {self.second.expected}"

    def problem(self, value: Any) -> Problem | None:
        if self.first.problem(value) is None:
            return None
        problem = self.second.problem(value)
        # A dict is meant as the second form: say what is wrong inside it.
        if problem is not None and problem.where == "" and not isinstance(value, dict):
            return Problem(self.expected, value, hint=self.first.problem(value).hint)
        return problem


@dataclass(frozen=True)
class Handler(Shape):
    """A dotted path (``"pkg.module.function"``), or, with ``objects``, a callable itself."""

    nullable: bool = False
    objects: bool = True

    @property
    def expected(self) -> str:  # type: ignore[override]
        text = "a dotted path or a callable" if self.objects else "a dotted path"
        return f"{text} or None" if self.nullable else text

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if isinstance(value, str):
            return "." in value.strip(".")
        return self.objects and callable(value)


@dataclass(frozen=True)
class Handlers(Shape):
    """A list or tuple of :class:`Handler` values (a lone string is the classic mistake)."""

    expected = "a list or tuple of dotted paths or callables"

    def problem(self, value: Any) -> Problem | None:
        if not isinstance(value, (list, tuple)):
            return Problem(self.expected, value)
        for index, item in enumerate(value):
            problem = Handler().problem(item)
            if problem is not None:
                return Problem(problem.expected, item, f"[{index}]")
        return None


class RetryAfter(Shape):
    expected = "a number >= 0, a list of them, an ExponentialBackoff or a callable"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return bool(value) and all(is_number(v) and v >= 0 for v in value)
        if is_number(value):
            return value >= 0
        return callable(value) and not isinstance(value, type)


class CheckedElsewhere(Shape):
    """Any value: one whose rules need more than a shape (a schedule entry's cron string, job
    class, time zone), reported by a check of its own with its own id."""

    expected = "anything"

    def accepts(self, value: Any) -> bool:
        return True


@dataclass(frozen=True)
class Table(Shape):
    """A dict with known keys, each with its shape; ``required`` ones must be present.
    Unknown keys are not a shape problem: the checks report them with a "did you mean"."""

    keys: Mapping[str, Shape]
    required: tuple[str, ...] = ()
    expected = "a dict"

    def problem(self, value: Any) -> Problem | None:
        if not isinstance(value, dict):
            return Problem(self.expected, value)
        for key in self.required:
            if key not in value:
                return Problem(f"a dict with a {key!r} key", value)
        for key, shape in self.keys.items():
            problem = shape.problem(value[key]) if key in value else None
            if problem is not None:
                return problem.inside(key)
        return None


@dataclass(frozen=True)
class NamedTables(Shape):
    """A dict of names to :class:`Table` values (``CONNECTIONS``), non-empty unless
    ``empty`` (``SCHEDULE``)."""

    table: Table
    empty: bool = False

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "a dict of names to dicts" if self.empty else "a non-empty dict of names to dicts"

    def problem(self, value: Any) -> Problem | None:
        if not isinstance(value, dict) or not (value or self.empty):
            return Problem(self.expected, value)
        for name, entry in value.items():
            problem = self.table.problem(entry)
            if problem is not None:
                return problem.inside(name)
        return None


@dataclass(frozen=True)
class Setting:
    """One ``JOBQUEUE`` key: its default and its shape."""

    default: Any
    shape: Shape
    # Checks older than the shapes kept their ids; the rest report E015.
    check_id: str = "E015"


def sub_tables(setting: Setting, value: Any) -> list[tuple[str, Mapping[str, Any], Table]]:
    """The dicts inside ``value`` whose keys are known: ``(where, dict, table)`` each."""
    shape = setting.shape
    if isinstance(shape, Either):
        shape = next((s for s in (shape.first, shape.second) if isinstance(s, Table)), shape)
    if isinstance(shape, Table) and isinstance(value, dict):
        return [("", value, shape)]
    if isinstance(shape, NamedTables) and isinstance(value, dict):
        return [(f"[{name!r}]", entry, shape.table)
                for name, entry in value.items() if isinstance(entry, dict)]
    return []
