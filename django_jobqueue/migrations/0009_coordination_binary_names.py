"""On MySQL/MariaDB, ``queue_coordination`` compares names and values byte for byte.

Their default collations ignore case, trailing spaces and (``*_ai_ci``) accents, so the
unique key took the lock of ``"José"`` for the lock of ``"jose"`` and a unique job's
duplicate check refused a different job. The other databases compare exactly already.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLE = "queue_coordination"


def binary_collation(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE"
            " TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = 'name'",
            [TABLE])
        charset = cursor.fetchone()[0]
        # Byte for byte, trailing spaces too: MariaDB's *_nopad_bin, MySQL 8's *_0900_bin
        # (a plain *_bin pads); *_bin where neither exists.
        wanted = [f"{charset}_nopad_bin", f"{charset}_0900_bin", f"{charset}_bin"]
        cursor.execute(
            "SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE COLLATION_NAME"
            " IN (%s, %s, %s)", wanted)
        found = {row[0] for row in cursor.fetchall()}
        collation = next(name for name in wanted if name in found)
        binary = f"CHARACTER SET {charset} COLLATE {collation}"
        cursor.execute(
            f"ALTER TABLE {TABLE} MODIFY scope varchar(190) {binary} NOT NULL,"
            f" MODIFY name varchar(190) {binary} NOT NULL,"
            f" MODIFY value longtext {binary} NOT NULL")


class Migration(migrations.Migration):

    dependencies = [
        ("django_jobqueue", "0008_schedule_permissions"),
    ]

    operations = [
        migrations.RunPython(binary_collation, migrations.RunPython.noop, elidable=False),
    ]
