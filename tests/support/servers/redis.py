"""The shared redis-server of the tests (``tests.support.servers`` starts and stops it)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from functools import partial
from pathlib import Path

from tests.support.servers import process

DEADLINE = 10.0


def facts() -> dict[str, str]:
    port = os.environ.get("JQ_REDIS_PORT", "16379")
    return {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "REDIS_PORT": port}


def command(port: int, line: bytes) -> bytes:
    """Send one command in the raw inline protocol (so starting and stopping need no redis
    client library) and return the start of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(line + b"\r\n")
        return sock.recv(64)


def answers(port: int) -> bool:
    try:
        return command(port, b"PING").startswith(b"+PONG")
    except OSError:
        return False


def start(port: int, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    log, pidfile = home / "redis.log", home / "redis.pid"
    pidfile.unlink(missing_ok=True)  # so a stale pid cannot pass the liveness check below
    args = [process.binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--daemonize", "yes", "--dir", str(home), "--pidfile", str(pidfile)]
    args += ["--logfile", str(log), "--save", "", "--appendonly", "no"]
    done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise process.failure(f"redis-server failed: {done.stderr.decode(errors='replace')}", log)

    def alive() -> bool:
        pid = process.read_pid(pidfile)  # written a moment after the daemonising parent exits
        return pid is None or process.pid_alive(pid, "redis-server")

    process.wait_for(partial(answers, port), alive, DEADLINE, "redis-server", log)


def stop(port: int, home: Path) -> None:
    def shutdown(_pid: int) -> None:
        with contextlib.suppress(OSError):  # redis closes the connection instead of replying
            command(port, b"SHUTDOWN NOSAVE")

    process.stop_process(home / "redis.pid", "redis-server", shutdown, home / "redis.log")
