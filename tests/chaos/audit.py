"""An audit hook for worker subprocesses: every module import goes to a JSON-lines file.

Installed from ``tests.chaos.settings`` when ``JQ_CHAOS_AUDIT`` names the file, before Django
loads any app, and inherited by forked work horses. The "import" event fires only when a
module is really loaded (not for one already in ``sys.modules``), so it shows exactly which
modules a worker loaded while it ran the payloads of a scenario.
"""

from __future__ import annotations

import json
import os
import sys
import time


def install(path: str) -> None:
    def hook(event: str, args: tuple) -> None:
        if event != "import":
            return
        line = json.dumps({"module": str(args[0]), "pid": os.getpid(), "t": time.time()})
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    sys.addaudithook(hook)


def imported(path: str) -> list[dict]:
    try:
        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []
