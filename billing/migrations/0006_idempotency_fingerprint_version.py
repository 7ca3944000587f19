# The request hash holds a versioned fingerprint ("v2:" and 64 hex digits; core.integrity.chain), or 64 hex of v1.
from django.db import migrations, models

import audit.operations


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0005_ledger_functions'),
    ]

    operations = [
        audit.operations.WidenField(
            model_name='idempotencykey',
            name='request_hash',
            field=models.CharField(max_length=80, verbose_name='request hash'),
        ),
    ]
