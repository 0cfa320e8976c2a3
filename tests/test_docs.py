"""The documentation site: the settings reference matches ``DEFAULTS``, and the site builds.

``docs/settings.md`` documents each key as a ``### `KEY` `` heading followed by a line
``Default: `<python literal>` ...``. The literal is read with ``ast.literal_eval`` and must
equal the default in ``django_jobqueue/conf.py``, with the same type (``30`` is not ``30.0``).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from django_jobqueue.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_PAGE = ROOT / "docs" / "settings.md"

KEY_HEADING = re.compile(r"^### `([A-Z][A-Z0-9_]*)`\s*$")
DEFAULT_LINE = re.compile(r"^Default: `([^`]+)`")


def documented_defaults(text: str) -> dict[str, str]:
    """``{KEY: the source of its documented default}`` from the settings page.

    Raises ``AssertionError`` for a key documented twice, or a key heading with no
    ``Default:`` line (or more than one) before the next heading.
    """
    found: dict[str, str] = {}
    key: str | None = None
    default: list[str] = []

    def close() -> None:
        if key is None:
            return
        assert len(default) == 1, f"{key}: expected one 'Default: `...`' line, got {default}"
        assert key not in found, f"{key} is documented twice"
        found[key] = default[0]

    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        if line.startswith("#"):
            close()
            match = KEY_HEADING.match(line)
            key, default = (match.group(1), []) if match else (None, [])
            continue
        match = DEFAULT_LINE.match(line)
        if match and key is not None:
            default.append(match.group(1))
    close()
    return found


def test_parser_reads_headings_and_defaults():
    text = "## Group\n\n### `A`\n\nDefault: `1.0` · Type: x\n\n### `B`\n\nDefault: `{}`\n"
    assert documented_defaults(text) == {"A": "1.0", "B": "{}"}
    with pytest.raises(AssertionError, match="expected one"):
        documented_defaults("### `A`\n\nno default here\n")
    with pytest.raises(AssertionError, match="twice"):
        documented_defaults("### `A`\nDefault: `1`\n### `A`\nDefault: `1`\n")


def test_settings_page_documents_exactly_the_defaults():
    documented = documented_defaults(SETTINGS_PAGE.read_text(encoding="utf-8"))
    missing = sorted(set(DEFAULTS) - set(documented))
    unknown = sorted(set(documented) - set(DEFAULTS))
    assert not missing, f"keys of DEFAULTS missing from docs/settings.md: {missing}"
    assert not unknown, f"keys documented in docs/settings.md but not in DEFAULTS: {unknown}"
    wrong = {}
    for key, source in documented.items():
        try:
            value = ast.literal_eval(source)
        except (ValueError, SyntaxError) as exc:
            wrong[key] = f"{source!r} is not a Python literal ({exc})"
            continue
        expected = DEFAULTS[key]
        if value != expected or type(value) is not type(expected):
            wrong[key] = f"documented {source}, code has {expected!r}"
    assert not wrong, f"documented defaults that differ from DEFAULTS: {wrong}"


def test_site_builds_strict(tmp_path):
    # Not a skip: scripts/test installs the docs extra, and CI must build the site.
    assert importlib.util.find_spec("material"), "mkdocs-material missing: pip install -e '.[docs]'"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # mkdocs-material's banner
    )
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    assert (tmp_path / "index.html").exists()


# Options every Django management command has: not documented on our pages.
DJANGO_COMMON_OPTIONS = {
    "-h", "--help", "--version", "-v", "--verbosity", "--settings", "--pythonpath",
    "--traceback", "--no-color", "--force-color", "--skip-checks",
}


def test_workers_page_documents_every_runworker_option():
    from django_jobqueue.management.commands.runworker import Command

    parser = Command().create_parser("manage.py", "runworker")
    real = {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option not in DJANGO_COMMON_OPTIONS
    }
    page = (ROOT / "docs" / "workers.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(--[a-z-]+)", page, flags=re.MULTILINE))
    assert documented == real, (
        f"missing from docs/workers.md: {sorted(real - documented)}; "
        f"documented but not an option: {sorted(documented - real)}"
    )


def test_readme_install_lists_every_extra_and_the_wheel():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"]["optional-dependencies"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `\[([a-z]+)\]` \|", install, flags=re.MULTILINE))
    assert listed == set(extras), (
        f"extras missing from README's Install table: {sorted(set(extras) - listed)}; "
        f"listed but not in pyproject.toml: {sorted(listed - set(extras))}")
    for line in ("pip install django-jobqueue ", 'pip install "django-jobqueue[redis]"',
                 "python -m build", "pip install dist/django_jobqueue-*.whl"):
        assert line in install, f"README's Install section does not show {line!r}"
    assert '"rangefilter"' in install and "INSTALLED_APPS" in install
