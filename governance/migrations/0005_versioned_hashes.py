# Hash columns hold versioned hashes ("v2:" and 64 hex digits; core.integrity.chain), and 64 hex digits of v1:
# approval decisions and lifecycle transitions, both chained.
from django.db import migrations, models

import audit.operations

REINSTALL = audit.operations.sqlite_rebuilt("approval_decisions")


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0004_memory_moves_to_its_app'),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, REINSTALL),
        audit.operations.WidenField(
            model_name='approvaldecision',
            name='hash',
            field=models.CharField(max_length=80, unique=True, verbose_name='hash'),
        ),
        audit.operations.WidenField(
            model_name='approvaldecision',
            name='previous_hash',
            field=models.CharField(max_length=80, verbose_name='previous hash'),
        ),
        migrations.RunPython(REINSTALL, migrations.RunPython.noop),
    ]
