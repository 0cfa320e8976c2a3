"""Columns that compare byte for byte, for the migrations that need them.

Django's migration loader skips modules whose names start with ``_``, so this is no
migration. MySQL/MariaDB's default collations ignore case, trailing spaces and (``*_ai_ci``)
accents; the other databases compare exactly already, but PostgreSQL sorts by its locale
(``"a" < "B"``), where the others sort by code point (:func:`order_by_code_point`).
"""

from __future__ import annotations

from typing import Any


def make_binary(schema_editor: Any, table: str, columns: dict[str, str]) -> None:
    """Give ``columns`` of ``table`` (name -> type, such as ``varchar(190)``, all ``NOT
    NULL``) the binary collation of their character set; nothing on other databases."""
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    first = next(iter(columns))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE"
            " TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s",
            [table, first])
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
        changes = ", ".join(f"MODIFY {column} {kind} {binary} NOT NULL"
                            for column, kind in columns.items())
        cursor.execute(f"ALTER TABLE {table} {changes}")


def order_by_code_point(schema_editor: Any, table: str, columns: dict[str, str]) -> None:
    """Give ``columns`` of ``table`` (name -> type) PostgreSQL's ``"C"`` collation, so that
    they sort by code point as every other store does (their indexes too: PostgreSQL
    rebuilds them); nothing on other databases."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    changes = ", ".join(f'ALTER COLUMN {column} TYPE {kind} COLLATE "C"'
                        for column, kind in columns.items())
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} {changes}")
