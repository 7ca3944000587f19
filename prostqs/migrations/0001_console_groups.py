"""The console's role groups. Their permissions are set after every migrate (console.roles.sync_after_migrate),
so models added later are covered without another migration."""
from django.db import migrations

ROLES = ("super_admin", "tech_lead", "finance_officer", "admin")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("identity", "0002_identity_and_applications"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
