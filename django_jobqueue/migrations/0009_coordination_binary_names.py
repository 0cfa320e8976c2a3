"""On MySQL/MariaDB, ``queue_coordination`` compares names and values byte for byte.

Their default collations ignore case, trailing spaces and (``*_ai_ci``) accents, so the
unique key took the lock of ``"José"`` for the lock of ``"jose"`` and a unique job's
duplicate check refused a different job. The other databases compare exactly already.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from ._binary import make_binary

TABLE = "queue_coordination"


def binary_collation(apps: Any, schema_editor: Any) -> None:
    make_binary(schema_editor, TABLE, {"name": "varchar(190)", "scope": "varchar(190)",
                                       "value": "longtext"})


class Migration(migrations.Migration):

    dependencies = [
        ("django_jobqueue", "0008_schedule_permissions"),
    ]

    operations = [
        migrations.RunPython(binary_collation, migrations.RunPython.noop, elidable=False),
    ]
