# The request hash holds a versioned fingerprint ("v2:" and 64 hex digits; core.integrity.chain), or 64 hex of v1.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_refund_permission")]
    operations = [migrations.AlterField("idempotencykey", "request_hash",
                                        models.CharField(max_length=80, verbose_name="request hash"))]
