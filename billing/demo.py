"""Demo data: billing accounts with a few ledger entries for the demo shop's customers. Idempotent.

Builds on the identity demo (the ``demo-shop`` application): two customers are linked to it and proven (by a staff
attestation, as the console's "Mark proven" would), each gets an account with a short history of the shop's own
operations posted through the posting service (the shop's funds in the account), and one local payment intent is
left pending so that "Mark local intent succeeded" can be tried in the console.
"""
from __future__ import annotations

from typing import TextIO

from billing.models import LedgerEntry, PaymentIntent
from billing.services.accounts import account_open
from billing.services.ledger import ledger_post
from billing.services.payments import payment_intent_create
from identity.models import Application
from identity.services.apps import app_user_attest, app_user_link

DEMO_APP_SLUG = "demo-shop"
CUSTOMERS = [
    # external id, phone, history of (type, amount in cents, description)
    ("demo-customer-1", "+5511987650001", [("credit", 15_000, "Top-up by PIX"), ("debit", 2_990, "Pro plan, month 1"),
                                           ("debit", 1_250, "Ad campaign spend")]),
    ("demo-customer-2", "+5511987650002", [("credit", 50_000, "Top-up by card"), ("debit", 12_000, "Payout to PIX")]),
]


def seed(stdout: TextIO) -> None:
    app = Application.objects.filter(slug=DEMO_APP_SLUG).first()
    if app is None:
        stdout.write("  Billing demo skipped: no demo-shop application.\n")
        return
    for external_id, phone, history in CUSTOMERS:
        app_user, _linked = app_user_link(app=app, external_user_id=external_id, phone=phone)
        app_user_attest(app_user=app_user, actor=None, reason="demo data: a customer of the demo shop")
        account, _created = account_open(user=app_user.user)
        if LedgerEntry.objects.filter(account=account).exists():
            continue
        for kind, amount, description in history:
            ledger_post(account_id=account.pk, type=kind, amount=amount, description=description,
                        reference_id="demo", tenant_id=app.owner_id)
        if not PaymentIntent.objects.filter(account=account).exists():
            payment_intent_create(account_id=account.pk, amount=2_500, currency=account.currency, app_id=app.pk,
                                  idempotency_key=f"demo-{external_id}")
        account.refresh_from_db()
        stdout.write(f"  Billing demo: account {account.pk} of {external_id}, balance {account.balance} cents\n")
