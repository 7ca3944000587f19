"""One kill switch row per scope, all inactive."""
import uuid

from django.db import migrations

SCOPES = ["all", "billing", "agents", "ads", "jobs"]


def create_rows(apps, schema_editor):
    KillSwitch = apps.get_model("infrastructure", "KillSwitch")
    for scope in SCOPES:
        KillSwitch.objects.get_or_create(scope=scope, defaults={"id": uuid.uuid4(), "active": False})


def remove_inactive_rows(apps, schema_editor):
    KillSwitch = apps.get_model("infrastructure", "KillSwitch")
    KillSwitch.objects.filter(scope__in=SCOPES, active=False).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("infrastructure", "0002_jobs_claim_index_killswitch_history"),
    ]

    operations = [
        migrations.RunPython(create_rows, remove_inactive_rows),
    ]
