"""The billing API under ``/api/v1/billing/`` (scope ``billing``), and Stripe's webhook endpoint.

What an application may see and move is ``billing.tenancy``'s: the accounts of persons proven to it, the records its
tenant created, the tenant's own funds; any other id answers 404. Every POST that moves money requires
``Idempotency-Key`` (see ``billing.idempotency``).
"""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import errors as billing_errors
from billing import stripe_client, tenancy
from billing.destinations import mask
from billing.idempotency import HEADER, REPLAY_HEADER, idempotent
from billing.models import MAX_AMOUNT, BillingAccount, LedgerEntry, PaymentIntent, Payout, Subscription
from billing.services import ledger, payments, payouts, refunds, subscriptions, transfers
from billing.services.accounts import account_open
from billing.services.webhooks import webhook_process
from core.api import ModelSerializer, Pagination, Serializer, StrictIntegerField
from core.errors import InvalidInput
from identity.permissions import scope_required

BillingScope = scope_required("billing")

ErrorSerializer = inline_serializer("BillingError", fields={
    "error": inline_serializer("BillingErrorDetail", fields={
        "code": serializers.CharField(help_text="Machine-readable code, e.g. insufficient_funds."),
        "message": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    }),
})

_ERRORS = {
    400: "Invalid input (validation_error, invalid_amount, idempotency_key_required, invalid_destination…).",
    401: "Missing or invalid app credentials.",
    403: "The credential lacks the billing scope.",
    404: "Not found, or not in the caller's tenant.",
    409: "insufficient_funds, idempotency_mismatch, idempotency_in_progress or a state conflict.",
    423: "Billing is halted by a kill switch (kill_switch_active); nothing was written.",
    502: "The payment provider failed (payment_provider_error).",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {c: OpenApiResponse(ErrorSerializer, description=_ERRORS[c]) for c in codes}


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description="1-255 visible ASCII characters. The same key and body replay the first response "
                f"(with {REPLAY_HEADER}: true); the same key with another body answers 409 idempotency_mismatch.")

Amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="Integer cents.")


# --- serializers --------------------------------------------------------------------------------------------------

class AccountOpenInput(Serializer):
    user_id = serializers.UUIDField(required=False, help_text="A person proven to this app.")
    external_user_id = serializers.CharField(required=False, max_length=255,
                                             help_text="The app's own id for a user proven to it.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("user_id" in attrs) == ("external_user_id" in attrs):
            raise serializers.ValidationError(_("Give exactly one of user_id and external_user_id."))
        return attrs


class AccountOutput(ModelSerializer):
    user_id = serializers.UUIDField()
    balance = serializers.SerializerMethodField(help_text=(
        "What this tenant may move out of the account, in cents: the money its own operations brought in, less what "
        "they took out (never more than the account holds). Other tenants' money in the account is not shown."))

    class Meta:
        model = BillingAccount
        fields = ["id", "user_id", "balance", "currency", "created_at", "updated_at"]

    def get_balance(self, obj: BillingAccount) -> int:
        return tenancy.available_to_tenant(account=obj, tenant_id=self.context["tenant_id"])


class LedgerEntryOutput(ModelSerializer):
    account_id = serializers.UUIDField()
    corrects_id = serializers.UUIDField(allow_null=True)
    balance_after = serializers.IntegerField(source="tenant_balance_after", help_text=(
        "This tenant's funds in the account after the entry, in cents."))

    class Meta:
        model = LedgerEntry
        fields = ["id", "account_id", "type", "amount", "balance_after", "description", "reference_id",
                  "corrects_id", "created_at"]


class RefundInput(Serializer):
    payment_intent_id = serializers.UUIDField(required=False, help_text="The confirmed payment to refund.")
    entry_id = serializers.UUIDField(required=False, help_text="Or the payment's credit entry in the ledger.")
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, required=False,
                                help_text="Integer cents; all that is left of the payment when omitted.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("payment_intent_id" in attrs) == ("entry_id" in attrs):
            raise serializers.ValidationError(_("Give exactly one of payment_intent_id and entry_id."))
        return attrs


class RefundOutput(LedgerEntryOutput):
    payment_intent_id = serializers.SerializerMethodField()
    remaining = serializers.SerializerMethodField(help_text="Cents of the payment still refundable.")

    class Meta(LedgerEntryOutput.Meta):
        fields = [*LedgerEntryOutput.Meta.fields, "payment_intent_id", "remaining"]

    def get_payment_intent_id(self, obj: LedgerEntry) -> str | None:
        intent = PaymentIntent.objects.filter(credit_entry_id=obj.corrects_id).values_list("pk", flat=True).first()
        return str(intent) if intent else None

    def get_remaining(self, obj: LedgerEntry) -> int:
        return refunds.refundable_left(LedgerEntry.objects.get(pk=obj.corrects_id))


class PaymentIntentInput(Serializer):
    account_id = serializers.UUIDField()
    amount = Amount
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False,
                                      help_text="ISO 4217; the account's currency (BRL) when omitted.")


