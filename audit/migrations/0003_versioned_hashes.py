# Hash columns hold versioned hashes ("v2:" and 64 hex digits; core.integrity.chain), and 64 hex digits of v1.
from django.db import migrations, models

import audit.operations

REINSTALL = audit.operations.sqlite_rebuilt("audit_events")


class Migration(migrations.Migration):

    dependencies = [("audit", "0002_text_json_chain_guards")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, REINSTALL),  # unapplied: last, after the rebuilds
        audit.operations.WidenField("auditevent", "hash", models.CharField(max_length=80, unique=True, verbose_name="hash")),
        audit.operations.WidenField("auditevent", "previous_hash", models.CharField(max_length=80,
                                                                              verbose_name="previous hash")),
        migrations.RunPython(REINSTALL, migrations.RunPython.noop),
    ]
