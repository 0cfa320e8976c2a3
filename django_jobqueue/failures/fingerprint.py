"""Fingerprints: one 40-hex id per kind of failure, so that failures can be grouped.

A fingerprint is the SHA-1 of three parts:

1. the exception class path (``shop.jobs.CardDeclined``);
2. the message, normalised: UUIDs, hex ids, quoted strings and numbers become placeholders,
   so ``order 42 not found`` and ``order 97 not found`` are one kind of failure;
3. the innermost traceback frame that belongs to application code (not the standard
   library, not ``site-packages``/``dist-packages``, not django-jobqueue itself), parsed
   from the stored traceback text: its file (last two path parts, so that two deployments
   in different directories agree), function and source line. The line *number* is left
   out: an edit further up the file should not make every failure look new. A failure
   with no application frame (a timeout, a killed work horse) uses its job class instead.

Pure functions of stored text: a record can be fingerprinted again at any time (the
migration that added the column does so for older rows).
"""

from __future__ import annotations

import hashlib
import re
import sysconfig
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .record import FailureRecord

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
     "<uuid>"),
    # A quote opening and closing outside words, so "can't" and "isn't" are left alone.
    (re.compile(r"""(?<!\w)'[^'\n]*'(?!\w)|(?<!\w)"[^"\n]*"(?!\w)"""), "<str>"),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<hex>"),
    # Hex ids (hashes, uuids without dashes): 8+ hex digits with a digit and a letter.
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
]
_MESSAGE_LIMIT = 1000

_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line \d+, in (?P<function>.+)$')
_CHAIN_HEADERS = ("\n\nCaused by:\n", "\n\nWhile handling:\n")
_LIBRARY_PARTS = ("site-packages", "dist-packages")
_STDLIB_DIRS = tuple(
    {sysconfig.get_paths()[key].rstrip("/") + "/" for key in ("stdlib", "platstdlib")}
)
_STDLIB_SHAPE = re.compile(r"/lib/python\d+\.\d+/")


@dataclass(frozen=True)
class Frame:
    """One traceback frame as parsed from text."""

    file: str
    function: str
    code: str = ""

    def key(self) -> str:
        tail = "/".join(PurePosixPath(self.file).parts[-2:])
        return f"{tail}:{self.function}:{self.code}"


def normalise_message(message: str) -> str:
    """The message with ids, numbers and quoted strings replaced by placeholders."""
    text = message[:_MESSAGE_LIMIT]
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text.strip()


def parse_frames(text: str) -> list[Frame]:
    """Frames of the first traceback in ``text`` (the raised exception's, not its causes')."""
    for header in _CHAIN_HEADERS:
        text = text.split(header, 1)[0]
    frames: list[Frame] = []
    for line in text.splitlines():
        match = _FRAME.match(line)
        if match:
            frames.append(Frame(match["file"], match["function"].strip()))
        elif frames and line.startswith("    ") and not frames[-1].code:
            code = line.strip()
            if code and set(code) - set("^~ "):  # skip the ^^^^ markers of Python >= 3.11
                frames[-1] = Frame(frames[-1].file, frames[-1].function, code)
    return frames


def is_application_file(path: str) -> bool:
    """False for the standard library, installed packages, django-jobqueue and ``<...>``."""
    if path.startswith("<"):
        return False
    parts = PurePosixPath(path).parts
    if any(part in _LIBRARY_PARTS for part in parts) or "django_jobqueue" in parts[:-1]:
        return False
    return not (path.startswith(_STDLIB_DIRS) or _STDLIB_SHAPE.search(path))


def application_frame(exception_text: str) -> Frame | None:
    """The innermost application frame of the stored exception text, if any."""
    for frame in reversed(parse_frames(exception_text)):
        if is_application_file(frame.file):
            return frame
    return None


def fingerprint(
    exception_class: str, message: str, exception_text: str = "", job_class: str = ""
) -> str:
    """The 40-hex fingerprint of a failure (see the module docstring).

    Without an application frame (timeouts, killed work horses, abandoned jobs: their
    traceback, if any, is django-jobqueue's own) the job class stands in for the frame, so
    that one job's timeouts are not grouped with every other job's.
    """
    frame = application_frame(exception_text)
    parts = [exception_class, normalise_message(message),
             frame.key() if frame else f"job:{job_class}"]
    return hashlib.sha1("\n".join(parts).encode(), usedforsecurity=False).hexdigest()


def fill_fingerprint(record: FailureRecord) -> FailureRecord:
    """Set ``record.fingerprint`` if it has none (records made before fingerprints existed
    and fresh ones alike); returns the record. A record kept for a job that did not fail
    (cancelled, expired) gets none: it is no kind of failure, so it joins no group, counts
    in no top fingerprint and is never announced as new, at no cost to those queries."""
    if not record.fingerprint and record.outcome == "failed":
        record.fingerprint = fingerprint(
            record.exception_class, record.message, record.exception, record.job_class)
    return record
