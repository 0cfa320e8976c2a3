#!/usr/bin/env python
"""Django's command-line utility for the django-jobqueue example project.

Run it from anywhere, e.g. from the repository root: ``python example_project/manage.py demo``.
"""

import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROJECT_DIR.parent


def main() -> None:
    # The project's own packages (demo_site, shop), and the checkout it sits in (if it does),
    # so that ``django_jobqueue`` imports from this checkout even when it is not installed.
    # A copy of the project elsewhere uses the installed django-jobqueue.
    paths = [PROJECT_DIR]
    if (REPO_ROOT / "django_jobqueue" / "__init__.py").is_file():
        paths.append(REPO_ROOT)
    for path in paths:
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
