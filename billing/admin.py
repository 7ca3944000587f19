"""The finance officers' console: accounts, the ledger (read-only), intents, payouts, subscriptions, webhooks.

Nothing is edited in place. Every change is an action or a form that calls a service: manual adjustments (through
the posting service, justified and audited), marking a local intent succeeded (through the webhook code path),
approving, rejecting or failing payouts, canceling subscriptions, retrying failed webhooks. The ledger exports as
CSV with the changelist's filters, streamed row by row.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.context import client_ip
from audit.services import audit_record
from billing import events
from billing.destinations import mask
from billing.models import (
    MAX_AMOUNT,
    BillingAccount,
    IdempotencyKey,
    LedgerEntry,
    PaymentIntent,
    Payout,
    ProcessedWebhook,
    Provider,
    Subscription,
)
from billing.services.ledger import MIN_JUSTIFICATION, ledger_adjust
from billing.services.payouts import APPROVAL_DOMAIN, payout_decide, payout_fail
from billing.services.refunds import refund_create
from billing.services.subscriptions import subscription_cancel
from billing.services.webhooks import payment_intent_local_succeed, webhook_retry
from core.admin import ReadOnlyAdmin, ReadOnlyHistoryAdmin, ReasonForm, confirm_action, money, reason_field
from core.errors import InvalidInput, ServiceError
from governance.models import ApprovalRequest
from infrastructure.services.jobs import job_enqueue


class AccountIdFilter(admin.SimpleListFilter):
    """``?account=<uuid>``: one account's rows (linked from the accounts list; too many accounts to list here)."""

    title = _("account")
    parameter_name = "account"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            return queryset.filter(account_id=value)
        except ValidationError:  # not a UUID: nothing matches
            return queryset.none()


class AdjustmentForm(forms.Form):
    type = forms.ChoiceField(label=_("type"), choices=LedgerEntry.Type.choices)
    amount = forms.IntegerField(label=_("amount (cents)"), min_value=1, max_value=MAX_AMOUNT)
    justification = forms.CharField(label=_("justification"), min_length=MIN_JUSTIFICATION, max_length=900,
                                    widget=forms.Textarea(attrs={"rows": 3}),
                                    help_text=_("Why this adjustment is right (at least 10 characters). It is kept "
                                                "in the audit log."))

    def clean_justification(self) -> str:
        value = self.cleaned_data["justification"].strip()
        if len(value) < MIN_JUSTIFICATION:
            raise forms.ValidationError(_("At least %(n)d characters.") % {"n": MIN_JUSTIFICATION})
        return value


class MoneyReasonForm(ReasonForm):
    """Why money moves: as long as a ledger adjustment's justification."""

    reason = reason_field(min_length=MIN_JUSTIFICATION, max_length=900)


class RefundForm(MoneyReasonForm):
    amount = forms.IntegerField(label=_("amount (cents)"), min_value=1, max_value=MAX_AMOUNT, required=False,
                                help_text=_("Empty: all that is left of each payment. A refund never exceeds what "
                                            "is left of the payment or its tenant's funds in the account."))


