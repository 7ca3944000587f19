from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

FINANCE_GROUP = "finance_officer"
FINANCE_PERMISSIONS = [
    "view_billingaccount", "adjust_balance", "view_ledgerentry", "export_ledger", "view_paymentintent",
    "mark_local_succeeded", "refund_payment", "view_payout", "approve_payout", "view_subscription",
    "change_subscription",
    "view_processedwebhook", "change_processedwebhook", "view_idempotencykey",
]


def _grant_finance_permissions(sender, using="default", **kwargs) -> None:
    """Finance officers (a console role, a Django group) get the billing console's permissions."""
    from django.contrib.auth.models import Group, Permission

    group, _created = Group.objects.using(using).get_or_create(name=FINANCE_GROUP)
    perms = Permission.objects.using(using).filter(content_type__app_label="billing", codename__in=FINANCE_PERMISSIONS)
    group.permissions.add(*perms)


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        # Registers audit event types, system checks and integrity verifiers.
        from billing import approvals, checks, events, integrity, jobs  # noqa: F401

        jobs.register()
        approvals.register()
        post_migrate.connect(_grant_finance_permissions, sender=self, dispatch_uid="billing_finance_group")
