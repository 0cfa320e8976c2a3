"""``queue_tally_state_idx`` with the state first.

Starting with the tally's key, it covered a count's read of its members' states, and SQLite's
planner read every member of the tally through it rather than probe the unique key once per
member counted: each count of a worker's flush cost as much as the whole tally, a batch's
drain the square of its size. With the state first it serves only what it is for, a tally's
members in one state.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("django_jobqueue", "0013_workflow_permissions"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="coordinationtallymember",
            name="queue_tally_state_idx",
        ),
        migrations.AddIndex(
            model_name="coordinationtallymember",
            index=models.Index(fields=["state", "connection", "scope", "name", "member"],
                               name="queue_tally_state_idx"),
        ),
    ]