class PaymentIntentOutput(ModelSerializer):
    account_id = serializers.UUIDField()
    provider_intent_id = serializers.CharField(source="stripe_intent_id")
    client_secret = serializers.SerializerMethodField(
        help_text="Only in the creation response: for the client's confirmation (Stripe.js). Never stored.")

    class Meta:
        model = PaymentIntent
        fields = ["id", "account_id", "amount", "currency", "status", "provider", "provider_intent_id",
                  "client_secret", "failure_reason", "disputed_amount", "created_at", "confirmed_at"]

    def get_client_secret(self, obj: PaymentIntent) -> str | None:
        return self.context.get("client_secret")


class PayoutInput(Serializer):
    account_id = serializers.UUIDField()
    amount = Amount
    destination = serializers.JSONField(help_text=(
        'A PIX key {"type": "pix", "key": "…", "key_type": "cpf|cnpj|email|phone|random" (optional)} or a bank '
        'account {"type": "bank_account", "bank_code", "branch", "account_number", "account_type", '
        '"holder_document"}.'))


class PayoutOutput(ModelSerializer):
    account_id = serializers.UUIDField()
    destination = serializers.SerializerMethodField(help_text="Masked.")

    class Meta:
        model = Payout
        fields = ["id", "account_id", "amount", "status", "approval", "destination_type", "destination",
                  "failure_reason", "created_at", "sent_at"]

    def get_destination(self, obj: Payout) -> str:
        return mask(obj.destination)


class SubscriptionInput(Serializer):
    account_id = serializers.UUIDField()
    plan_id = serializers.CharField(max_length=128)
    amount = Amount
    interval = serializers.ChoiceField(choices=Subscription.Interval.choices)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)
    payment_method = serializers.CharField(required=False, max_length=255, help_text=(
        "Stripe payment method (pm_…) collected by Stripe.js; required when Stripe is the provider."))


class SubscriptionOutput(ModelSerializer):
    account_id = serializers.UUIDField()
    app_id = serializers.UUIDField(allow_null=True)
    provider_subscription_id = serializers.CharField(source="stripe_subscription_id")

    class Meta:
        model = Subscription
        fields = ["id", "account_id", "app_id", "plan_id", "status", "amount", "currency", "interval", "provider",
                  "provider_subscription_id", "current_period_end", "canceled_at", "created_at"]


class TransferInput(Serializer):
    from_account_id = serializers.UUIDField(help_text="The account debited: of a person proven to this app.")
    to_account_id = serializers.UUIDField(help_text="The account credited: of a person proven to this app.")
    amount = Amount
    description = serializers.CharField(required=False, allow_blank=True, max_length=ledger.MAX_DESCRIPTION,
                                        default="", trim_whitespace=False)
    reference_id = serializers.CharField(required=False, allow_blank=True, max_length=ledger.MAX_REFERENCE,
                                         default="", trim_whitespace=False,
                                         help_text="Carried by both entries; transfer:<uuid> when omitted.")


class TransfersInput(Serializer):
    transfers = TransferInput(many=True, allow_empty=False, max_length=ledger.MAX_TRANSFERS, help_text=(
        f"1 to {ledger.MAX_TRANSFERS} transfers, applied in this order, all or none."))