@admin.register(BillingAccount)
class BillingAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "balance_display", "currency", "last_sequence", "updated_at", "links")
    list_filter = ("currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=user__id", "user__username", "stripe_customer_id")
    list_select_related = ("user",)
    readonly_fields = ("id", "user", "balance_display", "currency", "last_sequence", "stripe_customer_id",
                       "created_at", "updated_at", "links")
    fields = readonly_fields
    ordering = ("-created_at",)

    @admin.display(description=_("balance"), ordering="balance")
    def balance_display(self, obj: BillingAccount) -> str:
        return money(obj.balance, obj.currency)

    @admin.display(description=_("ledger"))
    def links(self, obj: BillingAccount) -> str:
        ledger = reverse("admin:billing_ledgerentry_changelist") + f"?account={obj.pk}"
        adjust = reverse("admin:billing_billingaccount_adjust", args=[obj.pk])
        return format_html('<a href="{}">{}</a> · <a href="{}">{}</a>', ledger, gettext("entries"), adjust,
                           gettext("adjust"))

    def get_urls(self):
        return [path("<uuid:account_id>/adjust/", self.admin_site.admin_view(self.adjust_view),
                     name="billing_billingaccount_adjust"), *super().get_urls()]

    def adjust_view(self, request: HttpRequest, account_id):
        if not request.user.has_perm("billing.adjust_balance"):
            raise PermissionDenied
        account = get_object_or_404(BillingAccount.objects.select_related("user"), pk=account_id)
        form = AdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                entry = ledger_adjust(account_id=account.pk, type=form.cleaned_data["type"],
                                      amount=form.cleaned_data["amount"],
                                      justification=form.cleaned_data["justification"], actor=request.user)
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, gettext("Posted %(type)s of %(amount)s; the balance is now %(balance)s.")
                                  % {"type": entry.type, "amount": money(entry.amount, account.currency),
                                     "balance": money(entry.balance_after, account.currency)}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:billing_ledgerentry_changelist") + f"?account={account.pk}")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Adjust balance"),
                   "account": account, "balance": money(account.balance, account.currency), "form": form}
        return TemplateResponse(request, "admin/billing/adjust.html", context)


CSV_COLUMNS = ("entry_id", "account_id", "sequence", "created_at", "type", "amount", "balance_after",
               "reference_id", "corrects_entry_id", "description")


class _Echo:
    """A file-like object whose write returns the line, so csv.writer produces strings to stream."""

    def write(self, value: str) -> str:
        return value


def csv_rows(queryset: QuerySet[LedgerEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    rows = queryset.values_list("id", "account_id", "sequence", "created_at", "type", "amount", "balance_after",
                                "reference_id", "corrects_id", "description")
    for row in rows.iterator(chunk_size=2000):
        entry_id, account_id, sequence, created, kind, amount, after, reference, corrects, description = row
        yield writer.writerow([entry_id, account_id, sequence, created.isoformat(), kind, amount, after,
                               _safe(reference), corrects or "", _safe(description)])


def _safe(text: str) -> str:
    # A cell starting with = + - @ is a formula in spreadsheet programs: keep exported text inert.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "sequence", "type", "amount_display", "balance_after_display",
                    "reference_id", "description")
    list_filter = (AccountIdFilter, "type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=account__id", "reference_id", "description")
    date_hierarchy = "created_at"
    list_select_related = ("account",)
    ordering = ("-created_at",)
    readonly_fields = ("id", "account", "sequence", "type", "amount", "balance_after", "description", "reference_id",
                       "corrects", "created_at")
    fields = readonly_fields
    show_full_result_count = False  # counting a big ledger on every page is not worth it

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: LedgerEntry) -> str:
        return money(obj.amount if obj.type == LedgerEntry.Type.CREDIT else -obj.amount)

    @admin.display(description=_("balance after"), ordering="balance_after")
    def balance_after_display(self, obj: LedgerEntry) -> str:
        return money(obj.balance_after)

    def get_urls(self):
        return [path("export.csv", self.admin_site.admin_view(self.export_csv), name="billing_ledgerentry_export"),
                *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "can_export": request.user.has_perm("billing.export_ledger")}
        return super().changelist_view(request, extra_context)

    def export_csv(self, request: HttpRequest) -> StreamingHttpResponse | HttpResponseRedirect:
        """The changelist's rows (same filters and search) as CSV, streamed: memory stays flat for any size."""
        if not (request.user.has_perm("billing.export_ledger") and self.has_view_permission(request)):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:billing_ledgerentry_changelist") + "?e=1")
        queryset = changelist.get_queryset(request).order_by("account_id", "sequence")
        filters = dict(request.GET.items())
        audit_record(events.LEDGER_EXPORTED, action="export", target_type="ledger_entry",
                     metadata={"filters": filters}, actor_id=request.user.pk, actor_type="admin")
        response = StreamingHttpResponse(csv_rows(queryset), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="ledger-{stamp}.csv"'
        return response


def _run(modeladmin: admin.ModelAdmin, request, queryset, call, done: str) -> None:
    """Apply a service to each selected row; report successes and refusals."""
    ok = 0
    for obj in queryset:
        try:
            call(obj)
            ok += 1
        except ServiceError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, done % {"count": ok}, messages.SUCCESS)


