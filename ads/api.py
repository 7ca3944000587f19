"""The ads REST API (scope ``ads``), mounted at /api/v1/ads/.

Every object is read and changed only within the calling application's tenant: another tenant's ids answer 404.
Errors (one JSON shape): 400 invalid input, 401/403 credentials and scope, 404 unknown or foreign ids, 409 a
refusal by the current state (``campaign_not_active``, ``budget_exhausted``, ``budget_disputed``,
``tenant_daily_limit``, ``tenant_campaign_limit``, ``insufficient_funds``, ``ad_account_suspended``,
``campaign_state_conflict``, ``amount_below_spent``, ``budget_closed``, idempotency conflicts), 423
``kill_switch_active``.
"""
from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ads import selectors
from ads.models import AdAccount, AdBudget, AdCampaign, AdSpendEvent
from ads.services import (
    ad_account_create,
    budget_create,
    budget_set_amount,
    campaign_activate,
    campaign_create,
    campaign_pause,
    campaign_spend,
)
from billing.idempotency import HEADER as IDEMPOTENCY_HEADER
from billing.idempotency import default_scope, idempotent
from billing.models import MAX_AMOUNT
from core.api import ModelSerializer, Serializer, StrictIntegerField
from core.errors import InvalidInput, ServiceError
from identity.api.common import ErrorSerializer
from identity.permissions import scope_required

_ERRORS = {
    400: "Invalid input (validation_error, invalid_amount, idempotency_key_required…).",
    401: "Missing or invalid app credentials.",
    403: "The credential lacks the ads scope (scope_required), or the caller is not an application.",
    404: "Not found, or not in the caller's tenant.",
    409: "Refused by the current state; the code says why (budget_exhausted, tenant_daily_limit, "
         "status_locked_by_staff: a pause or a total staff set in the console, …).",
    423: "kill_switch_active: the ads, all or billing kill switch, or the tenant's own.",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: OpenApiResponse(ErrorSerializer, description=_ERRORS[s]) for s in statuses}


def _cents(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, **kwargs)


class AdsView(APIView):
    permission_classes = [scope_required("ads")]

    @property
    def tenant_id(self):
        return self.request.user.tenant_id


class AdsListView(generics.ListAPIView, AdsView):
    filters: dict[str, tuple[str, list[str] | None]] = {}

    def filtered(self, queryset):
        """Apply the query-string filters this view declares; unknown values are a 400, not an empty page."""
        for param, (lookup, choices) in self.filters.items():
            value = self.request.query_params.get(param)
            if value is None or value == "":
                continue
            if choices is not None and value not in choices:
                raise InvalidInput(fields={param: [_("Must be one of: %(v)s.") % {"v": ", ".join(choices)}]})
            if choices is None and selectors.parse_uuid(value) is None:
                raise InvalidInput(fields={param: [_("Must be a UUID.")]})
            queryset = queryset.filter(**{lookup: value})
        return queryset


def _filter_params(view_filters: dict[str, tuple[str, list[str] | None]]) -> list[OpenApiParameter]:
    return [OpenApiParameter(name, OpenApiTypes.UUID if choices is None else OpenApiTypes.STR, enum=choices,
                             required=False) for name, (_lookup, choices) in view_filters.items()]


# --- accounts -------------------------------------------------------------------------------------------------


class AdAccountOut(ModelSerializer):
    class Meta:
        model = AdAccount
        fields = ["id", "tenant_id", "user_id", "balance_account_id", "name", "status", "created_at"]


class AdAccountIn(Serializer):
    name = serializers.CharField(max_length=200)
    user_id = serializers.UUIDField(required=False, allow_null=True, default=None,
                                    help_text="A user of the tenant (the owner, or a user linked to one of its apps).")
    external_user_id = serializers.CharField(max_length=255, required=False, allow_blank=True, default="",
                                             help_text="Or the calling app's own id for the user.")

    def validate(self, attrs):
        if bool(attrs["user_id"]) == bool(attrs["external_user_id"]):
            raise serializers.ValidationError({"user_id": [_("Give either user_id or external_user_id.")]})
        return attrs


