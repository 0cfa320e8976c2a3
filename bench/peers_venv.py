"""The peers' own virtualenv, ``.venv-bench-peers``: created once, stamped, then reused.

The peers never share a virtualenv with us: each side runs with exactly its own
dependencies, and the versions measured are the ones printed with the results.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-bench-peers"
# django-tasks-db is the ORM backend of django-tasks; on Django 5.2 it needs the
# django-tasks backport (Django 6 has django.tasks built in, but needs Python >= 3.12).
REQUIREMENTS = [
    "rq",
    "django-rq",
    "celery[redis]",
    "dramatiq[redis]",
    "huey",
    "redis",
    "django>=5.2,<5.3",
    "django-tasks",
    "django-tasks-db",
    "mysqlclient",
]
REPORTED = ["rq", "django-rq", "celery", "kombu", "dramatiq", "huey", "redis", "Django",
            "django-tasks", "django-tasks-db"]


def python() -> Path:
    return VENV / "bin" / "python"


def ensure(log=print) -> Path:
    """Create or update the venv when the requirements (or the Python) changed."""
    stamp = VENV / ".bench-peers-stamp"
    want = hashlib.sha256("\n".join([*REQUIREMENTS, sys.version]).encode()).hexdigest()
    if python().exists() and stamp.exists() and stamp.read_text() == want:
        return python()
    log(f"creating {VENV.name} (peers' virtualenv) ...")
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python()), "-m", "pip", "install", "-q", "--upgrade", *REQUIREMENTS],
                   check=True, timeout=900)
    stamp.write_text(want)
    return python()


def versions() -> dict[str, str]:
    code = ("import json, importlib.metadata as m\n"
            f"names = {REPORTED!r}\n"
            "out = {}\n"
            "for n in names:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    import json

    done = subprocess.run([str(python()), "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    return json.loads(done.stdout)


if __name__ == "__main__":
    ensure()
    print(versions())
