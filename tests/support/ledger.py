"""A ledger that jobs in any process append to: one JSON line per event, in ``JQ_LEDGER``.

Appends of one short line with O_APPEND are atomic on Linux, so horses of several workers can
write to the same file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def path() -> Path:
    return Path(os.environ["JQ_LEDGER"])


def write(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, "pid": os.getpid(), "t": time.time(), **fields})
    fd = os.open(path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read() -> list[dict[str, Any]]:
    try:
        text = path().read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def events(name: str) -> list[dict[str, Any]]:
    return [entry for entry in read() if entry["event"] == name]
