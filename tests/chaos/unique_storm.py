"""``python -m tests.chaos.unique_storm``: one of scenario 16's dispatching processes.

Run with ``DJANGO_SETTINGS_MODULE=tests.chaos.settings``. It sets Django up and connects,
says it is ready (a file named after its pid in ``--ready``), waits for the ``--go`` file
that the test creates once every process is ready, then dispatches ``--count`` identical
unique jobs (one key) as fast as it can, and writes what each dispatch returned (id and
``duplicate``) as JSON lines to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--connection", "--gate", "--ready", "--go", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from django_jobqueue import dispatch
    from django_jobqueue.transports import get_transport
    from tests.chaos.harness import QUEUE
    from tests.chaos.jobs import UniqueHold
    from tests.support.waiting import wait_until

    get_transport(args.connection).size(QUEUE)  # connected before the start, not during it
    Path(args.ready, str(os.getpid())).touch()
    wait_until(lambda: os.path.exists(args.go), timeout=120, interval=0.005)
    began = time.time()
    results = [dispatch(UniqueHold(16, max_tries=1, timeout=300, hold_at_most=280,
                                   gate=args.gate),
                        connection=args.connection, queue=QUEUE) for _ in range(args.count)]
    ended = time.time()
    with open(args.out, "w") as fh:
        for one in results:
            fh.write(json.dumps({"id": one.id, "duplicate": one.duplicate}) + "\n")
        fh.write(json.dumps({"began": began, "ended": ended, "pid": os.getpid()}) + "\n")


if __name__ == "__main__":
    main()
