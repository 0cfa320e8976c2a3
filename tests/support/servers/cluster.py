"""A real three-node Redis Cluster on 127.0.0.1 for the tests that claim Cluster support.

Started by the session fixture ``redis_cluster`` only when a test asks for it, owned by the
test process, and killed at the end of the session. Ports: ``JQ_REDIS_CLUSTER_PORT`` (default
17100) and the next two, and for the nodes' cluster bus the same + 10000: keep those below
Linux's ephemeral ports (from 32768), which any outgoing connection may hold.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

NODES = 3
DEADLINE = 20.0


def base_port() -> int:
    return int(os.environ.get("JQ_REDIS_CLUSTER_PORT", "17100"))


def url() -> str:
    return f"redis://127.0.0.1:{base_port()}/0"


def _cli(port: int, *args: str) -> str:
    done = subprocess.run(
        [shutil.which("redis-cli") or "redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True, text=True, timeout=10, check=False,
    )
    return done.stdout + done.stderr


def serving() -> bool:
    """Whether a cluster already serves on the first port (the bench reuses one)."""
    return "cluster_state:ok" in _cli(base_port(), "CLUSTER", "INFO")


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _wait(condition, what: str, procs: list[subprocess.Popen], home: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if dead := [n for n, proc in enumerate(procs) if proc.poll() is not None]:
            # Its log's last line says why (a port taken, most often).
            said = _last_line(home / str(base_port() + dead[0]) / "redis.log")
            raise RuntimeError(f"a cluster node exited while waiting for {what}: {said!r};"
                               f" see {home}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis cluster: {what} not reached in {DEADLINE:.0f} s; see {home}")
        time.sleep(0.05)


def start(home: Path) -> list[subprocess.Popen]:
    """Start the nodes in ``home``, join them into one cluster and wait until it serves."""
    ports = [base_port() + n for n in range(NODES)]
    procs = []
    for port in ports:
        node = home / str(port)
        node.mkdir(parents=True, exist_ok=True)
        log = (node / "redis.log").open("wb")
        procs.append(subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(port),
             "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(node / "nodes.conf"), "--dir", str(node),
             "--save", "", "--appendonly", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        ))
    try:
        _wait(lambda: all("PONG" in _cli(p, "PING") for p in ports), "PING", procs, home)
        addresses = [f"127.0.0.1:{port}" for port in ports]
        _cli(ports[0], "--cluster", "create", *addresses, "--cluster-replicas", "0",
             "--cluster-yes")
        _wait(lambda: all("cluster_state:ok" in _cli(p, "CLUSTER", "INFO") for p in ports),
              "cluster_state:ok", procs, home)
    except BaseException:
        stop(procs)
        raise
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait(10)
