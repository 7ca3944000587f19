"""Institutional memory takes over its five tables from the governance app (whose 0004 lets go of them): Django's
state only, the tables and their rows, constraints and triggers stay as they are (``db_table`` unchanged). The
content types follow, so that permissions already granted on them, and the console's log entries, stay attached."""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


MODELS = ('decisionlifecycle', 'lifecycletransition', 'decisionconflict', 'decisionprecedent', 'decisionreview')


def _move_content_types(apps, schema_editor, source, target):
    """A database migrated while the models were governance's has their content types (and the permissions on
    them) under ``governance``: relabel them, unless the target already has its own."""
    ContentType = apps.get_model('contenttypes', 'ContentType')
    types = ContentType.objects.using(schema_editor.connection.alias)
    for model in MODELS:
        if not types.filter(app_label=target, model=model).exists():
            types.filter(app_label=source, model=model).update(app_label=target)


def content_types_to_memory(apps, schema_editor):
    _move_content_types(apps, schema_editor, 'governance', 'memory')


def content_types_to_governance(apps, schema_editor):
    _move_content_types(apps, schema_editor, 'memory', 'governance')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('governance', '0004_memory_moves_to_its_app'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='DecisionLifecycle',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('decision_id', models.UUIDField(unique=True, verbose_name='decision')),
                        ('decision_type', models.CharField(choices=[('approval', 'approval'), ('authority_grant', 'authority grant')], max_length=24, verbose_name='decision type')),
                        ('state', models.CharField(choices=[('active', 'active'), ('expired', 'expired'), ('superseded', 'superseded'), ('revoked', 'revoked'), ('under_review', 'under review')], default='active', max_length=16, verbose_name='state')),
                        ('expiration_type', models.CharField(choices=[('expires_at', 'expires at a time'), ('expires_on_condition', 'expires on a condition'), ('review_required', 'review required')], max_length=24, verbose_name='expiration type')),
                        ('expires_at', models.DateTimeField(blank=True, null=True, verbose_name='expires at')),
                        ('next_review_at', models.DateTimeField(blank=True, null=True, verbose_name='next review at')),
                        ('domain', models.CharField(max_length=64, verbose_name='domain')),
                        ('action', models.CharField(max_length=64, verbose_name='action')),
                        ('target_type', models.CharField(blank=True, default='', max_length=64, verbose_name='target type')),
                        ('target_id', models.CharField(blank=True, default='', max_length=128, verbose_name='target')),
                        ('reference', models.CharField(blank=True, default='', help_text='The account or entry whose money the decision moves, if any.', max_length=200, verbose_name='money reference')),
                        ('direction', models.CharField(blank=True, default='', help_text='pause/resume, raise/lower, credit/debit: which way it pulls.', max_length=16, verbose_name='direction')),
                        ('amount', models.BigIntegerField(default=0, verbose_name='amount (cents)')),
                        ('scopes', models.JSONField(blank=True, default=list, help_text='The domains it covers (authority grants).', verbose_name='scopes')),
                        ('subject_id', models.UUIDField(blank=True, db_index=True, help_text='Who acts under it: the agent, or the person granted authority.', null=True, verbose_name='subject')),
                        ('tenant_id', models.UUIDField(blank=True, null=True, verbose_name='tenant')),
                        ('condition', models.CharField(blank=True, default='', help_text="For expires_on_condition: the registered condition's name.", max_length=64, verbose_name='expiry condition')),
                        ('context', models.JSONField(blank=True, default=dict, verbose_name='context')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at')),
                        ('updated_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='updated at')),
                        ('policy_evaluation', models.ForeignKey(blank=True, db_column='policy_evaluation_id', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='governance.policyevaluation', verbose_name='policy evaluation')),
                        ('superseded_by', models.ForeignKey(blank=True, db_column='superseded_by', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='supersedes', to='memory.decisionlifecycle', to_field='decision_id', verbose_name='superseded by')),
                    ],
                    options={
                        'verbose_name': 'decision lifecycle',
                        'verbose_name_plural': 'decision lifecycles',
                        'db_table': 'decision_lifecycles',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='DecisionConflict',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('conflict_type', models.CharField(choices=[('resource', 'resource'), ('direction', 'direction'), ('scope', 'scope'), ('temporal', 'temporal')], max_length=16, verbose_name='conflict type')),
                        ('state', models.CharField(choices=[('detected', 'detected'), ('acknowledged', 'acknowledged'), ('resolved', 'resolved'), ('dissolved', 'dissolved')], default='detected', max_length=16, verbose_name='state')),
                        ('description', models.TextField(verbose_name='description')),
                        ('target_type', models.CharField(blank=True, default='', max_length=64, verbose_name='target type')),
                        ('target_id', models.CharField(blank=True, default='', max_length=200, verbose_name='target')),
                        ('resolution_note', models.TextField(blank=True, default='', verbose_name='resolution note')),
                        ('detected_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='detected at')),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True, verbose_name='acknowledged at')),
                        ('closed_at', models.DateTimeField(blank=True, null=True, verbose_name='closed at')),
                        ('acknowledged_by', models.ForeignKey(blank=True, db_column='acknowledged_by', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='acknowledged by')),
                        ('resolved_by', models.ForeignKey(blank=True, db_column='resolved_by', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='resolved by')),
                        ('decision_a', models.ForeignKey(db_column='decision_a_id', on_delete=django.db.models.deletion.PROTECT, related_name='conflicts_as_a', to='memory.decisionlifecycle', to_field='decision_id', verbose_name='decision A')),
                        ('decision_b', models.ForeignKey(db_column='decision_b_id', on_delete=django.db.models.deletion.PROTECT, related_name='conflicts_as_b', to='memory.decisionlifecycle', to_field='decision_id', verbose_name='decision B')),
                        ('prevailing', models.ForeignKey(blank=True, db_column='prevailing_id', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='memory.decisionlifecycle', to_field='decision_id', verbose_name='prevailing decision')),
                    ],
                    options={
                        'verbose_name': 'decision conflict',
                        'verbose_name_plural': 'decision conflicts',
                        'db_table': 'decision_conflicts',
                        'ordering': ['-detected_at'],
                    },
                ),
                migrations.CreateModel(
                    name='DecisionPrecedent',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('domain', models.CharField(max_length=64, verbose_name='domain')),
                        ('action', models.CharField(max_length=64, verbose_name='action')),
                        ('original_context', models.TextField(help_text='JSON snapshot.', verbose_name='original context')),
                        ('observed_result', models.TextField(help_text='JSON.', verbose_name='observed result')),
                        ('state', models.CharField(choices=[('active', 'active'), ('deprecated', 'deprecated'), ('contested', 'contested'), ('archived', 'archived')], default='active', max_length=16, verbose_name='state')),
                        ('amount', models.BigIntegerField(default=0, verbose_name='amount (cents)')),
                        ('state_reason', models.TextField(blank=True, default='', verbose_name='reason for the state')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at')),
                        ('updated_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='updated at')),
                        ('created_by', models.ForeignKey(db_column='created_by', on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by')),
                        ('original_decision', models.OneToOneField(db_column='original_decision_id', on_delete=django.db.models.deletion.PROTECT, related_name='precedent', to='memory.decisionlifecycle', to_field='decision_id', verbose_name='original decision')),
                    ],
                    options={
                        'verbose_name': 'decision precedent',
                        'verbose_name_plural': 'decision precedents',
                        'db_table': 'decision_precedents',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='DecisionReview',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('review_type', models.CharField(choices=[('periodic', 'periodic'), ('context_change', 'context change'), ('policy_change', 'policy change')], max_length=16, verbose_name='review type')),
                        ('review_reason', models.TextField(verbose_name='review reason')),
                        ('outcome', models.CharField(choices=[('renewed', 'renewed'), ('revoked', 'revoked'), ('superseded', 'superseded'), ('pending', 'pending')], default='pending', max_length=16, verbose_name='outcome')),
                        ('justification', models.TextField(blank=True, default='', verbose_name='justification')),
                        ('triggered_by', models.UUIDField(blank=True, null=True, verbose_name='opened by')),
                        ('triggered_by_type', models.CharField(choices=[('human', 'human'), ('system', 'system'), ('time', 'time')], max_length=8, verbose_name='opened by type')),
                        ('policy_version', models.PositiveIntegerField(blank=True, null=True, verbose_name='policy version')),
                        ('next_review_at', models.DateTimeField(blank=True, null=True, verbose_name='next review at')),
                        ('opened_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='opened at')),
                        ('decided_at', models.DateTimeField(blank=True, null=True, verbose_name='decided at')),
                        ('decided_by', models.ForeignKey(blank=True, db_column='decided_by', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='decided by')),
                        ('decision', models.ForeignKey(db_column='decision_id', on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to='memory.decisionlifecycle', to_field='decision_id', verbose_name='decision')),
                        ('policy', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='governance.policy', verbose_name='policy')),
                    ],
                    options={
                        'verbose_name': 'decision review',
                        'verbose_name_plural': 'decision reviews',
                        'db_table': 'decision_reviews',
                        'ordering': ['-opened_at'],
                    },
                ),
                migrations.CreateModel(
                    name='LifecycleTransition',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('sequence', models.PositiveIntegerField(help_text="Position among the decision's transitions.", verbose_name='sequence')),
                        ('from_state', models.CharField(blank=True, default='', help_text="Empty for the lifecycle's opening.", max_length=16, verbose_name='from state')),
                        ('to_state', models.CharField(choices=[('active', 'active'), ('expired', 'expired'), ('superseded', 'superseded'), ('revoked', 'revoked'), ('under_review', 'under review')], max_length=16, verbose_name='to state')),
                        ('triggered_by', models.UUIDField(blank=True, null=True, verbose_name='triggered by')),
                        ('triggered_by_type', models.CharField(choices=[('human', 'human'), ('system', 'system'), ('time', 'time')], max_length=8, verbose_name='triggered by type')),
                        ('reason', models.TextField(verbose_name='reason')),
                        ('previous_hash', models.CharField(max_length=64, verbose_name='previous hash')),
                        ('hash', models.CharField(max_length=64, unique=True, verbose_name='hash')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created at')),
                        ('decision', models.ForeignKey(db_column='decision_id', on_delete=django.db.models.deletion.PROTECT, related_name='transitions', to='memory.decisionlifecycle', to_field='decision_id', verbose_name='decision')),
                    ],
                    options={
                        'verbose_name': 'lifecycle transition',
                        'verbose_name_plural': 'lifecycle transitions',
                        'db_table': 'lifecycle_transitions',
                        'ordering': ['decision_id', 'sequence'],
                    },
                ),
                migrations.AddIndex(
                    model_name='decisionlifecycle',
                    index=models.Index(fields=['state', 'expires_at'], name='idx_lifecycle_expiry'),
                ),
                migrations.AddIndex(
                    model_name='decisionlifecycle',
                    index=models.Index(fields=['state', 'next_review_at'], name='idx_lifecycle_review'),
                ),
                migrations.AddIndex(
                    model_name='decisionlifecycle',
                    index=models.Index(fields=['target_type', 'target_id', 'state'], name='idx_lifecycle_target'),
                ),
                migrations.AddIndex(
                    model_name='decisionlifecycle',
                    index=models.Index(fields=['reference', 'state'], name='idx_lifecycle_reference'),
                ),
                migrations.AddIndex(
                    model_name='decisionlifecycle',
                    index=models.Index(fields=['domain', 'action', 'state'], name='idx_lifecycle_action'),
                ),
                migrations.AddConstraint(
                    model_name='decisionlifecycle',
                    constraint=models.CheckConstraint(condition=models.Q(('state__in', ['active', 'expired', 'superseded', 'revoked', 'under_review'])), name='lifecycle_state_valid'),
                ),
                migrations.AddConstraint(
                    model_name='decisionlifecycle',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('expiration_type', 'expires_at'), _negated=True), ('expires_at__isnull', False), _connector='OR'), name='lifecycle_expires_at_set'),
                ),
                migrations.AddIndex(
                    model_name='decisionconflict',
                    index=models.Index(fields=['state', 'target_type', 'target_id'], name='idx_conflict_target'),
                ),
                migrations.AddConstraint(
                    model_name='decisionconflict',
                    constraint=models.UniqueConstraint(condition=models.Q(('state__in', ['detected', 'acknowledged'])), fields=('decision_a', 'decision_b', 'conflict_type'), name='uniq_open_conflict_pair'),
                ),
                migrations.AddConstraint(
                    model_name='decisionconflict',
                    constraint=models.CheckConstraint(condition=models.Q(('decision_a', models.F('decision_b')), _negated=True), name='conflict_two_decisions'),
                ),
                migrations.AddIndex(
                    model_name='decisionprecedent',
                    index=models.Index(fields=['domain', 'action', 'state'], name='idx_precedent_lookup'),
                ),
                migrations.AddIndex(
                    model_name='decisionreview',
                    index=models.Index(fields=['decided_at', 'opened_at'], name='idx_review_open'),
                ),
                migrations.AddConstraint(
                    model_name='decisionreview',
                    constraint=models.UniqueConstraint(condition=models.Q(('decided_at__isnull', True)), fields=('decision',), name='uniq_open_review_per_decision'),
                ),
                migrations.AddConstraint(
                    model_name='lifecycletransition',
                    constraint=models.UniqueConstraint(fields=('decision', 'sequence'), name='uniq_lifecycle_transition_sequence'),
                ),
            ],
        ),
        migrations.RunPython(content_types_to_memory, content_types_to_governance),
    ]