class AdAccountsView(AdsListView):
    serializer_class = AdAccountOut
    filters = {"status": ("status", AdAccount.Status.values)}

    def get_queryset(self):
        return self.filtered(selectors.ad_accounts_for_tenant(tenant_id=self.tenant_id))

    @extend_schema(tags=["ads"], parameters=_filter_params(filters),
                   responses={200: AdAccountOut(many=True), **errors(400, 401, 403)},
                   summary="The tenant's ad accounts")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["ads"], request=AdAccountIn, responses={201: AdAccountOut, **errors(400, 401, 403, 404)},
                   summary="Open an ad account on a user's billing account")
    def post(self, request):
        data = AdAccountIn(data=request.data)
        data.is_valid(raise_exception=True)
        user_id = data.validated_data["user_id"]
        if not user_id:
            user_id = request.user.proven_app_user(data.validated_data["external_user_id"]).user_id
        account = ad_account_create(tenant_id=self.tenant_id, user_id=user_id, name=data.validated_data["name"],
                                    app=request.user.app)
        return Response(AdAccountOut(account).data, status=status.HTTP_201_CREATED)


class AdAccountDetailView(AdsView):
    @extend_schema(tags=["ads"], responses={200: AdAccountOut, **errors(401, 403, 404)}, summary="One ad account")
    def get(self, request, account_id):
        return Response(AdAccountOut(selectors.ad_account_get(account_id=account_id, tenant_id=self.tenant_id)).data)


# --- budgets --------------------------------------------------------------------------------------------------


class AdBudgetOut(ModelSerializer):
    amount_remaining = serializers.IntegerField(source="remaining", read_only=True)
    current = serializers.BooleanField(source="is_current", read_only=True,
                                       help_text="False once the next period's budget has replaced this one.")

    class Meta:
        model = AdBudget
        fields = ["id", "ad_account_id", "name", "amount_total", "amount_spent", "amount_remaining", "period",
                  "status", "period_start", "period_end", "current", "previous_budget_id", "closed_at",
                  "created_at"]


