# before/after/metadata become TEXT holding canonical JSON (as the catalog says, and so that the bytes hashed are
# the bytes stored); the app index gains sequence; the chain guard trigger refuses events that do not follow the head.

import json

from django.db import migrations, models

import audit.fields
import audit.operations
from core.integrity.canonical import legacy_json_v1


def reinstall_sqlite_append_only(apps, schema_editor):
    """SQLite rebuilds a table to change a column type and drops its triggers with the old table: put them back."""
    if schema_editor.connection.vendor != "sqlite":
        return
    for sql in [*audit.operations.remove_sql("sqlite", "audit_events"),
                *audit.operations.install_sql("sqlite", "audit_events")]:
        schema_editor.execute(sql, None)


def canonicalize_existing(apps, schema_editor):
    """Existing rows hold the engine's spelling of their JSON; rewrite it canonically. Their hashes were computed over
    the canonical spelling already, so they stay valid."""
    connection = schema_editor.connection
    for table in ("audit_staging", "audit_events"):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, before, after, metadata FROM {table}")  # noqa: S608 - fixed table names
            changes = []
            for row_id, *texts in cursor.fetchall():
                fixed = [None if t is None else legacy_json_v1(json.loads(t)) for t in texts]
                if fixed != texts:
                    changes.append([*fixed, row_id])
            if not changes:
                continue
            guarded = table == "audit_events" and connection.vendor == "postgresql"
            if guarded:
                cursor.execute('ALTER TABLE "audit_events" DISABLE TRIGGER "audit_events_append_only"')
            cursor.executemany(
                f"UPDATE {table} SET before = %s, after = %s, metadata = %s WHERE id = %s", changes)  # noqa: S608 - fixed table names
            if guarded:
                cursor.execute('ALTER TABLE "audit_events" ENABLE TRIGGER "audit_events_append_only"')


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0001_initial'),
    ]

    operations = [
        # Reversed last: after the columns are rebuilt back to JSON on SQLite.
        migrations.RunPython(migrations.RunPython.noop, reinstall_sqlite_append_only),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='idx_audit_app',
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='after',
            field=audit.fields.CanonicalJSONField(blank=True, null=True, verbose_name='after'),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='before',
            field=audit.fields.CanonicalJSONField(blank=True, null=True, verbose_name='before'),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='metadata',
            field=audit.fields.CanonicalJSONField(blank=True, default=dict, verbose_name='metadata'),
        ),
        migrations.AlterField(
            model_name='stagedevent',
            name='after',
            field=audit.fields.CanonicalJSONField(blank=True, null=True, verbose_name='after'),
        ),
        migrations.AlterField(
            model_name='stagedevent',
            name='before',
            field=audit.fields.CanonicalJSONField(blank=True, null=True, verbose_name='before'),
        ),
        migrations.AlterField(
            model_name='stagedevent',
            name='metadata',
            field=audit.fields.CanonicalJSONField(blank=True, default=dict, verbose_name='metadata'),
        ),
        migrations.RunPython(canonicalize_existing, migrations.RunPython.noop),
        migrations.RunPython(reinstall_sqlite_append_only, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['app_id', 'sequence'], name='idx_audit_app'),
        ),
        audit.operations.AuditChainGuard(),
    ]
