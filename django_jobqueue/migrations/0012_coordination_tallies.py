"""``queue_coordination_tallies`` and ``queue_coordination_tally_members``: the tallies of the
coordination primitives.

On MySQL/MariaDB their scope, name and member compare byte for byte, as
``queue_coordination``'s do since 0009 (``"José"`` and ``"jose"`` are two names); on
PostgreSQL members sort by code point, as in every other store, so that a tally's members
are listed page by page in the same order everywhere.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from ._binary import make_binary, order_by_code_point

TALLIES = "queue_coordination_tallies"
MEMBERS = "queue_coordination_tally_members"


def exact_names(apps: Any, schema_editor: Any) -> None:
    make_binary(schema_editor, TALLIES, dict.fromkeys(("name", "scope"), "varchar(190)"))
    make_binary(schema_editor, MEMBERS,
                dict.fromkeys(("name", "scope", "member"), "varchar(190)"))
    order_by_code_point(schema_editor, MEMBERS, {"member": "varchar(190)"})


class Migration(migrations.Migration):

    dependencies = [
        ('django_jobqueue', '0011_queue_control_permissions'),
    ]

    operations = [
        migrations.CreateModel(
            name='CoordinationTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('connection', models.CharField(max_length=100)),
                ('scope', models.CharField(max_length=190)),
                ('name', models.CharField(max_length=190)),
                ('total', models.PositiveIntegerField(default=0)),
                ('succeeded', models.PositiveIntegerField(default=0)),
                ('failed', models.PositiveIntegerField(default=0)),
                ('cancelled', models.PositiveIntegerField(default=0)),
                ('expires_at', models.FloatField()),
            ],
            options={
                'verbose_name': 'coordination tally',
                'verbose_name_plural': 'coordination tallies',
                'db_table': 'queue_coordination_tallies',
                'indexes': [models.Index(fields=['connection', 'expires_at'], name='queue_tally_expiry_idx')],
                'constraints': [models.UniqueConstraint(fields=('connection', 'scope', 'name'), name='queue_tally_key_uniq')],
            },
        ),
        migrations.CreateModel(
            name='CoordinationTallyMember',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('connection', models.CharField(max_length=100)),
                ('scope', models.CharField(max_length=190)),
                ('name', models.CharField(max_length=190)),
                ('member', models.CharField(max_length=190)),
                ('state', models.CharField(max_length=16)),
            ],
            options={
                'verbose_name': 'coordination tally member',
                'verbose_name_plural': 'coordination tally members',
                'db_table': 'queue_coordination_tally_members',
                'indexes': [models.Index(fields=['connection', 'scope', 'name', 'state', 'member'], name='queue_tally_state_idx')],
                'constraints': [models.UniqueConstraint(fields=('connection', 'scope', 'name', 'member'), name='queue_tally_member_uniq')],
            },
        ),
        migrations.RunPython(exact_names, migrations.RunPython.noop, elidable=False),
    ]