class AdBudgetIn(Serializer):
    ad_account_id = serializers.UUIDField()
    amount_total = _cents(help_text="Cents this budget may spend per period.")
    period = serializers.ChoiceField(choices=AdBudget.Period.choices, default=AdBudget.Period.LIFETIME)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class AdBudgetAmountIn(Serializer):
    amount_total = _cents(help_text="The new total; never below what the budget already spent.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AdBudgetsView(AdsListView):
    serializer_class = AdBudgetOut
    filters = {"ad_account_id": ("ad_account_id", None), "status": ("status", AdBudget.Status.values),
               "period": ("period", AdBudget.Period.values)}

    def get_queryset(self):
        queryset = self.filtered(selectors.budgets_for_tenant(tenant_id=self.tenant_id))
        current = self.request.query_params.get("current")
        if current not in (None, "", "true", "false"):
            raise InvalidInput(fields={"current": [_("Must be true or false.")]})
        if current:
            queryset = queryset.filter(closed_at__isnull=current == "true")
        return queryset

    @extend_schema(tags=["ads"], parameters=[*_filter_params(filters),
                                             OpenApiParameter("current", OpenApiTypes.BOOL, required=False)],
                   responses={200: AdBudgetOut(many=True), **errors(400, 401, 403)},
                   summary="The tenant's budgets (every period's row; current=true for the running ones)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["ads"], request=AdBudgetIn, responses={201: AdBudgetOut, **errors(400, 401, 403, 404)},
                   summary="Create a budget (daily and monthly ones open a new period row each day or month)")
    def post(self, request):
        data = AdBudgetIn(data=request.data)
        data.is_valid(raise_exception=True)
        budget = budget_create(tenant_id=self.tenant_id, **data.validated_data)
        return Response(AdBudgetOut(budget).data, status=status.HTTP_201_CREATED)


class AdBudgetDetailView(AdsView):
    @extend_schema(tags=["ads"], responses={200: AdBudgetOut, **errors(401, 403, 404)}, summary="One budget")
    def get(self, request, budget_id):
        return Response(AdBudgetOut(selectors.budget_get(budget_id=budget_id, tenant_id=self.tenant_id)).data)

    @extend_schema(tags=["ads"], request=AdBudgetAmountIn,
                   responses={200: AdBudgetOut, **errors(400, 401, 403, 404, 409, 423)},
                   summary="Raise or lower a budget's total (never below what it spent)")
    def patch(self, request, budget_id):
        data = AdBudgetAmountIn(data=request.data)
        data.is_valid(raise_exception=True)
        budget = budget_set_amount(budget_id=budget_id, tenant_id=self.tenant_id, **data.validated_data)
        return Response(AdBudgetOut(budget).data)


# --- campaigns ------------------------------------------------------------------------------------------------


class AdCampaignOut(ModelSerializer):
    budget_remaining = serializers.SerializerMethodField()

    class Meta:
        model = AdCampaign
        fields = ["id", "ad_account_id", "budget_id", "name", "objective", "status", "stop_reason", "total_spent",
                  "budget_remaining", "created_at", "updated_at"]

    def get_budget_remaining(self, campaign) -> int:
        return campaign.budget.remaining


class AdCampaignIn(Serializer):
    ad_account_id = serializers.UUIDField()
    budget_id = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    objective = serializers.ChoiceField(choices=AdCampaign.Objective.choices)


class ReasonIn(Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AdCampaignsView(AdsListView):
    serializer_class = AdCampaignOut
    filters = {"ad_account_id": ("ad_account_id", None), "budget_id": ("budget_id", None),
               "status": ("status", AdCampaign.Status.values)}

    def get_queryset(self):
        return self.filtered(selectors.campaigns_for_tenant(tenant_id=self.tenant_id))

    @extend_schema(tags=["ads"], parameters=_filter_params(filters),
                   responses={200: AdCampaignOut(many=True), **errors(400, 401, 403)},
                   summary="The tenant's campaigns")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["ads"], request=AdCampaignIn,
                   responses={201: AdCampaignOut, **errors(400, 401, 403, 404, 409)},
                   summary="Create a campaign (draft) on one of the account's current budgets")
    def post(self, request):
        data = AdCampaignIn(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_create(tenant_id=self.tenant_id, **data.validated_data)
        return Response(AdCampaignOut(selectors.campaign_get(campaign_id=campaign.pk)).data,
                        status=status.HTTP_201_CREATED)


class AdCampaignDetailView(AdsView):
    @extend_schema(tags=["ads"], responses={200: AdCampaignOut, **errors(401, 403, 404)}, summary="One campaign")
    def get(self, request, campaign_id):
        return Response(AdCampaignOut(selectors.campaign_get(campaign_id=campaign_id, tenant_id=self.tenant_id)).data)


class AdCampaignActivateView(AdsView):
    @extend_schema(tags=["ads"], request=ReasonIn, responses={200: AdCampaignOut, **errors(400, 401, 403, 404, 409,
                                                                                             423)},
                   summary="Activate a draft or paused campaign")
    def post(self, request, campaign_id):
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_activate(campaign_id=campaign_id, tenant_id=self.tenant_id, **data.validated_data)
        return Response(AdCampaignOut(selectors.campaign_get(campaign_id=campaign.pk)).data)


class AdCampaignPauseView(AdsView):
    @extend_schema(tags=["ads"], request=ReasonIn, responses={200: AdCampaignOut, **errors(400, 401, 403, 404, 409)},
                   summary="Pause an active campaign (allowed even under a kill switch)")
    def post(self, request, campaign_id):
        data = ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_pause(campaign_id=campaign_id, tenant_id=self.tenant_id, **data.validated_data)
        return Response(AdCampaignOut(selectors.campaign_get(campaign_id=campaign.pk)).data)


class SpendIn(Serializer):
    amount = _cents(help_text="Cents to debit from the ad account's billing account.")
    quantity = StrictIntegerField(min_value=1, max_value=10**12, help_text="E.g. 1000 impressions.")
    unit = serializers.ChoiceField(choices=AdSpendEvent.Unit.choices)


class SpendOut(Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=AdSpendEvent.Status.choices)
    ledger_entry_id = serializers.UUIDField()
    budget_remaining = serializers.IntegerField()
    campaign_id = serializers.UUIDField()
    budget_id = serializers.UUIDField()
    amount = serializers.IntegerField()
    quantity = serializers.IntegerField()
    unit = serializers.ChoiceField(choices=AdSpendEvent.Unit.choices)
    created_at = serializers.DateTimeField()


class AdCampaignSpendView(AdsView):
    @extend_schema(
        tags=["ads"], request=SpendIn,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                                     description="At most 255 visible ASCII characters. The same key and body "
                                                 "replay the first answer; another body answers 409.")],
        responses={201: SpendOut, **errors(400, 401, 403, 404, 409, 423)},
        summary="Spend on a campaign: debits the ledger and the budget atomically, or refuses with a reason",
        description="Refusals (409, or 423 for kill switches) are recorded as failed spend events with the reason "
                    "as their code.",
    )
    @idempotent()
    def post(self, request, campaign_id):
        data = SpendIn(data=request.data)
        data.is_valid(raise_exception=True)
        key = f"{default_scope(request)}:{request.headers[IDEMPOTENCY_HEADER]}"
        try:
            outcome = campaign_spend(campaign_id=campaign_id, tenant_id=self.tenant_id, idempotency_key=key,
                                     app=request.user.app, **data.validated_data)
        except ServiceError as exc:
            # Answered, not raised: raising would unwind this request's transaction and with it the failed spend
            # event that the service wrote after rolling the spend back.
            return self.handle_exception(exc)
        return Response(SpendOut(outcome.as_dict()).data, status=status.HTTP_201_CREATED)