class AppliedTransferOutput(Serializer):
    debit = LedgerEntryOutput(help_text="The entry on the source account.")
    credit = LedgerEntryOutput(help_text="The entry on the target account.")


class TransferBalanceOutput(Serializer):
    account_id = serializers.UUIDField()
    balance = serializers.IntegerField(help_text=(
        "What this tenant may move out of the account after the batch, in cents (its funds there, never more than "
        "the account holds), as AccountOutput.balance."))


class TransfersOutput(Serializer):
    transfers = AppliedTransferOutput(many=True)
    balances = TransferBalanceOutput(many=True, help_text="One per account the batch touched.")


class SubscriptionListQuery(Serializer):
    account_id = serializers.UUIDField()


WebhookOutput = inline_serializer("StripeWebhookReceipt", fields={
    "received": serializers.BooleanField(),
    "event_id": serializers.CharField(),
    "outcome": serializers.CharField(help_text="applied, ignored, or duplicate (already applied)."),
})


# --- views --------------------------------------------------------------------------------------------------------

class BillingView(APIView):
    permission_classes = [BillingScope]

    @property
    def tenant_id(self):
        return self.request.user.tenant_id

    def account(self, account_id) -> BillingAccount:
        return tenancy.account_for_app(app=self.request.user.app, account_id=account_id)

    def account_data(self, account: BillingAccount) -> dict[str, Any]:
        return AccountOutput(account, context={"tenant_id": self.tenant_id}).data


