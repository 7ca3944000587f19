# Hash columns hold versioned hashes ("v2:" and 64 hex digits; core.integrity.chain), and 64 hex digits of v1:
# approval decisions and lifecycle transitions, both chained.
from django.db import migrations, models

import audit.operations

REINSTALL = audit.operations.sqlite_rebuilt("approval_decisions", "lifecycle_transitions")


class Migration(migrations.Migration):

    dependencies = [("governance", "0003_approval_request_parties")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, REINSTALL),  # unapplied: last, after the rebuilds
        *(migrations.AlterField(model, name, models.CharField(max_length=80, unique=name == "hash", verbose_name=label))
          for model in ("approvaldecision", "lifecycletransition")
          for name, label in (("hash", "hash"), ("previous_hash", "previous hash"))),
        migrations.RunPython(REINSTALL, migrations.RunPython.noop),
    ]
