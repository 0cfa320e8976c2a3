"""Keep migrations off the deliberately unreachable ``broken`` database."""

from __future__ import annotations


class NoMigrationsOnBroken:
    def allow_migrate(self, db: str, app_label: str, **hints: object) -> bool | None:
        return False if db == "broken" else None
