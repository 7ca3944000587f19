"""The parties of payout approval requests still pending when parties began to be recorded: the account holder and
the owner of the application that asked for the payout (governance cannot find them; billing can)."""

import uuid

from django.conf import settings
from django.db import migrations


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def payout_parties(apps, schema_editor):
    ApprovalRequest = apps.get_model("governance", "ApprovalRequest")
    ApprovalParty = apps.get_model("governance", "ApprovalParty")
    Payout = apps.get_model("billing", "Payout")
    pending = {_uuid(reference): pk for reference, pk in ApprovalRequest.objects.filter(
        status="pending", callback="billing", action="payout").values_list("reference", "pk")}
    pending.pop(None, None)
    rows = []
    for payout_id, holder, app_owner in (Payout.objects.filter(pk__in=list(pending))
                                         .values_list("pk", "account__user_id", "app__owner_id")):
        request_id = pending[payout_id]
        rows.append(ApprovalParty(request_id=request_id, user_id=holder, relation="account_holder"))
        if app_owner is not None:
            rows.append(ApprovalParty(request_id=request_id, user_id=app_owner, relation="app_owner"))
    ApprovalParty.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0002_tenant_funds'),
        ('governance', '0003_approval_request_parties'),
        ('identity', '0002_identity_and_applications'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(payout_parties, migrations.RunPython.noop),
    ]
