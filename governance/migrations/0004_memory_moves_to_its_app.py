"""Institutional memory's five models move to the ``memory`` app (its 0001 takes them over). Django's state only:
the tables, their rows, constraints and triggers stay exactly where they are."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0003_approval_request_parties'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name='decisionlifecycle',
                    name='policy_evaluation',
                ),
                migrations.RemoveField(
                    model_name='decisionlifecycle',
                    name='superseded_by',
                ),
                migrations.RemoveField(
                    model_name='decisionreview',
                    name='decision',
                ),
                migrations.RemoveField(
                    model_name='lifecycletransition',
                    name='decision',
                ),
                migrations.RemoveField(
                    model_name='decisionprecedent',
                    name='original_decision',
                ),
                migrations.RemoveField(
                    model_name='decisionprecedent',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='decisionreview',
                    name='decided_by',
                ),
                migrations.RemoveField(
                    model_name='decisionreview',
                    name='policy',
                ),
                migrations.DeleteModel(
                    name='DecisionConflict',
                ),
                migrations.DeleteModel(
                    name='LifecycleTransition',
                ),
                migrations.DeleteModel(
                    name='DecisionLifecycle',
                ),
                migrations.DeleteModel(
                    name='DecisionPrecedent',
                ),
                migrations.DeleteModel(
                    name='DecisionReview',
                ),
            ],
        ),
    ]
