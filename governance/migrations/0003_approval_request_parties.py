"""Approval request parties: the people on whose behalf a request acts, none of whom may decide it.

Requests made before this table existed get their requester (when a person) as a party here; the apps that make
requests on someone's behalf (billing, agents) add the other parties of their pending requests in their own
migrations, since governance knows nothing of their models.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import audit.operations


def requesters_as_parties(apps, schema_editor):
    ApprovalRequest = apps.get_model("governance", "ApprovalRequest")
    ApprovalParty = apps.get_model("governance", "ApprovalParty")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    rows = ApprovalRequest.objects.filter(requested_by_type="user", requested_by__isnull=False)
    requested = dict(rows.values_list("pk", "requested_by"))
    people = set(User.objects.filter(pk__in=set(requested.values())).values_list("pk", flat=True))
    ApprovalParty.objects.bulk_create(
        [ApprovalParty(request_id=pk, user_id=user_id, relation="requester")
         for pk, user_id in requested.items() if user_id in people], batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0002_memory'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApprovalParty',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('relation', models.CharField(choices=[('requester', 'requester'), ('agent_owner', "agent's owner (its tenant)"), ('agent_creator', "agent's creator"), ('app_owner', 'owner of the requesting application'), ('account_holder', 'account holder')], max_length=24, verbose_name='relation')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created at')),
                ('request', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='parties', to='governance.approvalrequest', verbose_name='request')),
                ('user', models.ForeignKey(db_column='user_id', on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='person')),
            ],
            options={
                'verbose_name': 'approval request party',
                'verbose_name_plural': 'approval request parties',
                'db_table': 'approval_request_parties',
                'ordering': ['request', 'id'],
                'indexes': [models.Index(fields=['user', 'request'], name='idx_approval_party_user')],
                'constraints': [models.UniqueConstraint(fields=('request', 'user', 'relation'), name='uniq_approval_party'), models.CheckConstraint(condition=models.Q(('relation__in', ['requester', 'agent_owner', 'agent_creator', 'app_owner', 'account_holder'])), name='approval_party_relation_valid')],
            },
        ),
        audit.operations.AppendOnly('approval_request_parties'),
        migrations.RunPython(requesters_as_parties, migrations.RunPython.noop),
    ]
