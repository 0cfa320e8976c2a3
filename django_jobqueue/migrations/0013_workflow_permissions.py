"""The permissions of the admin's batch page: retrying a batch's failed jobs
(``retry_batch_children``) and cancelling the rest of a batch (``cancel_batch``), on the
model that holds the Queues page's (``queue_control``, no table)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('django_jobqueue', '0012_coordination_tallies'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='queuecontrol',
            options={'default_permissions': (), 'managed': False, 'permissions': [('pause_queue', 'Can pause and resume queues'), ('cancel_job', 'Can cancel queued and running jobs'), ('retry_batch_children', 'Can retry the failed jobs of a batch'), ('cancel_batch', 'Can cancel the rest of a batch')], 'verbose_name': 'queue control', 'verbose_name_plural': 'queue controls'},
        ),
    ]
