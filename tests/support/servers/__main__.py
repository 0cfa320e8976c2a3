"""``python -m tests.support.servers start|stop|status``."""

from __future__ import annotations

import json
import os
import sys
import time

from tests.support.servers import ENV_VAR, ensure_servers, facts, status, stop_servers
from tests.support.servers.process import say


def main(argv: list[str]) -> int:
    command, since = (argv[0] if len(argv) == 1 else ""), time.monotonic()
    if command == "start":
        os.environ.pop(ENV_VAR, None)  # one inherited from a shell would skip every check
        print(json.dumps(ensure_servers(), indent=2))
        say("ready", since)
    elif command == "stop":
        stop_servers()
        say("stopped", since)
    elif command == "status":
        known = facts()
        answers = status(known)
        print(json.dumps({**known, **answers}, indent=2))
        return 0 if all(answers.values()) else 1
    else:
        print("usage: python -m tests.support.servers start|stop|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
