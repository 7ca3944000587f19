"""Suspensions and bans made before staff locks existed get their lock, so that they keep outranking the tenant:
an application staff had suspended must stay suspended when its owner's later ban is lifted
(identity.services.containment.tenant_release brings back only what the owner's ban alone held)."""
from django.db import migrations
from django.utils import timezone

REASON = "suspended in the console before staff locks were recorded"


def lock_earlier_suspensions(apps, schema_editor):
    db = schema_editor.connection.alias
    Application = apps.get_model("identity", "Application")
    User = apps.get_model("identity", "User")
    StaffLock = apps.get_model("infrastructure", "StaffLock")
    now = timezone.now()
    rows = [("identity.application", pk, owner_id, status)
            for pk, owner_id, status in Application.objects.using(db).filter(status="suspended")
            .values_list("pk", "owner_id", "status")]
    rows += [("identity.user", pk, pk, status)
             for pk, status in User.objects.using(db).filter(status__in=["suspended", "banned"])
             .values_list("pk", "status")]
    for target_type, target_id, tenant_id, status in rows:
        StaffLock.objects.using(db).get_or_create(
            target_type=target_type, target_id=target_id, field="status", cause="staff", released_at=None,
            defaults={"tenant_id": tenant_id, "value": {"status": status}, "reason": REASON, "locked_at": now})


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0005_credential_suspended_status"),
        ("infrastructure", "0005_staff_locks"),
    ]

    operations = [migrations.RunPython(lock_earlier_suspensions, migrations.RunPython.noop)]
