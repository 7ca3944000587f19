"""The parties of agents' approval requests still pending when parties began to be recorded: the agent's owners
(its tenant, its application's owner, the person who created it), the owner of the application the decision came
through, and the holders of the accounts its target reaches. The same rule as ``agents.services.parties``, written
against the models as they are at this migration."""

import uuid

from django.conf import settings
from django.db import migrations

_AD_HOLDERS = ("ad_account__user_id", "ad_account__balance_account__user_id")
_TARGETS = {
    "billing_account": ("billing", "BillingAccount", ("user_id",)),
    "ledger_entry": ("billing", "LedgerEntry", ("account__user_id",)),
    "payout": ("billing", "Payout", ("account__user_id",)),
    "ad_account": ("ads", "AdAccount", ("user_id", "balance_account__user_id")),
    "ad_campaign": ("ads", "AdCampaign", _AD_HOLDERS),
    "ad_budget": ("ads", "AdBudget", _AD_HOLDERS),
}


def _holders(apps, target_type, target_id):
    found = _TARGETS.get(target_type)
    if found is None:
        return []
    try:
        pk = uuid.UUID(str(target_id))
    except ValueError:
        return []
    app_label, model, columns = found
    return [u for row in apps.get_model(app_label, model).objects.filter(pk=pk).values_list(*columns)
            for u in row if u is not None]


def agent_parties(apps, schema_editor):
    ApprovalParty = apps.get_model("governance", "ApprovalParty")
    AgentDecision = apps.get_model("agents", "AgentDecision")
    HistoricalAgent = apps.get_model("agents", "HistoricalAgent")
    Application = apps.get_model("identity", "Application")
    rows = []
    waiting = (AgentDecision.objects.filter(approval_request__status="pending").select_related("agent",
                                                                                                "approval_request"))
    for decision in waiting.iterator(chunk_size=500):
        agent, request = decision.agent, decision.approval_request
        parties = [(agent.tenant_id, "agent_owner")]
        if agent.app_id:
            parties += [(o, "agent_owner") for o in Application.objects.filter(pk=agent.app_id)
                        .values_list("owner_id", flat=True)]
        parties += [(u, "agent_creator") for u in HistoricalAgent.objects.filter(
            id=agent.pk, history_type="+", history_user__isnull=False).values_list("history_user_id", flat=True)]
        if decision.app_id and decision.app_id != agent.app_id:
            parties += [(o, "app_owner") for o in Application.objects.filter(pk=decision.app_id)
                        .values_list("owner_id", flat=True)]
        parties += [(u, "account_holder") for u in _holders(apps, request.target_type, request.target_id)]
        rows += [ApprovalParty(request_id=request.pk, user_id=user_id, relation=relation)
                 for user_id, relation in dict.fromkeys(parties)]
    ApprovalParty.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0001_initial'),
        ('ads', '0001_initial'),
        ('billing', '0001_initial'),
        ('governance', '0003_approval_request_parties'),
        ('identity', '0002_identity_and_applications'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(agent_parties, migrations.RunPython.noop),
    ]
