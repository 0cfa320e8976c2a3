"""``queue_coordination_permits``: the permits of the coordination primitives.

On MySQL/MariaDB its scope, name and holder compare byte for byte, as
``queue_coordination``'s do since 0009 (``"José"`` and ``"jose"`` are two names).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from ._binary import make_binary


def binary_collation(apps: Any, schema_editor: Any) -> None:
    make_binary(schema_editor, "queue_coordination_permits",
                dict.fromkeys(("name", "scope", "holder"), "varchar(190)"))


class Migration(migrations.Migration):

    dependencies = [
        ('django_jobqueue', '0009_coordination_binary_names'),
    ]

    operations = [
        migrations.CreateModel(
            name='CoordinationPermit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('connection', models.CharField(max_length=100)),
                ('scope', models.CharField(max_length=190)),
                ('name', models.CharField(max_length=190)),
                ('holder', models.CharField(max_length=190)),
                ('expires_at', models.FloatField()),
            ],
            options={
                'verbose_name': 'coordination permit',
                'verbose_name_plural': 'coordination permits',
                'db_table': 'queue_coordination_permits',
                'indexes': [models.Index(fields=['connection', 'scope', 'name', 'expires_at'], name='queue_permit_live_idx'), models.Index(fields=['connection', 'expires_at'], name='queue_permit_expiry_idx')],
                'constraints': [models.UniqueConstraint(fields=('connection', 'scope', 'name', 'holder'), name='queue_permit_key_uniq')],
            },
        ),
        migrations.RunPython(binary_collation, migrations.RunPython.noop, elidable=False),
    ]