@admin.register(PaymentIntent)
class PaymentIntentAdmin(ReadOnlyHistoryAdmin):
    list_display = ("id", "account", "amount_display", "status", "provider", "stripe_intent_id", "created_at",
                    "confirmed_at")
    list_filter = (AccountIdFilter, "status", "provider", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "stripe_intent_id", "=account__id", "idempotency_key", "dispute_id")
    list_select_related = ("account",)
    readonly_fields = ("id", "account", "app", "amount", "currency", "status", "provider", "stripe_intent_id",
                       "idempotency_key", "failure_reason", "credit_entry", "dispute_id", "disputed_amount",
                       "dispute_entry", "dispute_shortfall", "created_at", "updated_at", "confirmed_at")
    fields = readonly_fields
    actions = ("mark_local_succeeded", "refund", "sync_from_provider")

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: PaymentIntent) -> str:
        return money(obj.amount, obj.currency)

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("billing.refund_payment")

    @admin.action(description=_("Refund the selected payments"), permissions=["refund"])
    def refund(self, request, queryset):
        """The refund service that apps and agents use: only confirmed payments, at most what is left of each, and
        within its tenant's funds in the account (money already spent is not refunded twice)."""

        def one(intent: PaymentIntent, given: dict) -> None:
            if intent.credit_entry_id is None:
                raise InvalidInput(gettext("This payment has not been confirmed: there is nothing to refund."))
            refund_create(entry_id=intent.credit_entry_id, amount=given["amount"], reason=given["reason"],
                          actor_id=request.user.pk, actor_type="admin")

        return confirm_action(self, request, queryset, title=_("Refund payments"), submit_label=_("Refund payments"),
                              form_class=RefundForm, done=gettext("%(count)d payment(s) refunded."), apply=one)

    def has_mark_local_succeeded_permission(self, request) -> bool:
        return request.user.has_perm("billing.mark_local_succeeded")

    @admin.action(description=_("Mark local intent succeeded (as the provider's webhook would)"),
                  permissions=["mark_local_succeeded"])
    def mark_local_succeeded(self, request, queryset):
        _run(self, request, queryset, lambda intent: payment_intent_local_succeed(intent=intent),
             gettext("%(count)d intent(s) confirmed and credited."))

    @admin.action(description=_("Sync from the provider (queue stripe_sync)"), permissions=["view"])
    def sync_from_provider(self, request, queryset):
        count = 0
        for intent in queryset.filter(provider=Provider.STRIPE):
            job_enqueue("stripe_sync", payload={"intent_id": str(intent.pk)})
            count += 1
        self.message_user(request, gettext("%(count)d sync job(s) queued.") % {"count": count}, messages.INFO)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyHistoryAdmin):
    """Payouts above the threshold are decided on their governance approval request: "approve" and "reject" here
    record the officer's decision there (their decision authority, the quorum and the hashed decision rows apply),
    and the payout follows when the request is decided."""

    list_display = ("id", "account", "amount_display", "status", "approval", "destination_masked", "created_at",
                    "sent_at")
    list_filter = (AccountIdFilter, "status", "approval", "destination_type",
                   ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=account__id", "provider_reference")
    list_select_related = ("account",)
    readonly_fields = ("id", "account", "app", "amount", "status", "approval", "approval_request",
                       "destination_type", "destination_masked", "hold_entry", "reversal_entry", "decided_by",
                       "decided_at", "decision_reason", "provider_reference", "failure_reason", "created_at",
                       "sent_at")
    fields = readonly_fields
    actions = ("approve", "reject", "fail")

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Payout) -> str:
        return money(obj.amount)

    @admin.display(description=_("destination"))
    def destination_masked(self, obj: Payout) -> str:
        return mask(obj.destination)

    @admin.display(description=_("approval request"))
    def approval_request(self, obj: Payout) -> str:
        request = ApprovalRequest.objects.filter(domain=APPROVAL_DOMAIN, callback=APPROVAL_DOMAIN,
                                                 reference=str(obj.pk)).first()
        if request is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:governance_approvalrequest_change",
                                                          args=[request.pk]), request)

    def has_approve_payout_permission(self, request) -> bool:
        return request.user.has_perm("billing.approve_payout")

    def _decide(self, request, queryset, *, decision: str, title):
        def apply(payout, data):
            return payout_decide(payout, user=request.user, decision=decision, justification=data["reason"],
                                 ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""))

        return confirm_action(self, request, queryset, title=title, submit_label=title, form_class=MoneyReasonForm,
                              apply=apply,
                              done=gettext("%(count)d decision(s) recorded on the payouts' approval requests: a "
                                           "payout is sent, or credited back, as soon as its request is decided."))

    @admin.action(description=_("Approve selected payouts (a decision on their approval requests)"),
                  permissions=["approve_payout"])
    def approve(self, request, queryset):
        return self._decide(request, queryset, decision="approved", title=_("Approve payouts"))

    @admin.action(description=_("Reject selected payouts (a decision on their approval requests)"),
                  permissions=["approve_payout"])
    def reject(self, request, queryset):
        return self._decide(request, queryset, decision="rejected", title=_("Reject payouts"))

    @admin.action(description=_("Fail selected pending payouts (the hold is credited back)"),
                  permissions=["approve_payout"])
    def fail(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Fail payouts"), submit_label=_("Fail payouts"),
            form_class=MoneyReasonForm, done=gettext("%(count)d payout(s) failed and credited back."),
            apply=lambda payout, data: payout_fail(payout, actor=request.user, reason=data["reason"]))


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyHistoryAdmin):
    list_display = ("id", "account", "plan_id", "amount", "interval", "status", "provider", "current_period_end",
                    "created_at")
    list_filter = (AccountIdFilter, "status", "interval", "provider", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=account__id", "plan_id", "stripe_subscription_id")
    list_select_related = ("account",)
    readonly_fields = ("id", "account", "app", "plan_id", "status", "amount", "currency", "interval", "provider",
                       "stripe_subscription_id", "current_period_end", "provider_event_at", "canceled_at",
                       "created_at", "updated_at")
    fields = readonly_fields
    actions = ("cancel",)

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_subscription")

    @admin.action(description=_("Cancel selected subscriptions"), permissions=["cancel"])
    def cancel(self, request, queryset):
        _run(self, request, queryset,
             lambda s: subscription_cancel(subscription_id=s.pk, reason=f"canceled in the console by {request.user}"),
             gettext("%(count)d subscription(s) canceled."))


@admin.register(ProcessedWebhook)
class ProcessedWebhookAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "success", "outcome", "attempts", "provider", "received_at",
                    "processed_at")
    list_filter = ("success", "outcome", "provider", "event_type", ("received_at", admin.DateFieldListFilter))
    search_fields = ("=event_id", "event_type", "detail")
    readonly_fields = ("event_id", "event_type", "success", "outcome", "detail", "attempts", "provider",
                       "received_at", "processed_at", "payload")
    fields = readonly_fields
    actions = ("retry",)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_processedwebhook")

    @admin.action(description=_("Apply failed events again"), permissions=["retry"])
    def retry(self, request, queryset):
        _run(self, request, queryset.filter(success=False), lambda row: webhook_retry(event_id=row.pk),
             gettext("%(count)d event(s) applied."))


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("scope", "key", "method", "path", "status", "response_status", "created_at", "expires_at")
    list_filter = ("status", "response_status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=scope", "=key", "path")
    readonly_fields = ("scope", "key", "request_hash", "method", "path", "status", "response_status",
                       "response_body", "created_at", "completed_at", "expires_at")
    fields = readonly_fields
