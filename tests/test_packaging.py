"""The release artefacts: the wheel and sdist build, pass ``twine check --strict``, carry
what Django needs at run time, and a fresh virtualenv with only the wheel and Django runs
the example project's ``check`` and ``migrate``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import django
import pytest

import django_jobqueue

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "django_jobqueue"

pytestmark = pytest.mark.slow


def _run(args: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=180, check=False,
        **kwargs,
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def _clean_env() -> dict[str, str]:
    """The environment a user's shell would have: nothing pointing at this checkout or at
    the suite's settings and servers."""
    return {
        key: value for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
        and not key.startswith(("DJANGO_", "JQ_", "JOBQUEUE_EXAMPLE_"))
    }


def _ignored_in_copy(folder: str, names: list[str]) -> set[str]:
    # What runs leave in a checkout: venvs, the servers' data, caches, earlier builds.
    left = {name for name in names if name in {"__pycache__", "build", "dist", "site"}
            or name.endswith(".egg-info") or ".sqlite3" in name}
    if Path(folder) == REPO:
        left |= {name for name in names if name.startswith(".")}
    return left


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy of the sources: setuptools writes its egg-info (SOURCES.txt,
    # PKG-INFO) into the tree it builds, and scripts/test runs the Django lines' suites at
    # the same time on one checkout, so two builds of it would write over each other's.
    source = tmp_path_factory.mktemp("source") / "django-jobqueue"
    shutil.copytree(REPO, source, ignore=_ignored_in_copy)
    # --no-isolation: built with the setuptools the test extra puts in this venv, so the
    # test needs no download for the build and takes ~2 s rather than ~10 s. build still
    # checks that it meets [build-system] requires. Without arguments it builds the sdist,
    # then the wheel from the unpacked sdist: so the sdist is proven to be buildable.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source])
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def test_twine_accepts_wheel_and_sdist(dist: Path) -> None:
    files = sorted(dist.iterdir())
    assert sorted(f.suffix for f in files) == [".gz", ".whl"], files
    _run([sys.executable, "-m", "twine", "check", "--strict", *files])


def test_wheel_holds_templates_migrations_and_py_typed(dist: Path) -> None:
    names = set(zipfile.ZipFile(_wheel(dist)).namelist())
    wanted = {"django_jobqueue/py.typed"}
    for folder in ("templates", "migrations", "static"):
        wanted |= {
            path.relative_to(REPO).as_posix()
            for path in (PACKAGE / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
    assert any("/templates/" in name for name in wanted)  # the globs above found them
    assert wanted <= names, sorted(wanted - names)


def test_version_is_one_number(dist: Path) -> None:
    version = django_jobqueue.__version__
    wheel = _wheel(dist)
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"django_jobqueue-{version}.dist-info/METADATA").decode()
    assert Parser().parsestr(metadata)["Version"] == version
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d\d-\d\d$", changelog, re.M)
    # pyproject.toml takes it from __init__.py instead of repeating it.
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]


def test_fresh_venv_runs_example_project(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    series = "{}.{}".format(*django.VERSION[:2])
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
          _wheel(dist), f"django=={series}.*"], env=_clean_env())

    project = tmp_path / "example_project"
    shutil.copytree(REPO / "example_project", project,
                    ignore=shutil.ignore_patterns("*.sqlite3*", "__pycache__"))
    outside = tmp_path / "elsewhere"  # a working directory that is not the checkout
    outside.mkdir()
    env = _clean_env()
    manage = [python, project / "manage.py"]
    _run([*manage, "check", "--fail-level", "WARNING"], cwd=outside, env=env)
    migrated = _run([*manage, "migrate", "--no-input"], cwd=outside, env=env)
    assert "django_jobqueue" in migrated.stdout
    # Marked: Django 5.2's shell first says what it imported automatically.
    said = _run([*manage, "shell", "-c",
                 "import django_jobqueue; print('FILE=' + django_jobqueue.__file__)"],
                cwd=outside, env=env).stdout
    where = re.search(r"^FILE=(.+)$", said, re.M)
    assert where, said
    imported = Path(where.group(1)).resolve()
    site_packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                               "['purelib'])"], env=env).stdout.strip()).resolve()
    assert imported.is_relative_to(site_packages), imported
    assert not imported.is_relative_to(REPO), imported
