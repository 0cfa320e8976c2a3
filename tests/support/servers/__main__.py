"""``python -m tests.support.servers [--line LINE] start|stop|status|env``.

``--line`` acts on that Django line's servers (``tests.support.servers.lines``); ``env``
prints the ``JQ_*`` variables that point a test run at them, one ``NAME=value`` a line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from tests.support.servers import ENV_VAR, ensure_servers, facts, lines, status, stop_servers
from tests.support.servers.process import say


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.servers")
    parser.add_argument("--line", choices=lines.LINES,
                        help="the servers of this Django line (default: the JQ_* variables)")
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    args = parser.parse_args(argv)
    since = time.monotonic()
    # One inherited from a shell would skip every check, or name another line's servers.
    os.environ.pop(ENV_VAR, None)
    chosen = lines.environment(args.line) if args.line else lines.first_line()
    os.environ.update(chosen)
    if args.command == "start":
        print(json.dumps(ensure_servers(), indent=2))
        say("ready", since)
    elif args.command == "stop":
        stop_servers()
        say("stopped", since)
    elif args.command == "status":
        known = facts()
        answers = status(known)
        print(json.dumps({**known, **answers}, indent=2))
        return 0 if all(answers.values()) else 1
    else:
        print("\n".join(f"{name}={value}" for name, value in chosen.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