class AdSpendEventOut(ModelSerializer):
    class Meta:
        model = AdSpendEvent
        fields = ["id", "campaign_id", "budget_id", "amount", "quantity", "unit", "status", "ledger_entry_id",
                  "failure_reason", "created_at"]


class AdCampaignSpendEventsView(AdsListView):
    serializer_class = AdSpendEventOut
    filters = {"status": ("status", AdSpendEvent.Status.values)}

    def get_queryset(self):
        campaign = selectors.campaign_get(campaign_id=self.kwargs["campaign_id"], tenant_id=self.tenant_id)
        return self.filtered(selectors.spend_events_for_campaign(campaign=campaign))

    @extend_schema(tags=["ads"], parameters=_filter_params(filters),
                   responses={200: AdSpendEventOut(many=True), **errors(400, 401, 403, 404)},
                   summary="A campaign's spend events, applied and failed, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AdLimitsOut(Serializer):
    tenant_id = serializers.UUIDField()
    max_spend_per_day = serializers.IntegerField(allow_null=True)
    max_spend_per_campaign = serializers.IntegerField(allow_null=True)
    kill_switch = serializers.BooleanField()
    spent_today = serializers.IntegerField()


class AdLimitsView(AdsView):
    @extend_schema(tags=["ads"], responses={200: AdLimitsOut, **errors(401, 403)},
                   summary="The tenant's ad governance limits (set in the console) and today's spend")
    def get(self, request):
        limits = selectors.limits_for_tenant(tenant_id=self.tenant_id)
        return Response(AdLimitsOut({
            "tenant_id": self.tenant_id,
            "max_spend_per_day": limits.max_spend_per_day if limits else None,
            "max_spend_per_campaign": limits.max_spend_per_campaign if limits else None,
            "kill_switch": bool(limits and limits.kill_switch),
            "spent_today": selectors.tenant_spent_today(tenant_id=self.tenant_id),
        }).data)