class AccountsView(BillingView):
    @extend_schema(operation_id="billing_account_open", request=AccountOpenInput,
                   responses={200: AccountOutput, 201: AccountOutput, **error_responses(400, 401, 403, 404)},
                   description="Open the user's billing account, or return the one that exists (200).")
    def post(self, request):
        data = AccountOpenInput(data=request.data)
        data.is_valid(raise_exception=True)
        if "user_id" in data.validated_data:
            user = tenancy.person_for_app(app=request.user.app, user_id=data.validated_data["user_id"])
        else:
            user = request.user.proven_app_user(data.validated_data["external_user_id"]).user
        account, created = account_open(user=user)
        return Response(self.account_data(account), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AccountDetailView(BillingView):
    @extend_schema(operation_id="billing_account_get", responses={200: AccountOutput,
                                                                  **error_responses(401, 403, 404)})
    def get(self, request, account_id):
        return Response(self.account_data(self.account(account_id)))


class LedgerPagination(CursorPagination):
    # The cursor carries the first field only: not the account's sequence, whose gaps would tell a tenant how much
    # other tenants do with the account (the sequence only breaks ties of one timestamp).
    ordering = ("-created_at", "-sequence")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AccountLedgerView(BillingView):
    pagination_class = LedgerPagination

    @extend_schema(operation_id="billing_account_ledger", responses={200: LedgerEntryOutput(many=True),
                                                                     **error_responses(401, 403, 404)},
                   description="The entries of this tenant's own operations on the account (payments through its "
                               "apps, its payouts, ad spend, refunds…), newest first, with cursor pagination "
                               "(next / previous).")
    def get(self, request, account_id):
        account = self.account(account_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(tenancy.ledger_for_app(app=request.user.app, account=account), request,
                                           view=self)
        return paginator.get_paginated_response(LedgerEntryOutput(page, many=True).data)


def _restore_client_secret(body: dict[str, Any]) -> dict[str, Any]:
    intent = PaymentIntent.objects.get(pk=body["id"])
    return {**body, "client_secret": payments.payment_intent_client_secret(intent)}


class PaymentIntentsView(BillingView):
    @extend_schema(operation_id="billing_payment_intent_create", request=PaymentIntentInput,
                   parameters=[IDEMPOTENCY_PARAMETER],
                   responses={201: PaymentIntentOutput, **error_responses(400, 401, 403, 404, 409, 423, 502)},
                   description="Create a payment intent with the provider: status pending and the provider's "
                               "client secret. The ledger is credited when the provider confirms it.")
    @idempotent(stored=lambda body: {**body, "client_secret": None}, replayed=_restore_client_secret)
    def post(self, request):
        data = PaymentIntentInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = self.account(data.validated_data["account_id"])
        intent, secret = payments.payment_intent_create(
            account_id=account.pk, amount=data.validated_data["amount"],
            currency=data.validated_data.get("currency") or account.currency,
            idempotency_key=request.headers[HEADER], app_id=request.user.app_id)
        return Response(PaymentIntentOutput(intent, context={"client_secret": secret}).data,
                        status=status.HTTP_201_CREATED)


class PaymentIntentDetailView(BillingView):
    @extend_schema(operation_id="billing_payment_intent_get", responses={200: PaymentIntentOutput,
                                                                         **error_responses(401, 403, 404)})
    def get(self, request, intent_id):
        intent = tenancy.payment_intent_for_app(app=request.user.app, intent_id=intent_id)
        return Response(PaymentIntentOutput(intent).data)


class PayoutsView(BillingView):
    @extend_schema(operation_id="billing_payout_create", request=PayoutInput, parameters=[IDEMPOTENCY_PARAMETER],
                   responses={201: PayoutOutput, **error_responses(400, 401, 403, 404, 409, 423)},
                   description="Hold the amount (a ledger debit) and send it by a job; above the approval "
                               "threshold the payout waits (approval awaiting). A failed payout is credited back.")
    @idempotent()
    def post(self, request):
        data = PayoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = self.account(data.validated_data["account_id"])
        payout = payouts.payout_request(account_id=account.pk, amount=data.validated_data["amount"],
                                        destination=data.validated_data["destination"], app_id=request.user.app_id,
                                        idempotency_key=request.headers[HEADER])
        return Response(PayoutOutput(payout).data, status=status.HTTP_201_CREATED)


class PayoutDetailView(BillingView):
    @extend_schema(operation_id="billing_payout_get", responses={200: PayoutOutput, **error_responses(401, 403, 404)})
    def get(self, request, payout_id):
        payout = tenancy.payout_for_app(app=request.user.app, payout_id=payout_id)
        return Response(PayoutOutput(payout).data)


class SubscriptionsView(BillingView):
    pagination_class = Pagination

    @extend_schema(operation_id="billing_subscription_list", parameters=[SubscriptionListQuery],
                   responses={200: SubscriptionOutput(many=True), **error_responses(400, 401, 403, 404)})
    def get(self, request):
        query = SubscriptionListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        account = self.account(query.validated_data["account_id"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(tenancy.subscriptions_for_app(app=request.user.app, account=account),
                                           request, view=self)
        return paginator.get_paginated_response(SubscriptionOutput(page, many=True).data)

    @extend_schema(operation_id="billing_subscription_create", request=SubscriptionInput,
                   parameters=[IDEMPOTENCY_PARAMETER],
                   responses={201: SubscriptionOutput, **error_responses(400, 401, 403, 404, 409, 423, 502)})
    @idempotent()
    def post(self, request):
        data = SubscriptionInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = self.account(data.validated_data["account_id"])
        subscription = subscriptions.subscription_create(
            account_id=account.pk, plan_id=data.validated_data["plan_id"], amount=data.validated_data["amount"],
            interval=data.validated_data["interval"], currency=data.validated_data.get("currency"),
            app_id=request.user.app_id, payment_method=data.validated_data.get("payment_method", ""),
            idempotency_key=request.headers[HEADER])
        return Response(SubscriptionOutput(subscription).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailView(BillingView):
    @extend_schema(operation_id="billing_subscription_get", responses={200: SubscriptionOutput,
                                                                       **error_responses(401, 403, 404)})
    def get(self, request, subscription_id):
        subscription = tenancy.subscription_for_app(app=request.user.app, subscription_id=subscription_id)
        return Response(SubscriptionOutput(subscription).data)


class SubscriptionCancelView(BillingView):
    @extend_schema(operation_id="billing_subscription_cancel", request=None,
                   responses={200: SubscriptionOutput, **error_responses(401, 403, 404, 502)},
                   description="Cancel now (with the provider too). Canceling again returns the canceled "
                               "subscription.")
    def post(self, request, subscription_id):
        subscription = tenancy.subscription_for_app(app=request.user.app, subscription_id=subscription_id)
        subscription = subscriptions.subscription_cancel(subscription_id=subscription.pk,
                                                         reason=f"canceled by app {request.user.app.slug}")
        return Response(SubscriptionOutput(subscription).data)


class RefundsView(BillingView):
    @extend_schema(operation_id="billing_refund_create", request=RefundInput, parameters=[IDEMPOTENCY_PARAMETER],
                   responses={201: RefundOutput, **error_responses(400, 401, 403, 404, 409, 423)},
                   description="Refund (part of) a confirmed payment one of this tenant's apps received: a debit "
                               "that corrects the payment's credit, within what is left of the payment and the "
                               "tenant's funds in the account. Only payments are refundable (400 "
                               "entry_not_refundable for holds, spends, payouts, corrections…).")
    @idempotent()
    def post(self, request):
        data = RefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        app = request.user.app
        if "payment_intent_id" in data.validated_data:
            intent = tenancy.payment_intent_for_app(app=app, intent_id=data.validated_data["payment_intent_id"])
            if intent.credit_entry_id is None:
                raise InvalidInput(_("This payment has not been confirmed: there is nothing to refund."),
                                   code=billing_errors.ENTRY_NOT_REFUNDABLE,
                                   fields={"payment_intent_id": [_("Not confirmed.")]})
            entry_id = intent.credit_entry_id
        else:
            entry_id = tenancy.ledger_entry_for_app(app=app, entry_id=data.validated_data["entry_id"]).pk
        refund = refunds.refund_create(entry_id=entry_id, amount=data.validated_data.get("amount"),
                                       tenant_id=self.tenant_id, reason=data.validated_data["reason"],
                                       actor_id=app.pk, actor_type="app")
        return Response(RefundOutput(refund).data, status=status.HTTP_201_CREATED)


class TransfersView(BillingView):
    @extend_schema(operation_id="billing_transfer_create", request=TransfersInput, parameters=[IDEMPOTENCY_PARAMETER],
                   responses={201: TransfersOutput, **error_responses(400, 401, 403, 404, 409, 423)},
                   description="Move this tenant's funds between accounts of persons proven to this app: each "
                               "transfer is a debit on the source, within the tenant's funds there, and a credit "
                               "on the target, which become the tenant's funds there. The batch is applied in one "
                               "transaction, all or none: a refusal (insufficient_funds, balance_limit_exceeded, "
                               "currency_mismatch, same_account, user_inactive) writes nothing and names the "
                               "transfer by its index (error.transfer). An account not proven to this app answers "
                               "404 account_not_found.")
    @idempotent()
    def post(self, request):
        data = TransfersInput(data=request.data)
        data.is_valid(raise_exception=True)
        items = data.validated_data["transfers"]
        tenancy.accounts_for_app(app=request.user.app, account_ids=[
            account_id for item in items for account_id in (item["from_account_id"], item["to_account_id"])])
        batch = transfers.transfers_apply(transfers=[ledger.Transfer(**item) for item in items],
                                          tenant_id=self.tenant_id)
        return Response(TransfersOutput(batch).data, status=status.HTTP_201_CREATED)


class StripeWebhookView(APIView):
    """Stripe's events. No app credentials: the ``Stripe-Signature`` header is the authentication."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    reads_raw_body = True  # not parsed before the signature is checked (core.api.read_bodies_before_views)

    @extend_schema(operation_id="billing_stripe_webhook", request=OpenApiTypes.OBJECT,
                   parameters=[OpenApiParameter("Stripe-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                required=True, description="t=<timestamp>,v1=<HMAC-SHA256>")],
                   responses={200: WebhookOutput, 400: OpenApiResponse(ErrorSerializer, description=(
                       "invalid_signature (missing, wrong, or older than the tolerance) or invalid_event; "
                       "nothing is written.")),
                       500: OpenApiResponse(ErrorSerializer, description="webhook_processing_failed: recorded, "
                                                                         "retried on the next delivery.")})
    def post(self, request):
        event = stripe_client.webhook_event(request.body, request.headers.get("Stripe-Signature"))
        row = webhook_process(event)
        outcome = "duplicate" if row.duplicate else row.outcome
        return Response({"received": True, "event_id": row.event_id, "outcome": outcome})
